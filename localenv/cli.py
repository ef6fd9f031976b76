"""`python -m localenv`: bring the app up locally, roll it to new versions, watch, roll back, tear down.

`up` starts a background supervisor (state in ./.local-env, or --state-dir / $LOCALENV_STATE_DIR) so
the other commands work from any shell; `down` stops it and every process it started. `demo` does
the whole story in one go: up, a rollout under live traffic, the summary and a timeline chart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypedDict, cast

from app.contract.routers import DEFAULT_ROUTER, ROUTERS
from app.serving import PAGE_PATH, VERSION_PATH
from app.timing import LOCAL_TIMING
from localenv.control.events import NodeEvent
from localenv.environment import EVENTS_FILE, EnvironmentStatus, default_state_dir
from localenv.errors import LocalEnvError
from localenv.events import (
    Counts,
    EndpointsEvent,
    EndpointsStage,
    Event,
    IngressEvent,
    IngressStep,
    PodEvent,
    ProbeEvent,
    RolloutEvent,
    parse_event,
    read_events,
)
from localenv.images import APP_IMAGE, IMAGES
from localenv.monitoring import find_servers
from localenv.processes import kill_orphans
from localenv.profile import DEFAULT_REPLICAS, local_settings
from localenv.supervisor import request, serve, start_daemon, stop_supervisor, stream, supervisor_pid

DEFAULT_PORT = 8080
DEMO_FROM = "v1"
DEMO_TO = "v2"
# kubectl drain waits forever by default (--timeout 0) and EKS gives a node's evictions 15 minutes; a
# local pod is replaced in about a second, so a minute allows dozens of 5 s eviction retries.
DRAIN_TIMEOUT_S = 60.0
# Bounds for live traffic started by the CLI: it stops with the rollout, these only cap a stuck one.
TRAFFIC_MAX_SECONDS = 600.0
TRAFFIC_MAX_REQUESTS = 2_000_000
TRAFFIC_KEEPALIVE_CLIENTS = 4
TRAFFIC_FRESH_CLIENTS = 4
TRAFFIC_TAIL_S = 0.2
"""Traffic kept running after a `deploy --with-traffic` rollout, so its report shows the new version settled."""


class RolloutReply(TypedDict, total=False):
    """What the supervisor answers when a rollout (or a canary release) ends; the keys the CLI reads."""

    ok: bool
    message: str
    version: str
    seconds: float | None
    drained_seconds: float | None


HELP_EPILOG = """\
One rollout at a time: `deploy` while a rollout is still progressing is REFUSED (not queued) with a
message; `rollback` is always allowed. Events are written as JSON lines to <state-dir>/events.jsonl.
`deploy --strategy canary` runs the new version beside the stable one at 10 → 50 → 100 % with an
analysis at each step, then promotes or aborts by itself; `promote`/`abort` decide for it at once.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 a problem explained on stderr, 2 usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except LocalEnvError as error:
        _fail(args, str(error))
        return 1
    except KeyboardInterrupt:
        carries_on = args.command in {"up", "deploy", "rollback"}
        hint = "; the rollout carries on in the background: `status` to follow, `down` to stop" if carries_on else ""
        print(f"\ninterrupted{hint}", file=sys.stderr)
        return 130


