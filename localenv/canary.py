"""Canary releases in the local environment: the new version beside the stable one, split by the ingress.

The canary is a second Deployment — the contract's canary Deployment (`app.contract.canary`), run by
a second controller — whose ready pods fill the local nginx's canary backend. Each step's weight and
header match are read from the configured router's rendered route objects (`localenv.profile.local_routes`:
the canary Ingress's annotations, or the HTTPRoute's weights and Exact header match); the Lua balancer sends
a request to the canary when it carries that header value, else with that weight. A new weight or new
canary endpoints are written into a shared dict through nginx's loopback admin locations: nginx is never
reloaded.
The steps and their analysis are the same loop the EKS driver runs (`app.contract.analysis`).

    with LocalEnvironment(tmp_path / "env", port=0) as env:
        env.up("v1", replicas=3)
        outcome = release_canary(env, "v2")      # 10 → 50 → 100 %, analysis at each step
        outcome.promoted, outcome.summary        # promoted: the stable Deployment now runs v2
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

from app import slo
from app.contract.analysis import CanaryOutcome, Decision, Override, Progress, run_canary
from app.contract.canary import LOCAL_CANARY, CanaryPolicy, CanaryStep, canary_name, render_canary
from app.contract.settings import SettingsError
from app.serving import METRICS_PATH, VERSION_PATH
from localenv.control.objects import PodPhase, RolloutState
from localenv.controller import Controller
from localenv.environment import LocalEnvironment
from localenv.errors import LocalEnvError
from localenv.events import IngressEvent, IngressStep
from localenv.images import APP_IMAGE
from localenv.monitoring import ANALYSIS_POLL_S
from localenv.profile import local_routes, local_settings
from localenv.spec import DeploymentSpec
from localenv.traffic import Traffic, TrafficPlan

POLL_SECONDS = ANALYSIS_POLL_S
"""Seconds between two looks at the canary's metrics: short, so a bad canary hurts few requests."""
METRICS_TIMEOUT_S = 2.0
SCRAPED_TIMEOUT_S = 15.0
"""Longest wait for Prometheus to scrape a new canary pod (its discovery batches targets every few seconds)."""


