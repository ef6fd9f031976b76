"""Trust Let's Encrypt's staging roots when a stack's certificates come from Let's Encrypt staging.

A staging certificate chains to roots no trust store holds, so the smoke checks (the SmokeTest inside
`pulumi up`, through REQUESTS_CA_BUNDLE, and `pytest tests/smoke --ca-bundle`) must be given them.
Two steps of .github/workflows/deploy-stack.yml call this file, with the program's virtualenv:

    python .github/scripts/staging_roots.py acme-server    # $STACK's server → `server=staging` in $GITHUB_OUTPUT
    python .github/scripts/staging_roots.py bundle         # roots → $RUNNER_TEMP PEM → `bundle=<path>` likewise
    python .github/scripts/staging_roots.py bundle --out staging-roots.pem   # the same by hand

`bundle` downloads each root over HTTPS from Let's Encrypt's website, accepts it only when openssl
reads one self-signed CA certificate whose subject says "(STAGING)", and writes the bundle only when
every root passed. Errors are one `::error` line each and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from infra.helm_values import LETS_ENCRYPT_SERVERS

REPO_ROOT = Path(__file__).resolve().parents[2]

STAGING = "staging"
ACME_SERVER_KEY = "acmeServer"
"""The stack setting naming the Let's Encrypt server (Pulumi.yaml; read by stacks/settings.py)."""
STAGING_ROOTS_URL = "https://letsencrypt.org/certs/staging/"
STAGING_ROOTS = ("letsencrypt-stg-root-x1.pem", "letsencrypt-stg-root-x2.pem")
"""Let's Encrypt's active staging roots ("(STAGING) Pretend Pear X1", "(STAGING) Bogus Broccoli X2")."""
STAGING_MARK = "(STAGING)"
BUNDLE_NAME = "letsencrypt-staging-roots.pem"
DOWNLOAD_TIMEOUT = 30
"""Seconds per download; the files are about 2 kB."""
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class Problem(Exception):  # noqa: N818 - a problem to fix, not a program error
    """Something a person has to fix; the message is one sentence naming it and what to do."""


def acme_server(root: Path, stack: str) -> str:
    """The Let's Encrypt server `stack` uses: Pulumi.<stack>.yaml's value, else Pulumi.yaml's default."""
    import yaml

    if not _STACK_NAME.fullmatch(stack):
        raise Problem(f"Stack name {stack!r} is not a Pulumi stack name; pass the environment (int, stg, prd).")
    project = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
    # Pulumi's namespace for a project's own keys is the project's name.
    key = f"{project['name']}:{ACME_SERVER_KEY}"
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise Problem(f"{stack_file.name} does not exist; deploy to a stack that has one (int, stg, prd).")
    config = (yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}).get("config") or {}
    server = config.get(key, project["config"][ACME_SERVER_KEY]["default"])
    if server not in LETS_ENCRYPT_SERVERS:
        raise Problem(f"{stack_file.name}: {key} is {server!r}; set it to one of {', '.join(LETS_ENCRYPT_SERVERS)}.")
    return str(server)


def download(url: str) -> bytes:
    """The file at an https URL, checked against the system's trusted roots."""
    if not url.startswith("https://"):
        raise Problem(f"{url} is not an https URL; staging roots are only taken over verified TLS.")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:  # noqa: S310 - https only, above
            if not response.geturl().startswith("https://"):
                raise Problem(f"{url} redirected to {response.geturl()}, which is not https; check STAGING_ROOTS_URL.")
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        raise Problem(f"Downloading {url} failed with HTTP {error.code}; check STAGING_ROOTS in {_here()}.") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Problem(f"Downloading {url} failed ({reason}); rerun the job when the site answers.") from None


def staging_root_pem(source: str, pem: bytes) -> str:
    """The certificate in `pem` re-encoded by openssl, if it is one self-signed "(STAGING)" CA; else Problem."""
    text = pem.decode("ascii", errors="replace")
    count = text.count(PEM_BEGIN)
    if count != 1:
        raise Problem(f"{source} holds {count} PEM certificates, not one; it is not a Let's Encrypt staging root.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "root.pem"
        path.write_bytes(pem)
        details = _openssl("x509", "-in", str(path), "-noout", "-subject", "-ext", "basicConstraints")
        if details.returncode != 0:
            raise Problem(f"{source} is not a certificate openssl can read ({_first_line(details.stderr)}).")
        subject = next((line for line in details.stdout.splitlines() if line.startswith("subject=")), "subject=")
        if STAGING_MARK not in subject:
            raise Problem(f"{source} is not a Let's Encrypt staging root: its {subject} lacks {STAGING_MARK!r}.")
        if not re.search(r"^\s*CA:TRUE\b", details.stdout, re.MULTILINE):
            raise Problem(f"{source} is not a CA certificate (basicConstraints lacks CA:TRUE), so it cannot be a root.")
        # Verified against itself alone: passes only when it is self-signed (and within its validity dates).
        verify = _openssl("verify", "-no-CApath", "-no-CAstore", "-CAfile", str(path), str(path))
        if verify.returncode != 0:
            reason = _first_line(verify.stderr or verify.stdout)
            raise Problem(f"{source} is not a valid self-signed root certificate (openssl verify: {reason}).")
        encoded = _openssl("x509", "-in", str(path))
    return encoded.stdout


def write_bundle(out: Path, base_url: str = STAGING_ROOTS_URL) -> Path:
    """Download, check and write every staging root to `out`; nothing is written unless all pass."""
    pems = [staging_root_pem(base_url + name, download(base_url + name)) for name in STAGING_ROOTS]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(pems), encoding="ascii")
    return out


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise Problem("openssl is not installed; install it (apt-get install openssl) and rerun.") from None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")


def _here() -> str:
    return str(Path(__file__).resolve().relative_to(REPO_ROOT))


def _set_output(name: str, value: str) -> None:
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as file:
            file.write(f"{name}={value}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("acme-server", help="which Let's Encrypt server $STACK (or --stack) uses")
    server.add_argument("--stack", default=os.environ.get("STACK", ""))
    bundle = commands.add_parser("bundle", help="download and check the staging roots, write one PEM bundle")
    bundle.add_argument("--out", type=Path, default=None, help=f"default: $RUNNER_TEMP/{BUNDLE_NAME}")
    bundle.add_argument("--base-url", default=STAGING_ROOTS_URL, help="where the roots are published (https)")
    args = parser.parse_args(argv)
    try:
        if args.command == "acme-server":
            name = acme_server(REPO_ROOT, args.stack)
            print(f"{args.stack} gets its certificates from Let's Encrypt {name}.")
            _set_output("server", name)
            return 0
        out = args.out
        if out is None:
            runner_temp = os.environ.get("RUNNER_TEMP")
            if not runner_temp:
                raise Problem("RUNNER_TEMP is not set; outside GitHub Actions pass --out <file>.")
            out = Path(runner_temp) / BUNDLE_NAME
        written = write_bundle(out, args.base_url)
        print(f"Wrote {len(STAGING_ROOTS)} Let's Encrypt staging roots to {written}.")
        _set_output("bundle", str(written))
        return 0
    except Problem as problem:
        print(f"::error title=Let's Encrypt staging roots::{problem}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
