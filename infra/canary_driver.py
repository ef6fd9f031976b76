"""Drive a canary release on an EKS stack: one `pulumi up` per step, the canary analysis in between.

    python -m infra.canary_driver --stack int --tag v1.3.0     # steps, analysis, then promote or abort
    python -m infra.canary_driver --stack int --abort          # remove a running canary now
    python -m infra.canary_driver --stack int --promote        # promote a running canary now

Each step is an ordinary `pulumi up` with two config keys, so a person can do the same by hand:

    pulumi up --yes --skip-preview -s int -c canaryTag=v1.3.0 -c canaryWeight=10

`pulumi up` returns once the canary pods are available (pulumi-kubernetes waits) and the routes
carry the weight (ingress-nginx's canary Ingress, or the Gateway API HTTPRoute's weights). The
analysis then runs the smoke checks against the canary through the public URL with `X-Canary: always`,
and reads the canary pods' request counts (`http_server_request_duration_seconds_count`, app/slo.py)
from their /metrics (through `kubectl exec`, so the NetworkPolicy that admits only the ingress stays
as it is). Too little user traffic: it sends marked requests itself (release.analysis_traffic).

Promotion sets `imageTag` to the canary's tag (`pulumi up`: the stable Deployment's surge rollout,
verified by the SmokeTest resource) while the canary still takes its share, then removes
`canaryTag`/`canaryWeight` (`pulumi up`: the routes stop sending to the canary first, then its
objects are deleted). Abort sets
the weight to 0 (`pulumi up`), then removes the keys the same way.

Needs the Pulumi CLI (logged in to the stack's backend, AWS credentials) and kubectl on PATH.
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

from app.contract.analysis import CanaryOutcome, Decision, run_canary
from app.contract.canary import CanaryPolicy, CanaryStep
from app.contract.settings import SettingsError
from app.serving import METRICS_PATH, VERSION_PATH
from app.smoke import CANARY_PATIENCE, REQUEST_TIMEOUT, check_release

CANARY_KEYS = ("canaryTag", "canaryWeight")
RELEASE_OUTPUT = "release"
# kubectl exec runs this inside the app's container: its own port on loopback, no network policy involved.
SCRAPE = (
    "import sys,urllib.request;"
    f"sys.stdout.write(urllib.request.urlopen(sys.argv[1],timeout={REQUEST_TIMEOUT:g}).read().decode())"
)


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


class EksCanary:
    """A canary on an EKS stack, as the analysis loop (app/contract/analysis.py) sees it."""

    def __init__(self, stack: PulumiStack, kubectl: Command, tag: str, url: str, info: ReleaseInfo) -> None:
        self.stack, self.kubectl, self.tag, self.url, self.info = stack, kubectl, tag, url, info
        self.weight = info.step.weight if info.step is not None else None

    def set_weight(self, weight: int) -> None:
        """One `pulumi up` for the step; skipped when the stack is already there (the first step)."""
        if weight != self.weight:
            self.stack.up({"canaryTag": self.tag, "canaryWeight": str(weight)})
            self.weight = weight

    def canary_metrics(self) -> dict[str, str]:
        """/metrics of every running canary pod, read inside the pod."""
        listing = json.loads(
            self.kubectl.run("get", "pods", "-n", self.info.namespace, "-l", self.info.canary_selector, "-o", "json")
        )
        running = [
            p["metadata"]["name"] for p in listing.get("items", []) if p.get("status", {}).get("phase") == "Running"
        ]
        if not running:
            raise DriverError(f"no running canary pod matches {self.info.canary_selector} in {self.info.namespace}")
        url = f"http://127.0.0.1:{self.info.container_port}{METRICS_PATH}"
        return {
            pod: self.kubectl.run(
                "exec", "-n", self.info.namespace, pod, "-c", self.info.container, "--", "python", "-c", SCRAPE, url
            )
            for pod in running
        }

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
def kubeconfig_file(stack: PulumiStack) -> Iterator[str]:
    """The stack's kubeconfig output in a private temporary file, removed afterwards."""
    content = stack.output("kubeconfig", secret=True)
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
    with kubeconfig_file(stack) as kubeconfig:
        kubectl = Command(tool="kubectl", base=("--kubeconfig", kubeconfig))
        target = EksCanary(stack, kubectl, tag, url, info)
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
        target = EksCanary(stack, Command(tool="kubectl"), info.step.tag, "", info)
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