class LocalCanary:
    """A canary in the local environment, as the analysis loop sees it (app.contract.analysis.CanaryTarget)."""

    def __init__(
        self,
        env: LocalEnvironment,
        tag: str,
        *,
        policy: CanaryPolicy = LOCAL_CANARY,
        image_repository: str = APP_IMAGE,
        on_route: Callable[[int], None] | None = None,
    ) -> None:
        try:
            CanaryStep(tag=tag, weight=0)
        except SettingsError as error:
            raise LocalEnvError("; ".join(error.problems)) from None
        status = env.status()
        if status.version is None:
            raise LocalEnvError("nothing runs yet to compare a canary with; run `python -m localenv up` first")
        if status.rollout and status.rollout.state is RolloutState.PROGRESSING:
            raise LocalEnvError("a rollout is still in progress; wait for it to finish before starting a canary")
        self.env = env
        self.tag = tag
        self.policy = policy
        self.image_repository = image_repository
        self.stable_version = status.version
        self.replicas = status.replicas
        self.weight: int | None = None
        self.on_route = on_route
        # The canary objects come from the stable settings with the canary's tag and image.
        self.settings = local_settings(tag, self.replicas, image_repository, env.router)

    # -- CanaryTarget ------------------------------------------------------------------------------

    def set_weight(self, weight: int) -> None:
        """Scale the canary Deployment for `weight`, wait until its pods serve, then move the weight."""
        controller = self.env.canary_controller()
        spec = self._spec(weight)
        self._apply(controller, spec)
        deadline = time.monotonic() + spec.progress_deadline
        while len(controller.status().endpoints) < spec.replicas:
            if time.monotonic() > deadline:
                raise LocalEnvError(f"the canary's {spec.replicas} pod(s) never all reached the ingress")
            time.sleep(0.05)
        self._route(weight)

    def canary_metrics(self) -> dict[str, str]:
        """/metrics of every running canary pod, read from the pod itself (not through the ingress)."""
        pods = [
            p
            for p in self.env.canary_controller().status().pods
            if p.phase is PodPhase.RUNNING and p.pid is not None and p.address is not None
        ]
        if not pods:
            raise LocalEnvError(f"no canary pod of {self.tag} is running")
        texts: dict[str, str] = {}
        for pod in pods:
            try:
                with urllib.request.urlopen(f"http://{pod.address}{METRICS_PATH}", timeout=METRICS_TIMEOUT_S) as answer:
                    texts[pod.name] = answer.read().decode()
            except (urllib.error.URLError, OSError) as error:
                raise LocalEnvError(f"canary pod {pod.name} did not answer {METRICS_PATH}: {error}") from None
        return texts

    def smoke(self) -> list[str]:
        """The smoke library's checks against the canary through the ingress, marked with the canary header."""
        from app.smoke import LOCAL_CANARY_PATIENCE, check_release

        report = check_release(self.env.url, self.tag, patience=LOCAL_CANARY_PATIENCE, headers=self.policy.headers)
        return list(report.problems)

    def send_analysis_traffic(self, requests: int) -> None:
        """Marked requests through the ingress at the policy's analysis rate (bounded in count and time)."""
        seconds = requests / self.policy.analysis_rate
        plan = TrafficPlan(
            url=f"{self.env.url}{VERSION_PATH}",
            keepalive_clients=1,
            fresh_clients=0,
            max_requests=requests,
            max_seconds=seconds + 5.0,
            headers=self.policy.headers,
            requests_per_second=self.policy.analysis_rate,
        )
        with Traffic(plan) as traffic:
            traffic.wait(timeout=plan.max_seconds + 1.0)

    def promote(self) -> None:
        """Roll the stable Deployment to the canary's version (surge rollout, canary still serving), then remove it."""
        result = self.env.deploy(self.tag, image_repository=self.image_repository)
        if not result.ok:
            self.remove()
            raise LocalEnvError(f"promotion of {self.tag} failed, the canary is removed: {result.message}")
        self.remove()

    def abort(self) -> None:
        """Weight 0 and no header routing first, then remove the canary's pods (they drain like any pod)."""
        self.remove()

    # -- the rest ----------------------------------------------------------------------------------

    def remove(self) -> None:
        """Take the canary out of the ingress, let its pods drain and exit, stop its controller."""
        self._route(0, by_header=False)
        controller = self.env.canary_controller()
        if controller.spec is not None:
            self._apply(controller, self._spec(0, replicas=0))
        self.env.stop_canary_controller()

    def _spec(self, weight: int, replicas: int | None = None) -> DeploymentSpec:
        deployment = render_canary(self.settings, CanaryStep(tag=self.tag, weight=weight), self.policy).deployment
        if replicas is not None:
            deployment["spec"]["replicas"] = replicas
        return DeploymentSpec.from_manifest(deployment)

    def _apply(self, controller: Controller, spec: DeploymentSpec) -> None:
        rollout = controller.apply(spec, allow_during_rollout=True)
        bound = spec.rollout_timeout * 2
        controller.wait_rollout(rollout, timeout=bound, drained=True)
        if rollout.state is not RolloutState.COMPLETE:
            raise LocalEnvError(
                f"the canary {self.tag} did not become available: {rollout.message or rollout.state} "
                f"(scaling to {spec.replicas})"
            )

    def _route(self, weight: int, *, by_header: bool = True) -> None:
        """Give the ingress what the router's objects say for this step; `by_header=False`: the canary's gone."""
        step = CanaryStep(tag=self.tag, weight=weight) if by_header else None
        route = local_routes(self.settings, step, self.policy).canary
        if route is not None and route.service != canary_name(self.settings):
            raise LocalEnvError(f"the route objects send the canary's share to {route.service!r}, not to the canary")
        header, value = (route.header, route.header_value) if route else ("", "")
        self.env.set_canary_route(route.weight if route else 0, header, value)
        self.weight = weight
        self.env.event_log.emit(
            IngressEvent(step=IngressStep.CANARY_ROUTE, weight=weight, version=self.tag, header=bool(header))
        )
        if self.on_route is not None:
            self.on_route(weight)


class PrometheusCanary(LocalCanary):
    """A local canary whose analysis reads the canary pods' request counters from Prometheus, not from the pods.

    The query is app/slo.py's (the app's request counter, user routes only, the app's namespace), narrowed to
    the canary's pods; the counters go through the same `app.contract.analysis` judge as before. Prometheus
    scrapes every `LOCAL.scrape_interval`, so the evidence is at most that old.
    """

    def _route(self, weight: int, *, by_header: bool = True) -> None:
        """Route to the canary only once Prometheus scrapes every canary pod: no request may go unseen.

        Prometheus hands discovered targets to its scrapers at most every 5 s (prometheus/prometheus
        discovery/manager.go NewManager, `updatert: 5 * time.Second`; read from a stored copy, not at the
        v2.42.0 tag), so a new pod is scraped seconds after it starts; the analysis' clock starts after that.
        """
        if weight > 0:
            pods = {p.name for p in self.env.canary_controller().status().pods if p.address is not None}
            namespace = local_settings(self.tag).namespace
            up = slo.series("up", (("namespace", "=", namespace), ("pod", "=~", "|".join(sorted(pods)))))
            deadline = time.monotonic() + SCRAPED_TIMEOUT_S
            while {r["metric"].get("pod") for r in self.env.monitoring.api.query(f"{up} == 1")} != pods:
                if time.monotonic() > deadline:
                    raise LocalEnvError(f"Prometheus did not scrape the canary's pods within {SCRAPED_TIMEOUT_S:g} s")
                time.sleep(POLL_SECONDS)
        super()._route(weight, by_header=by_header)

    def canary_metrics(self) -> dict[str, str]:
        """Each canary pod's user-request counters as Prometheus last scraped them, as exposition text."""
        pods = [p.name for p in self.env.canary_controller().status().pods if p.address is not None]
        if not pods:
            raise LocalEnvError(f"no canary pod of {self.tag} is running")
        namespace = local_settings(self.tag).namespace
        matchers = (("namespace", "=", namespace), ("pod", "=~", "|".join(pods)), *slo.user_requests())
        query = slo.series(slo.REQUEST_COUNT, matchers)
        texts: dict[str, list[str]] = {pod: [] for pod in pods}
        for sample in self.env.monitoring.api.query(query):
            labels = sample["metric"]
            kept = {key: labels.get(key, "") for key in (slo.ROUTE_LABEL, slo.METHOD_LABEL, slo.STATUS_LABEL)}
            texts.setdefault(labels.get("pod", ""), []).append(
                f"{slo.series(slo.REQUEST_COUNT, tuple((k, '=', v) for k, v in kept.items()))} {sample['value'][1]}"
            )
        return {pod: "".join(f"{line}\n" for line in lines) for pod, lines in texts.items()}


