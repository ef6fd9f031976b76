"""Drive a canary release on an EKS stack: one `pulumi up` per step, the canary analysis in between.

    python -m infra.canary_driver --stack int --tag v1.3.0     # steps, analysis, then promote or abort
    python -m infra.canary_driver --stack int --abort          # remove a running canary now
    python -m infra.canary_driver --stack int --promote        # promote a running canary now

Each step is an ordinary `pulumi up` with two config keys, so a person can do the same by hand:

    pulumi up --yes --skip-preview -s int -c canaryTag=v1.3.0 -c canaryWeight=10

`pulumi up` returns once the canary pods are available (pulumi-kubernetes waits) and the routes
carry the weight (ingress-nginx's canary Ingress, or the Gateway API HTTPRoute's weights). The
analysis then runs the smoke checks against the canary through the public URL with `X-Canary: always`,
and reads the canary pods' request counters (`http_server_request_duration_seconds_count`) from the
stack's Prometheus over its HTTP API, with app/slo.py's `canary_request_counters` — the PromQL the local
environment runs. Prometheus is reached through the API server's service proxy (`kubectl proxy` on a
loopback port): no pod is exec'd into. The proxy runs with the stack's `analysisKubeconfig`, which assumes the
stack's canary analysis role: Kubernetes lets it `get` the Prometheus Service's proxy and nothing else
(infra/canary_analysis_access.py). Too little user traffic: it sends marked requests itself
(release.analysis_traffic).

Promotion sets `imageTag` to the canary's tag (`pulumi up`: the stable Deployment's surge rollout,
verified by the SmokeTest resource) while the canary still takes its share, then removes
`canaryTag`/`canaryWeight` (`pulumi up`: the routes stop sending to the canary first, then its
objects are deleted). Abort sets
the weight to 0 (`pulumi up`), then removes the keys the same way.

Needs the Pulumi CLI (logged in to the stack's backend), the AWS CLI and kubectl on PATH, and AWS credentials of
a role the analysis role trusts: one of clusterAdminRoles, or CI's deploy role.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from app import slo
from app.contract.analysis import CanaryOutcome, Decision, run_canary
from app.contract.canary import CanaryPolicy, CanaryStep
from app.contract.settings import SettingsError
from app.serving import VERSION_PATH
from app.smoke import CANARY_PATIENCE, REQUEST_TIMEOUT, check_release
from infra.canary_analysis_policy import PROMETHEUS_PROXY_PATH

CANARY_KEYS = ("canaryTag", "canaryWeight")
RELEASE_OUTPUT = "release"
ANALYSIS_KUBECONFIG_OUTPUT = "analysisKubeconfig"
"""The kubeconfig the analysis queries with: it assumes the stack's canary analysis role, which may only read
Prometheus through the service proxy (infra/canary_analysis_access.py) — never the admin `kubeconfig` output."""


class DriverError(RuntimeError):
    """Something outside the canary stopped the release (a tool missing, a command failing)."""


@dataclass(frozen=True, kw_only=True)
class Command:
    """Runs one CLI; the command line is kept so a failure can say exactly what to rerun."""

    tool: str
    """The executable, e.g. pulumi or kubectl."""
    base: tuple[str, ...] = ()
    """Arguments every call gets (the stack, the kubeconfig)."""

    def require(self) -> None:
        """Stop with one sentence when the tool is not installed."""
        if shutil.which(self.tool) is None:
            raise DriverError(f"{self.tool} is not on PATH; install it (README 'Canary releases') and try again")

    def run(self, *args: str, capture: bool = True) -> str:
        """Run the tool; its output, or DriverError with the command and the end of its error output."""
        line = [self.tool, *args, *self.base]
        result = subprocess.run(line, capture_output=capture, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip().splitlines()[-5:] if capture else []
            tail = ("\n  " + "\n  ".join(detail)) if detail else ""
            raise DriverError(f"`{' '.join(line)}` failed with exit code {result.returncode}{tail}")
        return result.stdout if capture else ""


class PulumiStack:
    """The Pulumi CLI for one stack: updates with config changes, and the outputs the program exports."""

    def __init__(self, stack: str, cwd: str) -> None:
        self.cli = Command(tool="pulumi", base=("--stack", stack, "--cwd", cwd, "--non-interactive"))
        self.stack = stack

    def up(self, config: Mapping[str, str]) -> None:
        """`pulumi up` with `config` saved into the stack's config first; output streams to the terminal."""
        settings = [arg for key, value in config.items() for arg in ("--config", f"{key}={value}")]
        self.cli.run("up", "--yes", "--skip-preview", *settings, capture=False)

    def remove_config(self, *keys: str) -> None:
        """Remove config keys (absent keys are fine: removal is what we want)."""
        for key in keys:
            try:
                self.cli.run("config", "rm", key)
            except DriverError as error:
                if "not found" not in str(error):
                    raise

    def output(self, name: str, *, secret: bool = False) -> Any:
        """One stack output, decoded from JSON."""
        args = ["stack", "output", name, "--json", *(["--show-secrets"] if secret else [])]
        return json.loads(self.cli.run(*args))


