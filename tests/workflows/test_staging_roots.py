"""Let's Encrypt staging roots for staging stacks: the script, run for real, and its place in the deploy job.

The script downloads over real HTTPS (a loopback server with its own certificate stands in for
Let's Encrypt's website), checks with the real openssl, and the bundle it writes is then used by the
deploy job's smoke step and by the SmokeTest's check against an app whose certificate that
(locally generated) staging root signed.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import secrets
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from harness.actions_model import run_job, step_key
from harness.appserver import make_certificate, serve_app
from harness.project_files import stack_names
from harness.workflow_files import REPO_ROOT
from infra.helm_values import LETS_ENCRYPT_SERVERS
from stacks import settings

SCRIPT = REPO_ROOT / ".github" / "scripts" / "staging_roots.py"
BUNDLE_OUTPUT = "${{ steps.staging-roots.outputs.bundle }}"
VERSION = "v3.3.3"
# The runner's checkout, for the smoke step: the repository's files at the workspace root.
WORKSPACE_ENTRIES = (".venv", "app", "localenv", "tests", "pyproject.toml", ".github")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("staging_roots", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


staging_roots = _script()


# --- certificates made here with openssl ------------------------------------------------------------

# A request config without default extensions: each certificate gets exactly the ones a case names.
REQUEST_CONFIG = "[req]\ndistinguished_name = dn\n[dn]\n"


@dataclass(frozen=True)
class Certificate:
    """A PEM certificate and its key, on disk."""

    certfile: Path
    keyfile: Path

    @property
    def pem(self) -> bytes:
        return self.certfile.read_bytes()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _certificate(
    folder: Path, common_name: str, *, ca: bool = True, issuer: Certificate | None = None, host: str | None = None
) -> Certificate:
    """A certificate for `common_name` valid for a day, self-signed unless `issuer` signs it."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{len(list(folder.glob('*-cert.pem')))}"
    cert, key, config = Path(f"{stem}-cert.pem"), Path(f"{stem}-key.pem"), Path(f"{stem}.cnf")
    config.write_text(REQUEST_CONFIG, encoding="ascii")
    extensions = [f"basicConstraints=critical,CA:{'TRUE' if ca else 'FALSE'}"]
    extensions += [f"subjectAltName=IP:{host}"] if host else []
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    subject = ["-subj", f"/CN={common_name}", "-config", str(config)]
    if issuer is None:
        added = [arg for extension in extensions for arg in ("-addext", extension)]
        _openssl("req", "-x509", "-new", "-key", str(key), *subject, "-days", "1", *added, "-out", str(cert))
    else:
        request, extfile = Path(f"{stem}.csr"), Path(f"{stem}.ext")
        extfile.write_text("\n".join(extensions) + "\n", encoding="ascii")
        _openssl("req", "-new", "-key", str(key), *subject, "-out", str(request))
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(issuer.certfile), "-CAkey", str(issuer.keyfile),
            "-set_serial", str(secrets.randbits(63)), "-days", "1", "-extfile", str(extfile), "-out", str(cert),
        )  # fmt: skip
    return Certificate(cert, key)


def _ders(pem: str) -> list[bytes]:
    marker = "-----END CERTIFICATE-----"
    return [ssl.PEM_cert_to_DER_cert(part.strip() + "\n" + marker + "\n") for part in pem.split(marker) if part.strip()]


X1 = "(STAGING) Pretend Pear X1"
X2 = "(STAGING) Bogus Broccoli X2"


# --- a stand-in for Let's Encrypt's website over real HTTPS ---------------------------------------


@dataclass(frozen=True)
class Website:
    """Files served over HTTPS on loopback, and the CA file that makes its certificate trusted."""

    root: Path
    base_url: str
    trusted: Path


@pytest.fixture
def website(tmp_path: Path) -> Iterator[Website]:
    files = tmp_path / "site"
    (files / "certs" / "staging").mkdir(parents=True)
    tls = make_certificate(tmp_path / "tls")
    handler = functools.partial(_QuietHandler, directory=str(files))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.certfile, tls.keyfile)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield Website(files, f"https://127.0.0.1:{port}/certs/staging/", tls.certfile)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the base class's parameter name
        """No request log on the test's stderr."""