def release_canary(
    env: LocalEnvironment,
    tag: str,
    *,
    policy: CanaryPolicy = LOCAL_CANARY,
    image_repository: str = APP_IMAGE,
    progress: Progress | None = None,
    override: Override | None = None,
    on_route: Callable[[int], None] | None = None,
    poll_seconds: float = POLL_SECONDS,
    from_prometheus: bool | None = None,
) -> CanaryOutcome:
    """Run `tag` as a canary through the policy's steps and analysis; promoted or aborted when it returns.

    `from_prometheus`: the analysis reads the canary's counters from the environment's Prometheus; by default
    it does whenever the environment runs one.
    """
    use_prometheus = env.monitoring_enabled if from_prometheus is None else from_prometheus
    kind = PrometheusCanary if use_prometheus else LocalCanary
    target = kind(env, tag, policy=policy, image_repository=image_repository, on_route=on_route)

    def record(weight: int, decision: Decision) -> None:
        env.event_log.emit(analysis_event(weight, decision))
        if progress is not None:
            progress(weight, decision)

    return run_canary(policy, target, progress=record, override=override, poll_seconds=poll_seconds)


def analysis_event(weight: int, decision: Decision) -> IngressEvent:
    """One look of the canary analysis as an event (events.jsonl, `watch`, the CLI's progress lines)."""
    counts = decision.counts
    return IngressEvent(
        step=IngressStep.CANARY_ANALYSIS,
        weight=weight,
        verdict=decision.verdict.value,
        requests=counts.total,
        failed=counts.failed,
        error_rate=round(counts.error_rate, 4),
        elapsed=round(decision.elapsed, 2),
        reasons=tuple(decision.reasons),
    )


def chart_release(path: str, *, replicas: int = 3, image_repository: str = APP_IMAGE) -> tuple[CanaryOutcome, str]:
    """Run v1 → v2 as a canary under live traffic in a throw-away environment and draw the timeline PNG.

    The README's picture of the weight steps: responses per 100 ms by version, one mark per weight.
    Returns the outcome and a one-line summary of the traffic.
    """
    import tempfile

    from localenv.chart import write_timeline

    with tempfile.TemporaryDirectory(prefix="example-app-canary-") as state, LocalEnvironment(state, port=0) as env:
        env.up("v1", replicas=replicas)
        plan = TrafficPlan(
            url=env.url + VERSION_PATH, keepalive_clients=3, fresh_clients=3, max_requests=200_000, max_seconds=180.0
        )
        with Traffic(plan) as traffic:

            def mark(weight: int) -> None:
                traffic.mark(f"weight {weight} %" if weight else "canary removed")

            time.sleep(1.0)
            outcome = release_canary(env, "v2", image_repository=image_repository, on_route=mark)
            time.sleep(1.0)
        report = traffic.report
    title = f"Canary v1 → v2 ({image_repository}), steps {' → '.join(f'{w} %' for w in LOCAL_CANARY.steps)}"
    write_timeline(report, path, title)
    versions = ", ".join(f"{version} {count}" for version, count in sorted(report.by_version.items()))
    return outcome, f"{report.total} requests ({versions}), {report.failed} failed, {report.retried} retried"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m localenv.canary", description="Draw the timeline of a canary release under live traffic."
    )
    parser.add_argument("--out", default="build/canary/canary-timeline.png", help="PNG to write")
    parser.add_argument("--faulty", action="store_true", help="release the faulty test build (it is aborted)")
    args = parser.parse_args()
    from localenv.images import FAULTY_IMAGE

    result, summary = chart_release(args.out, image_repository=FAULTY_IMAGE if args.faulty else APP_IMAGE)
    print(f"{result.summary}\n{summary}\nchart: {args.out}")