@dataclass(frozen=True, kw_only=True)
class ReleaseInfo:
    """The stack output `release` (infra/canary.py `release_output`), typed."""

    policy: CanaryPolicy
    step: CanaryStep | None
    stable_tag: str
    namespace: str
    canary_selector: str
    container: str
    container_port: int

    @property
    def canary_deployment(self) -> str:
        """The canary Deployment's name: its pods' `app.kubernetes.io/instance` label (app/contract/canary.py)."""
        labels = dict(pair.split("=", 1) for pair in self.canary_selector.split(",") if "=" in pair)
        return labels["app.kubernetes.io/instance"]

    @classmethod
    def parse(cls, data: Any) -> ReleaseInfo:
        """Read the output; a stack deployed before canaries existed has none and says what to do."""
        if not isinstance(data, dict) or "policy" not in data:
            raise DriverError(
                "the stack has no 'release' output yet; run `pulumi up` once with this version of the program"
            )
        canary = data.get("canary")
        return cls(
            policy=CanaryPolicy.from_mapping(data["policy"]),
            step=None if canary is None else CanaryStep(tag=canary["tag"], weight=int(canary["weight"])),
            stable_tag=str(data["stableTag"]),
            namespace=str(data["namespace"]),
            canary_selector=str(data["canarySelector"]),
            container=str(data["container"]),
            container_port=int(data["containerPort"]),
        )


class Prometheus:
    """Prometheus' HTTP API (prometheus/prometheus docs/querying/api.md `GET /api/v1/query`)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant query's samples as (labels, value); DriverError naming Prometheus when it fails."""
        import requests

        try:
            answer = requests.get(f"{self.base_url}/api/v1/query", params={"query": promql}, timeout=REQUEST_TIMEOUT)
            body = answer.json()
        except (requests.RequestException, ValueError) as error:
            raise DriverError(f"Prometheus did not answer the canary query ({type(error).__name__})") from None
        if body.get("status") != "success" or body.get("data", {}).get("resultType") != "vector":
            raise DriverError(f"Prometheus refused the canary query: {body.get('error', body.get('status'))}")
        return [(dict(item["metric"]), float(item["value"][1])) for item in body["data"]["result"]]


def exposition_text(samples: Sequence[tuple[Mapping[str, str], float]]) -> dict[str, str]:
    """Per pod, its counters in the text format the analysis reads from a pod's /metrics."""
    by_pod: dict[str, list[str]] = {}
    for labels, value in samples:
        inner = ",".join(
            f'{key}="{json.dumps(labels.get(key, ""))[1:-1]}"' for key in slo.CANARY_COUNTER_LABELS if key != "pod"
        )
        by_pod.setdefault(labels.get("pod", ""), []).append(f"{slo.REQUEST_COUNT}{{{inner}}} {value!r}")
    return {pod: "\n".join(lines) + "\n" for pod, lines in by_pod.items()}


class EksCanary:
    """A canary on an EKS stack, as the analysis loop (app/contract/analysis.py) sees it."""

    def __init__(self, stack: PulumiStack, prometheus: Prometheus, tag: str, url: str, info: ReleaseInfo) -> None:
        self.stack, self.prometheus, self.tag, self.url, self.info = stack, prometheus, tag, url, info
        self.weight = info.step.weight if info.step is not None else None

    def set_weight(self, weight: int) -> None:
        """One `pulumi up` for the step; skipped when the stack is already there (the first step)."""
        if weight != self.weight:
            self.stack.up({"canaryTag": self.tag, "canaryWeight": str(weight)})
            self.weight = weight

    def canary_metrics(self) -> dict[str, str]:
        """Each canary pod's request counters as Prometheus last scraped them (no series yet: no requests yet)."""
        scope = slo.Scope(namespace=self.info.namespace, ingress="")
        return exposition_text(self.prometheus.vector(slo.canary_request_counters(scope, self.info.canary_deployment)))

    def smoke(self) -> list[str]:
        """The smoke library's checks against the canary, reached through the ingress by header."""
        report = check_release(self.url, self.tag, patience=CANARY_PATIENCE, headers=self.info.policy.headers)
        return list(report.problems)

    def send_analysis_traffic(self, requests_count: int) -> None:
        """Marked GETs of /version at the policy's analysis rate; failures show up in the canary's metrics."""
        import requests

        pause = 1.0 / self.info.policy.analysis_rate
        with requests.Session() as session:
            session.headers.update(self.info.policy.headers)
            for _ in range(requests_count):
                started = time.monotonic()
                # A canary that does not answer fails its smoke checks and metrics scrape instead.
                with contextlib.suppress(requests.RequestException):
                    session.get(self.url + VERSION_PATH, timeout=REQUEST_TIMEOUT).close()
                time.sleep(max(0.0, pause - (time.monotonic() - started)))

    def promote(self) -> None:
        """Stable Deployment to the canary's tag (surge rollout) while the canary serves, then remove it."""
        self.stack.up({"imageTag": self.tag})
        self.stack.remove_config(*CANARY_KEYS)
        self.stack.up({})

    def abort(self) -> None:
        """Weight 0 first (users leave the canary at once), then remove the canary's objects."""
        self.stack.up({"canaryTag": self.tag, "canaryWeight": "0"})
        self.stack.remove_config(*CANARY_KEYS)
        self.stack.up({})