def _publish(site: Website, x1: bytes | None, x2: bytes | None) -> None:
    for name, content in zip(staging_roots.STAGING_ROOTS, (x1, x2), strict=True):
        if content is not None:
            (site.root / "certs" / "staging" / name).write_bytes(content)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Only what the runner gives the step; this machine's own CA variables must not leak in.
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _bundle(site: Website, tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    output, runner_temp = tmp_path / "github_output", tmp_path / "runner_temp"
    runner_temp.mkdir(exist_ok=True)
    env = {"GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(runner_temp), "SSL_CERT_FILE": str(site.trusted)}
    result = _run("bundle", "--base-url", site.base_url, env=env | extra)
    return result, runner_temp / staging_roots.BUNDLE_NAME, output


# --- the bundle ------------------------------------------------------------------------------------


def test_the_published_names_are_lets_encrypts_staging_roots_on_its_own_website() -> None:
    assert staging_roots.STAGING_ROOTS_URL == "https://letsencrypt.org/certs/staging/"
    assert staging_roots.STAGING_ROOTS == ("letsencrypt-stg-root-x1.pem", "letsencrypt-stg-root-x2.pem")


def test_staging_roots_are_downloaded_checked_and_bundled(website: Website, tmp_path: Path) -> None:
    x1, x2 = _certificate(tmp_path / "ca", X1), _certificate(tmp_path / "ca", X2)
    _publish(website, x1.pem, x2.pem)
    result, bundle, output = _bundle(website, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert output.read_text(encoding="utf-8") == f"bundle={bundle}\n"
    expected = [*_ders(x1.pem.decode()), *_ders(x2.pem.decode())]
    assert _ders(bundle.read_text(encoding="ascii")) == expected


@pytest.mark.parametrize(
    ("case", "x2", "message"),
    [
        ("not a CA", lambda d: _certificate(d, "(STAGING) Leafy Lettuce", ca=False).pem, "is not a CA certificate"),
        ("not staging", lambda d: _certificate(d, "ISRG Root X2").pem, "lacks '(STAGING)'"),
        (
            "signed by another root",
            lambda d: _certificate(d, X2, issuer=_certificate(d, "(STAGING) Other Root")).pem,
            "is not a valid self-signed root certificate (openssl verify:",
        ),
        ("an HTML page", lambda d: b"<html><body>Moved</body></html>", "holds 0 PEM certificates, not one"),
        ("two certificates", lambda d: _certificate(d, X2).pem + _certificate(d, X1).pem, "holds 2 PEM certificates"),
        ("broken PEM", lambda d: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "openssl can"),
        ("missing", lambda d: None, "failed with HTTP 404"),
    ],
)
def test_anything_but_a_self_signed_staging_ca_fails_with_one_clear_line_and_writes_nothing(
    website: Website, tmp_path: Path, case: str, x2: Any, message: str
) -> None:
    _publish(website, _certificate(tmp_path / "ca", X1).pem, x2(tmp_path / "ca"))
    result, bundle, output = _bundle(website, tmp_path)
    assert result.returncode == 1, case
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error title=Let's Encrypt staging roots::"), result.stdout
    assert staging_roots.STAGING_ROOTS[1] in lines[0] and message in lines[0], (case, lines[0])
    assert "Traceback" not in result.stderr
    assert not bundle.exists() and not output.exists(), "nothing half-applied"


def test_a_website_whose_certificate_is_not_trusted_is_refused(website: Website, tmp_path: Path) -> None:
    _publish(website, _certificate(tmp_path / "ca", X1).pem, _certificate(tmp_path / "ca", X2).pem)
    result, bundle, _ = _bundle(website, tmp_path, SSL_CERT_FILE=str(make_certificate(tmp_path / "other").certfile))
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stdout and "rerun the job" in result.stdout
    assert not bundle.exists()


def test_only_https_is_accepted(tmp_path: Path) -> None:
    result = _run("bundle", "--base-url", "http://127.0.0.1:9/certs/staging/", "--out", str(tmp_path / "b.pem"))
    assert result.returncode == 1
    assert "is not an https URL" in result.stdout
    assert not (tmp_path / "b.pem").exists()


def test_outside_actions_it_asks_for_an_output_file() -> None:
    result = _run("bundle")
    assert result.returncode == 1
    assert "RUNNER_TEMP is not set; outside GitHub Actions pass --out <file>." in result.stdout


# --- which stacks need it --------------------------------------------------------------------------


def test_the_script_reads_the_settings_key_the_program_reads() -> None:
    assert staging_roots.ACME_SERVER_KEY in settings.CONFIG_KEYS
    assert staging_roots.STAGING in LETS_ENCRYPT_SERVERS
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == settings.PROJECT


@pytest.mark.parametrize("stack", stack_names())
def test_each_stack_reports_the_server_its_config_names(stack: str, tmp_path: Path) -> None:
    config = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    expected = config.get(f"{settings.PROJECT}:acmeServer", "production")
    output = tmp_path / "github_output"
    result = _run("acme-server", env={"STACK": stack, "GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert output.read_text(encoding="utf-8") == f"server={expected}\n"
    assert (expected == "staging") == (stack == "int"), "int is the stack on Let's Encrypt staging today"


def _fake_project(tmp_path: Path, stack_config: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "Pulumi.qa.yaml").write_text(stack_config, encoding="utf-8")
    return tmp_path


def test_a_stack_without_the_key_gets_pulumi_yamls_default(tmp_path: Path) -> None:
    root = _fake_project(tmp_path, "config:\n  aws:region: eu-west-1\n")
    assert staging_roots.acme_server(root, "qa") == "production"
    root = _fake_project(tmp_path, "config:\n  example-app:acmeServer: staging\n")
    assert staging_roots.acme_server(root, "qa") == "staging"


@pytest.mark.parametrize(
    ("stack", "config", "message"),
    [
        ("qa", "config:\n  example-app:acmeServer: stagin\n", "Pulumi.qa.yaml: example-app:acmeServer is 'stagin'"),
        ("nope", "", "Pulumi.nope.yaml does not exist"),
        ("../int", "", "is not a Pulumi stack name"),
        ("", "", "is not a Pulumi stack name"),
    ],
)
def test_a_bad_stack_or_value_is_one_clear_sentence(tmp_path: Path, stack: str, config: str, message: str) -> None:
    root = _fake_project(tmp_path, config)
    with pytest.raises(staging_roots.Problem, match=message.replace(".", r"\.").replace("(", r"\(")):
        staging_roots.acme_server(root, stack)


# --- the deploy job --------------------------------------------------------------------------------


def _steps(deploy_stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step_key(step): step for step in deploy_stack["steps"]}


def test_the_roots_step_runs_the_script_only_for_staging_stacks_before_the_up(deploy_stack: dict[str, Any]) -> None:
    steps, order = _steps(deploy_stack), [step_key(step) for step in deploy_stack["steps"]]
    assert steps["acme"]["run"] == ".venv/bin/python .github/scripts/staging_roots.py acme-server"
    assert steps["staging-roots"]["run"] == ".venv/bin/python .github/scripts/staging_roots.py bundle"
    assert steps["staging-roots"]["if"] == "steps.acme.outputs.server == 'staging'"
    install = next(key for key, step in steps.items() if step.get("run") == "make .venv/.installed")
    assert order.index(install) < order.index("acme") < order.index("staging-roots") < order.index("release-up")
    # The script reads the stack from the job's STACK, which is the environment input.
    assert deploy_stack["env"]["STACK"] == "${{ inputs.environment }}"


@pytest.mark.parametrize(("server", "runs"), [("staging", True), ("production", False)])
def test_the_roots_step_runs_exactly_when_the_stack_uses_staging(
    deploy_stack: dict[str, Any], server: str, runs: bool
) -> None:
    outputs = {"acme": {"server": server}, "before": {"stack": "int", "tag": "v1.0.0"}}
    run = run_job(deploy_stack, inputs={"environment": "int", "tag": "v1.0.1", "digest": ""}, outputs=outputs)
    assert not run.failed
    assert run.did_run("staging-roots") is runs
    assert run.did_run("release-up") and run.did_run("release-smoke")


def test_a_failed_roots_step_deploys_nothing_and_rolls_nothing_back(deploy_stack: dict[str, Any]) -> None:
    outputs = {"acme": {"server": "staging"}, "before": {"stack": "int", "tag": "v1.0.0"}}
    run = run_job(
        deploy_stack,
        inputs={"environment": "int", "tag": "v1.0.1", "digest": ""},
        failing={"staging-roots"},
        outputs=outputs,
    )
    assert run.failed
    assert not any(run.did_run(step) for step in ("release-up", "release-smoke", "previous", "rollback-up"))
    assert run.did_run("Write the job summary")


def test_the_bundle_reaches_both_ups_and_both_smoke_runs(deploy_stack: dict[str, Any]) -> None:
    steps = _steps(deploy_stack)
    for key in ("release-up", "rollback-up"):  # the SmokeTest inside `pulumi up` uses requests
        assert steps[key]["env"]["REQUESTS_CA_BUNDLE"] == BUNDLE_OUTPUT, key
    for key in ("release-smoke", "rollback-smoke"):
        assert steps[key]["env"]["SMOKE_CA_BUNDLE"] == BUNDLE_OUTPUT, key
        assert '${SMOKE_CA_BUNDLE:+--ca-bundle "$SMOKE_CA_BUNDLE"}' in steps[key]["run"], key
    # One source: no job-wide or repository variable may override the downloaded bundle.
    assert "SMOKE_CA_BUNDLE" not in deploy_stack["env"] and "REQUESTS_CA_BUNDLE" not in deploy_stack["env"]


@pytest.mark.process
def test_a_release_signed_by_a_staging_root_passes_both_smoke_checks_with_the_bundle(
    website: Website, tmp_path: Path, deploy_stack: dict[str, Any]
) -> None:
    """End to end: the bundle the script wrote verifies a certificate that staging root signed."""
    x1, x2 = _certificate(tmp_path / "ca", X1), _certificate(tmp_path / "ca", X2)
    _publish(website, x1.pem, x2.pem)
    result, bundle, _ = _bundle(website, tmp_path)
    assert result.returncode == 0, result.stdout
    leaf = _certificate(tmp_path / "ca", "127.0.0.1", ca=False, issuer=x1, host="127.0.0.1")
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    # What the SmokeTest provider runs inside `pulumi up`: verify=True, so requests reads REQUESTS_CA_BUNDLE.
    provider_check = (
        "import sys; from app.smoke import Patience, check_release; "
        "r = check_release(sys.argv[1], sys.argv[2], patience=Patience(consecutive=2, timeout=float(sys.argv[3]), "
        "interval=0.1)); "
        "print(r.message()); sys.exit(0 if r.ok else 1)"
    )
    with serve_app(VERSION, tmp_path / "logs", certfile=leaf.certfile, keyfile=leaf.keyfile) as running:
        checks = {
            name: subprocess.run(
                [sys.executable, "-c", provider_check, running.url, VERSION, timeout],
                cwd=REPO_ROOT,
                env=base | env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            # Without the bundle the check waits its whole timeout for a TLS answer that never verifies.
            for name, env, timeout in (
                ("with the bundle", {"REQUESTS_CA_BUNDLE": str(bundle)}, "10"),
                ("without", {}, "2"),
            )
        }
        workspace = tmp_path / "workspace"
        workspace.mkdir()
        for entry in WORKSPACE_ENTRIES:
            (workspace / entry).symlink_to(REPO_ROOT / entry)
        smoke = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _steps(deploy_stack)["release-smoke"]["run"]],
            cwd=workspace,
            env=base | {"URL": running.url, "RELEASE_TAG": VERSION, "SMOKE_CA_BUNDLE": str(bundle)},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert checks["with the bundle"].returncode == 0, checks["with the bundle"].stdout
    assert checks["without"].returncode == 1 and "TLS did not verify" in checks["without"].stdout
    assert smoke.returncode == 0, smoke.stdout[-3000:] + smoke.stderr[-2000:]
