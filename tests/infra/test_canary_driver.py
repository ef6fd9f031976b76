"""The EKS canary driver: the `pulumi` commands it runs for each decision, and its clear errors.

There is no Pulumi CLI or cluster here; a recording `pulumi` executable on PATH stands in for the
CLI so the order of the real commands (the part that decides whether users see a broken release) is
checked. The analysis loop itself is tested in tests/contract and, for real, in tests/localenv.
"""

from __future__ import annotations

import http.server
import json
import os
import stat
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from app import slo
from app.contract import AppSettings
from app.contract.analysis import CanaryOutcome, snapshot
from app.contract.canary import CanaryPolicy, CanaryRelease, CanaryStep
from infra import canary_driver
from infra.canary import release_output
from infra.canary_driver import (
    ANALYSIS_KUBECONFIG_OUTPUT,
    PROMETHEUS_PROXY_PATH,
    Command,
    DriverError,
    EksCanary,
    Prometheus,
    PulumiStack,
    ReleaseInfo,
    main,
)

FAKE_CLI = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["stack", "output"]:
    outputs = json.loads(open(os.environ["FAKE_OUTPUTS"]).read())
    if args[2] not in outputs:  # as pulumi/pulumi v3.259.0 pkg/cmd/pulumi/stack/stack_output.go answers
        sys.stderr.write("error: current stack does not have output property '" + args[2] + "'\\n")
        sys.exit(255)
    print(json.dumps(outputs[args[2]]))
elif args[:2] == ["config", "rm"] and args[2] not in os.environ.get("FAKE_CONFIG", "").split(","):
    sys.stderr.write("error: configuration key '" + args[2] + "' not found for stack 'int'\\n")
    sys.exit(255)
elif args[:1] == ["up"] and os.environ.get("FAKE_UP_FAILS") == "1":
    os.environ["FAKE_UP_FAILS"] = "0"
    marker = os.environ["FAKE_LOG"] + ".failed"
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.stderr.write("error: Deployment example-app-canary: timed out waiting to be Ready\\n")
        sys.exit(1)