def _fail(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": message}))
    print(f"error: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localenv",
        description="The app's real Deployment on this machine: real nginx, real gunicorn pods, a Deployment "
        "controller.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=HELP_EPILOG)
        sub.set_defaults(handler=handler)
        sub.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="where pids, logs and events live (default: $LOCALENV_STATE_DIR or ./.local-env)",
        )
        sub.add_argument("--json", action="store_true", help="print one JSON document instead of text")
        return sub

    up = command("up", _up, "start the ingress and N replicas of a version (in the background)")
    up.add_argument("--version", default=DEMO_FROM, help=f"image tag to run (default {DEMO_FROM})")
    up.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS, help="pods (default %(default)s)")
    _port_options(up)

    deploy = command("deploy", _deploy, "roll the Deployment to a new version (surge rollout, waits for the end)")
    deploy.add_argument("--version", required=True, help="image tag to roll out, e.g. v2")
    deploy.add_argument(
        "--image",
        default=APP_IMAGE,
        choices=IMAGES,
        help="image repository; the two test images never become ready / crash at start",
    )
    deploy.add_argument("--with-traffic", action="store_true", help="send live traffic during the rollout")
    deploy.add_argument(
        "--strategy",
        choices=("rolling", "canary"),
        default="rolling",
        help="rolling: surge rollout (default); canary: weighted steps with analysis, then promote or abort",
    )
    deploy.add_argument("--no-smoke", action="store_true", help="skip the post-deploy smoke checks")

    command("promote", _canary_decision, "promote the running canary now (its remaining steps are skipped)")
    command("abort", _canary_decision, "abort the running canary now: weight 0, its pods removed")
    command("status", _status, "show the rollout, pods, endpoints and the ingress's request/retry counts")
    command("rollback", _rollback, "roll back to the previous revision")
    ingress_release = command(
        "ingress-release",
        _ingress_release,
        "roll the ingress controller's Deployment to a new version (surge one, each new pod gated on its target)",
    )
    ingress_release.add_argument("--version", required=True, help="controller version to roll out, e.g. c2")
    command("nodes", _nodes, "list the nodes: zone, cordoned or not, and the pods each runs")
    drain = command(
        "drain", _drain, "cordon a node and evict its pods through their PodDisruptionBudget, as kubectl drain"
    )
    drain.add_argument("node", help="the node to drain, e.g. node-1 (see `nodes`)")
    drain.add_argument(
        "--timeout", type=float, default=DRAIN_TIMEOUT_S, help="give up after this many seconds (default %(default)s)"
    )
    uncordon = command("uncordon", _uncordon, "let the scheduler use a cordoned node again")
    uncordon.add_argument("node", help="the node to uncordon")
    update = command(
        "nodegroup-update",
        _nodegroup_update,
        "replace every node as an EKS managed node group update does: new nodes first, then drain and remove old",
    )
    update.add_argument(
        "--timeout", type=float, default=DRAIN_TIMEOUT_S, help="each node's drain timeout (default %(default)s)"
    )
    tour = command(
        "tour", _tour, "under live traffic: an ingress-tier release, a node drain, a node-group update; summary, down"
    )
    tour.add_argument("--port", type=int, default=0, help="load balancer port on 127.0.0.1 (default 0: any free port)")
    command("down", _down, "stop every process of the local environment")

    watch = command("watch", _watch, "print events as they happen, JSON lines with --json (Ctrl-C to stop)")
    watch.add_argument("--with-traffic", action="store_true", help="also send live traffic and print its counts")
    watch.add_argument("--seconds", type=float, default=0.0, help="stop after this long (default: until Ctrl-C)")
    watch.add_argument("--verbose", action="store_true", help="also print every successful probe")

    demo = command("demo", _demo, "up, roll to a new version under live traffic, summary + chart, down")
    demo.add_argument("--from", dest="from_version", default=DEMO_FROM, help="version to start at")
    demo.add_argument("--to", dest="to_version", default=DEMO_TO, help="version to roll to")
    demo.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS, help="pods (default %(default)s)")
    demo.add_argument("--chart", type=Path, default=None, help="PNG path (default <state-dir>/demo-timeline.png)")
    demo.add_argument("--keep", action="store_true", help="leave the environment running afterwards")
    _port_options(demo)

    supervise = commands.add_parser("_supervise")  # internal: the daemon `up` starts
    supervise.set_defaults(handler=_supervise)
    supervise.add_argument("--state-dir", type=Path, required=True)
    supervise.add_argument("--port", type=int, required=True)
    supervise.add_argument("--propagation", type=float, required=True)
    supervise.add_argument("--router", required=True)
    supervise.add_argument("--monitoring", action=argparse.BooleanOptionalAction, default=True)
    return parser