@contextmanager
def prometheus_proxy(kubectl: Command) -> Iterator[Prometheus]:
    """`kubectl proxy` on a free loopback port for as long as the analysis runs; Prometheus behind it."""
    line = [kubectl.tool, "proxy", "--port=0", "--address=127.0.0.1", *kubectl.base]
    process = subprocess.Popen(line, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline() if process.stdout else ""
        # kubectl proxy's first line: "Starting to serve on 127.0.0.1:<port>".
        address = first.strip().rsplit(" ", 1)[-1]
        if not first.startswith("Starting to serve on ") or ":" not in address:
            raise DriverError(f"`{' '.join(line)}` did not start: {first.strip() or 'no output'}")
        yield Prometheus(f"http://{address}{PROMETHEUS_PROXY_PATH}")
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def kubeconfig_file(stack: PulumiStack) -> Iterator[str]:
    """The stack's analysis kubeconfig output in a private temporary file, removed afterwards."""
    try:
        content = stack.output(ANALYSIS_KUBECONFIG_OUTPUT, secret=True)
    except DriverError as error:
        # pulumi/pulumi v3.259.0 pkg/cmd/pulumi/stack/stack_output.go: "current stack does not have output property"
        if "does not have output property" not in str(error):
            raise
        raise DriverError(
            f"the stack has no '{ANALYSIS_KUBECONFIG_OUTPUT}' output yet; run `pulumi up` once with this version "
            "of the program"
        ) from None
    handle, path = tempfile.mkstemp(prefix="example-app-kubeconfig-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(content if isinstance(content, str) else json.dumps(content))
        yield path
    finally:
        os.unlink(path)


def report(weight: int, decision: Decision) -> None:
    """One progress line per analysis look."""
    counts = decision.counts
    print(
        f"[{weight:>3} %] {decision.verdict.value:<8} {counts.total:>6} req {counts.failed:>4} failed "
        f"t={decision.elapsed:5.1f}s  {'; '.join(decision.reasons)}",
        flush=True,
    )


def release(stack: PulumiStack, tag: str, *, poll_seconds: float) -> CanaryOutcome:
    """Start the canary at the policy's first step, walk the steps, promote or abort."""
    CanaryStep(tag=tag, weight=0)  # refuse a bad tag before touching the stack
    # Without canaryWeight the program starts the canary at the policy's first step.
    stack.remove_config("canaryWeight")
    try:
        stack.up({"canaryTag": tag})
    except DriverError as error:
        # Settings refused, or the canary never became available: put the stack back as it was.
        stack.remove_config(*CANARY_KEYS)
        stack.up({})
        raise DriverError(f"the canary {tag} did not start, the stack is back without it: {error}") from None
    info = ReleaseInfo.parse(stack.output(RELEASE_OUTPUT))
    url = str(stack.output("url"))
    with (
        kubeconfig_file(stack) as kubeconfig,
        prometheus_proxy(Command(tool="kubectl", base=("--kubeconfig", kubeconfig))) as prom,
    ):
        target = EksCanary(stack, prom, tag, url, info)
        return run_canary(info.policy, target, progress=report, poll_seconds=poll_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the release (or the manual promote/abort), print the outcome; 0 when promoted."""
    parser = argparse.ArgumentParser(prog="python -m infra.canary_driver", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True, help="Pulumi stack, e.g. int")
    parser.add_argument("--cwd", default=".", help="directory with Pulumi.yaml (default: current)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--tag", help="release to run as a canary, e.g. v1.3.0")
    action.add_argument("--promote", action="store_true", help="promote the running canary without analysis")
    action.add_argument("--abort", action="store_true", help="remove the running canary")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between two analysis looks (default 5)")
    args = parser.parse_args(argv)
    if args.poll <= 0:
        parser.error(f"--poll must be > 0 seconds, got {args.poll}")
    stack = PulumiStack(args.stack, args.cwd)
    try:
        stack.cli.require()
        if args.tag is not None:
            Command(tool="kubectl").require()
            outcome = release(stack, args.tag, poll_seconds=args.poll)
            print(outcome.summary)
            return 0 if outcome.promoted else 1
        info = ReleaseInfo.parse(stack.output(RELEASE_OUTPUT))
        if info.step is None:
            raise DriverError(f"stack {args.stack!r} runs no canary; start one with --tag")
        target = EksCanary(stack, Prometheus(""), info.step.tag, "", info)  # promote/abort query nothing
        if args.promote:
            target.promote()
            print(f"promoted {info.step.tag}; the canary is removed")
        else:
            target.abort()
            print(f"aborted {info.step.tag}; {info.stable_tag} serves everything")
        return 0
    except (DriverError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: the canary may still run; remove it with "
            f"`python -m infra.canary_driver --stack {args.stack} --abort`",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