"""


def app_settings() -> AppSettings:
    return AppSettings(image_repository="example-app", image_tag="v1.0.0", host="example-app.int.example.com")


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `pulumi` and a `kubectl` on PATH that log their arguments; returns the log file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pulumi", "kubectl"):
        script = bin_dir / tool
        script.write_text(FAKE_CLI.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"
    outputs = tmp_path / "outputs.json"
    running = CanaryRelease(policy=CanaryPolicy(strategy="canary"), step=CanaryStep(tag="v2.0.0", weight=50))
    outputs.write_text(json.dumps({"release": release_output(app_settings(), running), "url": "http://127.0.0.1:9"}))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_OUTPUTS", str(outputs))
    monkeypatch.setenv("FAKE_CONFIG", "canaryTag,canaryWeight")
    return log


def calls(log: Path) -> list[list[str]]:
    """Each pulumi call without the arguments every call carries (stack, cwd, non-interactive)."""
    common = ["--stack", "int", "--cwd", ".", "--non-interactive"]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [line[: -len(common)] if line[-len(common) :] == common else line for line in lines]


def test_promotion_rolls_the_stable_deployment_before_the_canary_is_removed(fake_cli: Path) -> None:
    assert main(["--stack", "int", "--promote"]) == 0
    assert calls(fake_cli) == [
        ["stack", "output", "release", "--json"],
        ["up", "--yes", "--skip-preview", "--config", "imageTag=v2.0.0"],
        ["config", "rm", "canaryTag"],
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview"],
    ]


def test_abort_takes_users_off_the_canary_before_removing_it(fake_cli: Path) -> None:
    assert main(["--stack", "int", "--abort"]) == 0
    assert calls(fake_cli)[1:] == [
        ["up", "--yes", "--skip-preview", "--config", "canaryTag=v2.0.0", "--config", "canaryWeight=0"],
        ["config", "rm", "canaryTag"],
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview"],
    ]


def test_a_canary_that_does_not_start_leaves_the_stack_as_it_was(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_UP_FAILS", "1")
    monkeypatch.setenv("FAKE_CONFIG", "canaryTag")
    assert main(["--stack", "int", "--tag", "v2.0.0"]) == 2
    assert calls(fake_cli) == [
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview", "--config", "canaryTag=v2.0.0"],
        ["config", "rm", "canaryTag"],
        ["config", "rm", "canaryWeight"],
        ["up", "--yes", "--skip-preview"],
    ]
    # `pulumi up` streams its own output (the reason) to the terminal; the driver's last line says what it did.
    error = capfd.readouterr().err
    assert "timed out waiting to be Ready" in error
    assert error.splitlines()[-1].startswith("error: the canary v2.0.0 did not start, the stack is back without it")
    assert "Traceback" not in error


def test_a_bad_tag_is_refused_before_the_stack_is_touched(fake_cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "int", "--tag", "latest"]) == 2
    assert "canaryTag 'latest'" in capsys.readouterr().err
    assert not fake_cli.exists()


def test_missing_tools_are_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--stack", "int", "--abort"]) == 2
    assert (
        capsys.readouterr().err == "error: pulumi is not on PATH; install it (README 'Canary releases') and try again\n"
    )


def test_manual_promote_without_a_running_canary_says_how_to_start_one(
    fake_cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idle = CanaryRelease(policy=CanaryPolicy(strategy="canary"))
    (tmp_path / "outputs.json").write_text(json.dumps({"release": release_output(app_settings(), idle)}))
    assert main(["--stack", "int", "--promote"]) == 2
    assert "runs no canary; start one with --tag" in capsys.readouterr().err


def test_the_release_output_round_trips_into_what_the_driver_needs() -> None:
    policy = CanaryPolicy(strategy="canary", steps=(5, 25, 100), min_requests=400)
    data = json.loads(json.dumps(release_output(app_settings(), CanaryRelease(policy=policy))))
    info = ReleaseInfo.parse(data)
    assert info.policy == policy
    assert info.step is None
    assert info.namespace == "example-app"
    assert info.canary_selector == "app.kubernetes.io/name=example-app,app.kubernetes.io/instance=example-app-canary"
    assert info.container_port == 8080
    with pytest.raises(DriverError, match="no 'release' output yet"):
        ReleaseInfo.parse(None)


def test_a_failing_command_names_itself_and_its_error() -> None:
    script = "import sys; sys.stderr.write('first\\nlast words\\n'); sys.exit(3)"
    with pytest.raises(DriverError) as caught:
        Command(tool=sys.executable).run("-c", script)
    assert "failed with exit code 3" in str(caught.value)
    assert "last words" in str(caught.value)


# ---------------------------------------------------------------- the analysis reads Prometheus, not pods


class FakePrometheus(http.server.BaseHTTPRequestHandler):
    """Answers `GET /api/v1/query` as Prometheus does (docs/querying/api.md), with `samples`."""

    queries: ClassVar[list[str]] = []
    samples: ClassVar[list[dict[str, Any]]] = []
    body: ClassVar[dict[str, Any] | None] = None

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        assert url.path.endswith("/api/v1/query"), url.path
        FakePrometheus.queries.append(urllib.parse.parse_qs(url.query)["query"][0])
        body = FakePrometheus.body or {"status": "success", "data": {"resultType": "vector", "result": self.samples}}
        data = json.dumps(body).encode()
        self.send_response(200 if body["status"] == "success" else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    FakePrometheus.queries, FakePrometheus.samples, FakePrometheus.body = [], [], None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{PROMETHEUS_PROXY_PATH}"
    finally:
        server.shutdown()
        server.server_close()


def _sample(pod: str, status: str, value: float, route: str = "/") -> dict[str, Any]:
    labels = {"pod": pod, "http_route": route, "http_request_method": "GET", "http_response_status_code": status}
    return {"metric": labels, "value": [1_700_000_000.0, repr(value)]}


def _canary(base_url: str) -> EksCanary:
    running = CanaryRelease(policy=CanaryPolicy(strategy="canary"), step=CanaryStep(tag="v2.0.0", weight=50))
    info = ReleaseInfo.parse(release_output(app_settings(), running))
    return EksCanary(PulumiStack("int", "."), Prometheus(base_url), "v2.0.0", "", info)


def test_the_canary_counts_come_from_prometheus_with_the_slo_query(prometheus: str) -> None:
    FakePrometheus.samples = [
        _sample("example-app-canary-5d9c-abcde", "200", 40.0),
        _sample("example-app-canary-5d9c-abcde", "503", 2.0),
        _sample("example-app-canary-5d9c-fghij", "200", 18.0, route='/we"ird'),
    ]
    canary = _canary(prometheus)
    before = snapshot({})
    counts = snapshot(canary.canary_metrics()).since(before)
    assert (counts.total, counts.failed) == (60, 2)
    scope = slo.Scope(namespace=app_settings().namespace, ingress="")
    assert FakePrometheus.queries == [slo.canary_request_counters(scope, "example-app-canary")]
    assert 'pod=~"example-app-canary-.+"' in FakePrometheus.queries[0]  # the canary's pods, not the stable ones


def test_no_series_yet_is_no_requests_yet(prometheus: str) -> None:
    assert _canary(prometheus).canary_metrics() == {}


def test_a_prometheus_that_refuses_the_query_stops_the_step_with_its_reason(prometheus: str) -> None:
    FakePrometheus.body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 7"}
    with pytest.raises(DriverError, match="Prometheus refused the canary query: parse error at char 7"):
        _canary(prometheus).canary_metrics()


def test_an_unreachable_prometheus_is_one_sentence() -> None:
    with pytest.raises(DriverError, match=r"Prometheus did not answer the canary query \(ConnectionError\)"):
        _canary("http://127.0.0.1:1").canary_metrics()


def test_the_driver_no_longer_execs_into_pods() -> None:
    source = Path(canary_driver.__file__).read_text(encoding="utf-8")
    assert '"exec"' not in source and "pods/exec" not in source


FAKE_PROXY = """#!{python}
import sys, time
assert sys.argv[1:4] == ["proxy", "--port=0", "--address=127.0.0.1"], sys.argv
print({line!r}, flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize(
    ("line", "base"),
    [("Starting to serve on 127.0.0.1:38411", f"http://127.0.0.1:38411{PROMETHEUS_PROXY_PATH}"), ("error: no", None)],
)
def test_prometheus_is_reached_through_kubectl_proxy_on_loopback(tmp_path: Path, line: str, base: str | None) -> None:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(FAKE_PROXY.format(python=sys.executable, line=line))
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)
    command = Command(tool=str(kubectl), base=("--kubeconfig", "k.json"))
    if base is None:
        with pytest.raises(DriverError, match="did not start: error: no"), canary_driver.prometheus_proxy(command):
            pass
        return
    with canary_driver.prometheus_proxy(command) as found:
        assert found.base_url == base
    assert PROMETHEUS_PROXY_PATH == (
        "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:http-web/proxy"
    )