def _port_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--port", type=int, default=DEFAULT_PORT, help="ingress port on 127.0.0.1 (0 = any free port)")
    sub.add_argument(
        "--propagation",
        type=float,
        default=LOCAL_TIMING.endpoint_propagation,
        help="seconds before an endpoint change reaches nginx (default %(default)s)",
    )
    sub.add_argument(
        "--router",
        default=DEFAULT_ROUTER,
        help=f"whose route objects the local ingress serves: {' or '.join(ROUTERS)} (default %(default)s)",
    )
    # On by default here, so `make demo` and `status` show the indicator; LocalEnvironment's default is off
    # (localenv/environment.py says why).
    sub.add_argument(
        "--monitoring",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run Prometheus and Alertmanager on loopback for the indicator (Debian prometheus, "
        "prometheus-alertmanager; default on; --no-monitoring skips them)",
    )


def _check_monitoring(args: argparse.Namespace) -> None:
    """A missing Prometheus or Alertmanager stops `up`/`demo` in this process, before any process is started."""
    if args.monitoring:
        find_servers()


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) if args.state_dir else default_state_dir()


# ---- commands ---------------------------------------------------------------------------------


def _up(args: argparse.Namespace) -> int:
    local_settings(args.version, args.replicas, router=args.router)  # a bad tag, count or router fails here
    state_dir = _state_dir(args)
    if supervisor_pid(state_dir) is not None:
        url = _environment_status(state_dir).url
        raise LocalEnvError(
            f"the local environment is already up at {url}; use `deploy --version TAG`, or `down` first"
        )
    _check_monitoring(args)
    pid = start_daemon(state_dir, args.port, args.propagation, args.router, args.monitoring)
    result = _run_rollout(args, state_dir, "up", version=args.version, replicas=args.replicas)
    status = _environment_status(state_dir)
    if args.json:
        print(
            json.dumps({"ok": result.get("ok"), "supervisor_pid": pid, "rollout": result, "status": status.to_json()})
        )
    else:
        if status.recovered_orphans:
            print(f"recovered from a crashed run: killed {status.recovered_orphans} orphaned process(es)")
        print(f"up: {args.replicas} × {args.version} at {status.url} (supervisor pid {pid}, state {state_dir})")
    return 0 if result.get("ok") else 1


def _deploy(args: argparse.Namespace) -> int:
    local_settings(args.version, image_repository=args.image)
    state_dir = _state_dir(args)
    status = _environment_status(state_dir)  # "not up" is reported before anything else happens
    traffic = _start_traffic(status.url) if args.with_traffic else None
    try:
        if traffic is not None:
            traffic.mark("rollout-start")
        result = _run_rollout(args, state_dir, "deploy", version=args.version, image=args.image, strategy=args.strategy)
        if traffic is not None:
            traffic.mark("rollout-end")
            time.sleep(TRAFFIC_TAIL_S)
    finally:
        report = traffic.stop() if traffic is not None else None
    smoke = None
    if result.get("ok") and not args.no_smoke and args.image == APP_IMAGE:
        smoke = _smoke(status.url, args.version)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": bool(result.get("ok")) and (smoke is None or smoke.ok),
                    "rollout": result,
                    "traffic": report.summary() if report else None,
                    "smoke": None if smoke is None else {"ok": smoke.ok, "problems": smoke.problems},
                }
            )
        )
    else:
        if report is not None:
            _print_summary(report.summary(), result)
        if smoke is not None:
            print(smoke.message())
    return 0 if result.get("ok") and (smoke is None or smoke.ok) else 1


def _canary_decision(args: argparse.Namespace) -> int:
    """`promote` / `abort`: tell the running canary release; it acts at its next look (within a second)."""
    result = request(_state_dir(args), args.command)
    if args.json:
        print(json.dumps({"ok": True, **result}))
    else:
        print(f"{args.command} requested for the canary {result['canary']}; the deploy command shows the outcome")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    result = _run_rollout(args, _state_dir(args), "rollback")
    if args.json:
        print(json.dumps({"ok": result.get("ok"), "rollout": result}))
    return 0 if result.get("ok") else 1


def _indicator(state_dir: Path) -> dict[str, Any] | None:
    """The indicator from the environment's Prometheus (availability, page p99), or None without monitoring."""
    indicator: dict[str, Any] | None = request(state_dir, "indicator").get("indicator")
    return indicator


def indicator_line(indicator: dict[str, Any] | None) -> str | None:
    """`indicator   availability 99.95 % (objective 99.9 %), page p99 4.9 ms (bound 100 ms) over 1m`."""
    if indicator is None:
        return None

    def share(value: float | None) -> str:
        return "no traffic" if value is None else f"{value:.2%}"

    p99 = indicator.get("p99_seconds")
    return (
        f"  indicator    availability {share(indicator.get('availability'))} "
        f"(objective {indicator['availability_objective']:.1%}), page p99 "
        f"{'no traffic' if p99 is None else f'{p99 * 1000:.1f} ms'} "
        f"(bound {indicator['latency_bound_seconds'] * 1000:g} ms) over {indicator['window']}, from Prometheus"
    )


def _status(args: argparse.Namespace) -> int:
    status = _environment_status(_state_dir(args))
    indicator = _indicator(_state_dir(args))
    if args.json:
        print(json.dumps({**status.to_json(), "indicator": indicator}, indent=1))
        return 0
    counts, rollout = status.counts, status.rollout
    print(f"{status.deployment} at {status.url}: {status.version} ({status.image})")
    print(
        f"rollout: revision {rollout.revision} {rollout.state.value} — {rollout.message}"
        if rollout
        else "rollout: none"
    )
    print(
        f"pods: {counts.pods}/{counts.desired} (old {counts.old}, new {counts.new}), "
        f"ready {counts.ready}, available {counts.available}, terminating {counts.terminating}, "
        f"endpoints {counts.endpoints}"
    )
    for pod in status.pods:
        print(
            f"  {pod.name:<22} {pod.version:<10} {pod.phase.value:<17} ready={str(pod.ready).lower():<5} "
            f"restarts={pod.restarts} {pod.address} pid={pod.pid} node={pod.node}"
        )
    for node in status.nodes:
        cordoned = " (cordoned)" if node.unschedulable else ""
        print(f"node {node.name} in {node.zone}{cordoned}: {', '.join(node.pods) or 'no pods'}")
    ingress = status.ingress
    print(
        f"load balancer: haproxy pid {ingress.pid}; ingress replicas served {ingress.requests} requests "
        f"{ingress.by_status}, {ingress.retried} retried by the ingress"
    )
    tier = status.ingress_deployment
    if tier is not None:
        rollout_line = f"revision {tier.rollout.revision} {tier.rollout.state.value}" if tier.rollout else "none"
        print(f"{tier.deployment}: {tier.version} ({tier.image}), rollout {rollout_line}")
        for pod in tier.pods:
            print(
                f"  {pod.name:<30} {pod.version:<6} {pod.phase.value:<17} ready={str(pod.ready).lower():<5} "
                f"restarts={pod.restarts} {pod.address} pid={pod.pid} node={pod.node}"
            )
    for target in status.targets:
        accepting = "" if target.accepting_new else ", no new connections"
        print(f"target {target.name} {target.address}: {target.health}{accepting}")
    print("revisions: " + ", ".join(f"{r.revision}={r.version}" for r in status.revisions))
    line = indicator_line(indicator)
    if line is not None:
        print(line.strip())
    return 0


def _ingress_release(args: argparse.Namespace) -> int:
    result = _run_rollout(args, _state_dir(args), "ingress-release", version=args.version)
    if args.json:
        print(json.dumps({"ok": result.get("ok"), "rollout": result}))
    return 0 if result.get("ok") else 1