# ---------------------------------------------------------------- the analysis queries as the analysis identity

FAKE_KUBECTL = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
config = open(args[args.index("--kubeconfig") + 1]).read()
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps({{"args": args[:3], "kubeconfig": config}}) + "\\n")
print("Starting to serve on 127.0.0.1:1", flush=True)
time.sleep(30)
"""


def test_the_analysis_queries_with_the_analysis_kubeconfig_not_the_admin_one(
    fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = tmp_path / "outputs.json"
    stack_outputs = json.loads(outputs.read_text())
    stack_outputs |= {"kubeconfig": "admin: cluster-admin", ANALYSIS_KUBECONFIG_OUTPUT: "analysis: services/proxy"}
    outputs.write_text(json.dumps(stack_outputs))
    kubectl = tmp_path / "bin" / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable))
    kubectl_log = tmp_path / "kubectl.log"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(kubectl_log))
    queried: list[str] = []

    def analysis(policy: CanaryPolicy, target: EksCanary, **_: Any) -> CanaryOutcome:
        queried.append(target.prometheus.base_url)
        return CanaryOutcome(True, (), ())

    monkeypatch.setattr(canary_driver, "run_canary", analysis)
    assert canary_driver.release(PulumiStack("int", "."), "v2.0.0", poll_seconds=1.0).promoted
    (proxy,) = [json.loads(line) for line in kubectl_log.read_text().splitlines()]
    assert proxy == {"args": ["proxy", "--port=0", "--address=127.0.0.1"], "kubeconfig": "analysis: services/proxy"}
    assert queried == [f"http://127.0.0.1:1{PROMETHEUS_PROXY_PATH}"]
    # The admin kubeconfig is never even read; the `pulumi up` steps run as whoever runs the driver.
    read = [call[2] for call in calls(fake_cli) if call[:2] == ["stack", "output"]]
    assert ANALYSIS_KUBECONFIG_OUTPUT in read and "kubeconfig" not in read


def test_a_stack_without_the_analysis_kubeconfig_says_to_update_it_first(fake_cli: Path) -> None:
    with pytest.raises(DriverError) as caught, canary_driver.kubeconfig_file(PulumiStack("int", ".")):
        pass
    assert str(caught.value) == (
        "the stack has no 'analysisKubeconfig' output yet; run `pulumi up` once with this version of the program"
    )