def _nodes(args: argparse.Namespace) -> int:
    nodes = request(_state_dir(args), "nodes")["nodes"]
    if args.json:
        print(json.dumps({"ok": True, "nodes": nodes}))
        return 0
    for node in nodes:
        state = "SchedulingDisabled" if node["unschedulable"] else "Ready"
        print(f"{node['name']:<8} {node['zone']:<8} {state:<18} {', '.join(node['pods']) or '-'}")
    return 0


def _drain(args: argparse.Namespace) -> int:
    result = request(_state_dir(args), "drain", node=args.node, timeout=args.timeout)
    if args.json:
        print(json.dumps({"ok": True, **result}))
    else:
        print(f"node/{args.node} drained in {result['seconds']:.2f} s (cordoned: run uncordon to use it again)")
    return 0


def _uncordon(args: argparse.Namespace) -> int:
    request(_state_dir(args), "uncordon", node=args.node)
    print(json.dumps({"ok": True, "node": args.node}) if args.json else f"node/{args.node} uncordoned")
    return 0


def _nodegroup_update(args: argparse.Namespace) -> int:
    result = request(_state_dir(args), "nodegroup-update", timeout=args.timeout)
    if args.json:
        print(json.dumps({"ok": True, **result}))
    else:
        print("\n".join(result["steps"]))
        print("node-group update complete")
    return 0


def _stop_everything(state_dir: Path) -> tuple[bool, int]:
    """Stop the supervisor (if running) and kill whatever a crashed run left; (stopped, orphans killed)."""
    pid = supervisor_pid(state_dir)
    if pid is not None:
        stop_supervisor(state_dir, pid)
    return pid is not None, len(kill_orphans(state_dir))


def _down(args: argparse.Namespace) -> int:
    stopped, orphans = _stop_everything(_state_dir(args))
    message = (
        "down: every process stopped"
        if stopped
        else "down: the local environment was not running" + (f"; killed {orphans} orphan(s)" if orphans else "")
    )
    if args.json:
        print(json.dumps({"ok": True, "stopped": stopped, "orphans_killed": orphans}))
    else:
        print(message)
    return 0


def _watch(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    status = _environment_status(state_dir)
    traffic = _start_traffic(status.url) if args.with_traffic else None
    last_print = time.monotonic()
    try:
        for message in stream(state_dir, "watch", seconds=args.seconds):
            event = message.get("event")
            if event is not None and args.json:
                print(json.dumps(event), flush=True)  # JSON lines, one per event
            elif event is not None:
                _print_event(args, parse_event(event))
            if traffic is not None and not args.json and time.monotonic() - last_print >= 1.0:
                last_print = time.monotonic()
                snap = traffic.snapshot()
                print(
                    f"traffic: {snap.total} requests, {snap.failed} failed, {snap.retried} retried, "
                    f"versions {dict(snap.by_version)}"
                )
    except KeyboardInterrupt:
        pass
    finally:
        if traffic is not None:
            report = traffic.stop()
            if args.json:
                print(json.dumps({"traffic": report.summary()}))
            else:
                _print_summary(report.summary(), None)
    return 0


def _demo(args: argparse.Namespace) -> int:
    local_settings(args.from_version, args.replicas, router=args.router)
    local_settings(args.to_version, args.replicas)
    if args.from_version == args.to_version:
        raise LocalEnvError("--from and --to must be different versions")
    state_dir = _state_dir(args)
    if supervisor_pid(state_dir) is not None:
        raise LocalEnvError("the local environment is already up; run `python -m localenv down` first")
    chart_path = args.chart or state_dir / "demo-timeline.png"
    _check_monitoring(args)
    start_daemon(state_dir, args.port, args.propagation, args.router, args.monitoring)
    keep = False
    try:
        up = _run_rollout(args, state_dir, "up", version=args.from_version, replicas=args.replicas)
        if not up.get("ok"):
            raise LocalEnvError(f"could not bring {args.from_version} up: {up.get('message')}")
        url = _environment_status(state_dir).url
        if not args.json:
            print(f"\n{args.replicas} × {args.from_version} at {url}; rolling to {args.to_version} under traffic\n")
        # The page, not /version: the indicator's latency objective is the page's (app/slo.py LATENCY).
        traffic = _start_traffic(url, PAGE_PATH)
        try:
            time.sleep(1.0)  # a second of steady state before the rollout, for the chart's baseline
            traffic.mark("rollout-start")
            result = _run_rollout(args, state_dir, "deploy", version=args.to_version, image=APP_IMAGE)
            traffic.mark("rollout-end")
            time.sleep(1.0)
        finally:
            report = traffic.stop()
        events = read_events(state_dir / EVENTS_FILE)
        from localenv.chart import write_timeline

        chart = write_timeline(
            report,
            chart_path,
            f"Rollout {args.from_version} → {args.to_version}, {args.replicas} replicas",
            events=_endpoint_marks(events, report.started_monotonic),
        )
        summary = report.summary()
        smoke = _smoke(url, args.to_version) if result.get("ok") else None
        ok = bool(result.get("ok")) and report.failed == 0 and smoke is not None and smoke.ok
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": ok,
                        "rollout": result,
                        "traffic": summary,
                        "smoke": None if smoke is None else {"ok": smoke.ok, "problems": smoke.problems},
                        "chart": str(chart),
                        "indicator": _indicator(state_dir),
                    }
                )
            )
        else:
            _print_summary(summary, result)
            line = indicator_line(_indicator(state_dir))
            if line is not None:
                print(line)
            if smoke is not None:
                print(smoke.message())
            print(f"chart: {chart}")
        keep = args.keep
        if keep and not args.json:  # --json prints one document
            print(f"left running at {url}; stop it with `python -m localenv down`")
        return 0 if ok else 1
    finally:
        if not keep:
            stopped, _ = _stop_everything(state_dir)
            if stopped and not args.json:
                print("down: every process stopped")


def _tour(args: argparse.Namespace) -> int:
    from localenv.tour import run_tour, summary_lines, to_json

    state_dir = _state_dir(args)
    if supervisor_pid(state_dir) is not None:
        raise LocalEnvError("the local environment is already up; run `python -m localenv down` first")
    steps = run_tour(state_dir, args.port, say=(lambda _: None) if args.json else print)
    document = to_json(steps)
    if args.json:
        print(json.dumps(document))
    else:
        print("\n".join(summary_lines(steps)))
    return 0 if document["ok"] else 1


def _supervise(args: argparse.Namespace) -> int:
    return serve(args.state_dir, args.port, args.propagation, args.router, args.monitoring)


# ---- helpers ----------------------------------------------------------------------------------


def _environment_status(state_dir: Path) -> EnvironmentStatus:
    return EnvironmentStatus.from_json(request(state_dir, "status"))


def _run_rollout(args: argparse.Namespace, state_dir: Path, command: str, **fields: Any) -> RolloutReply:
    """Send a rollout command, print one progress line per event, and return the final result."""
    result: RolloutReply = {}
    for message in stream(state_dir, command, **fields):
        if "event" in message:
            if not args.json:
                _print_event(args, parse_event(message["event"]))
        elif "result" in message:
            result = cast(RolloutReply, message["result"])
    if not args.json:
        print(result.get("message", ""))
    return result


_last_probe: dict[tuple[str, str], bool] = {}
_last_canary_line = [-1.0]


def progress_line(event: Event, verbose: bool = False) -> str | None:
    """One human line for an event (None for a probe result that did not change, unless verbose)."""
    if isinstance(event, ProbeEvent):
        key = (event.pod, event.probe.value)
        changed = _last_probe.get(key) != event.ok
        _last_probe[key] = event.ok
        if not (verbose or changed):
            return None
        what = f"probe {event.probe.value} {event.pod} {'ok' if event.ok else 'FAILED'} ({event.detail})"
    elif isinstance(event, PodEvent):
        what = f"pod {event.pod} ({event.version}) {event.change.value}"
    elif isinstance(event, EndpointsEvent):
        names = ",".join(n.rsplit("-", 2)[-2] + "-" + n.rsplit("-", 1)[-1] for n in event.endpoints)
        what = f"endpoints {event.stage.value}: [{names}]"
    elif isinstance(event, RolloutEvent):
        what = f"rollout {event.step.value}: {event.message}"
    elif isinstance(event, NodeEvent):
        what = f"node {event.node} {event.step.value}" + (f" {event.pod}" if event.pod else "")
        what += f": {event.message}" if event.message else ""
    elif event.step is IngressStep.CANARY_ROUTE:
        what = f"canary {event.version}: weight {event.weight} %"
    elif event.step is IngressStep.CANARY_ANALYSIS:
        # A look every quarter second: print a waiting one once a second, every verdict at once.
        if event.verdict == "wait" and not verbose and event.t - _last_canary_line[0] < 1.0:
            return None
        _last_canary_line[0] = event.t
        what = (
            f"canary {event.weight} % {event.verdict}: {event.requests} req "
            f"{event.failed} failed — {'; '.join(event.reasons or ())}"
        )
    else:
        what = f"ingress {event.step.value}"
    counts = Counts() if isinstance(event, IngressEvent) else event.counts  # the ingress's events carry none
    tally = (
        f"old {counts.old} new {counts.new} ready {counts.ready} available {counts.available} "
        f"endpoints {counts.endpoints}"
    )
    return f"{event.t:8.2f}s  {what:<64} | {tally}"


def _print_event(args: argparse.Namespace, event: Event) -> None:
    line = progress_line(event, verbose=getattr(args, "verbose", False))
    if line is not None:
        print(line, flush=True)


def _start_traffic(url: str, path: str = VERSION_PATH) -> Any:
    from localenv.traffic import Traffic, TrafficPlan

    plan = TrafficPlan(
        url=url + path,
        keepalive_clients=TRAFFIC_KEEPALIVE_CLIENTS,
        fresh_clients=TRAFFIC_FRESH_CLIENTS,
        max_requests=TRAFFIC_MAX_REQUESTS,
        max_seconds=TRAFFIC_MAX_SECONDS,
    )
    return Traffic(plan).start()


def _smoke(url: str, version: str) -> Any:
    from app.smoke import LOCAL_RELEASE_PATIENCE, check_release

    return check_release(url, version, patience=LOCAL_RELEASE_PATIENCE)


def _endpoint_marks(events: list[Event], traffic_start: float) -> list[tuple[float, str]]:
    marks = []
    for event in events:
        if (
            isinstance(event, EndpointsEvent)
            and event.stage is EndpointsStage.APPLIED
            and event.monotonic >= traffic_start
        ):
            versions = "+".join(event.versions or ()) or "none"
            marks.append((event.monotonic - traffic_start, f"endpoints: {len(event.endpoints)} ({versions})"))
    return marks


def _print_summary(summary: dict[str, Any], result: RolloutReply | None) -> None:
    latency = summary.get("latency_ms") or {}
    lines = [
        "",
        "summary",
        f"  requests     {summary['total']} ({summary['rate_per_s']}/s over {summary['duration_s']} s)",
        f"  failed       {summary['failed']}  {summary['by_status']}",
        f"  retried      {summary['retried']} (answered after the ingress tried another pod)",
        f"  versions     {summary['by_version']}",
        f"  switch time  {summary['switch_time_s']} s (first new-version answer → last old-version answer)",
        f"  latency      p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms",
    ]
    if result is not None:
        lines.append(
            f"  rollout      {result.get('seconds')} s to all new pods available, "
            f"{result.get('drained_seconds')} s until the last old pod exited"
        )
    print("\n".join(lines))


def iter_lines(events: Sequence[Event]) -> Iterator[str]:
    """Progress lines for a list of events (e.g. a RolloutResult's), as the CLI prints them."""
    for event in events:
        line = progress_line(event)
        if line is not None:
            yield line
