"""The proof: real nginx, real gunicorn pods, live traffic — zero downtime holds, and its absence is seen.

Each test drives `LocalEnvironment` with the Deployment the contract renders (or a deliberately broken
copy) while the traffic generator sends requests on keep-alive and fresh connections, with no
client-side retries. Retries the ingress makes are counted separately and never pass for success.
"""

from __future__ import annotations

import copy
import socket
import time

import pytest

from harness.local_environment import all_new_endpoints_at, naive_deployment, start_traffic
from localenv import LocalEnvironment, local_deployment
from localenv.images import CRASH_IMAGE, NEVER_READY_IMAGE

pytestmark = pytest.mark.process

ROLLOUTS = 5
NAIVE_ATTEMPTS = 4
# The never-ready and crash releases would wait the profile's whole progress deadline; a shorter
# deadline in the dict keeps the test quick and is exactly what the controller must honour.
SHORT_PROGRESS_DEADLINE = 4
# Traffic kept running after a rollout, to see who answers once it is over.
AFTER_ROLLOUT_S = 0.5


def test_five_rollouts_under_load_drop_nothing_and_switch_one_way(env: LocalEnvironment) -> None:
    assert env.up("v0", 3).ok
    for number in range(1, ROLLOUTS + 1):
        old, new = f"v{number - 1}", f"v{number}"
        traffic = start_traffic(env)
        try:
            traffic.mark("rollout-start")
            result = env.deploy(new)
            traffic.mark("rollout-end")
            time.sleep(AFTER_ROLLOUT_S)
        finally:
            report = traffic.stop()
        print(
            f"{old}→{new}: {report.total} requests, {report.failed} failed, {report.retried} retried, "
            f"complete {result.seconds} s, drained {result.drained_seconds} s"
        )
        assert result.ok, result.message
        assert report.total > 200, "too little traffic to prove anything"
        assert report.failed == 0, f"rollout {old}→{new}: {report.failed} failed {dict(report.by_status)}"
        assert report.by_version[new] > 0
        # After the rollout, only the new version answers.
        assert set(env.status()["endpoints"]) and {p["version"] for p in env.status()["pods"]} == {new}
        tail = [r for r in report.responses if r.t >= report.marks["rollout-end"]]
        assert tail and all(r.version == new for r in tail)
        # One-way: once every endpoint at the ingress is new, no request sent later meets the old version.
        all_new = all_new_endpoints_at(result.events, new)
        assert all_new is not None
        late_old = report.last_old_after_all_new(report.to_traffic_time(all_new), new)
        assert late_old is None, f"old version answered at {late_old} after all endpoints were new"


def test_negative_control_naive_spec_drops_requests(env: LocalEnvironment) -> None:
    """Without readiness gate, preStop and with maxUnavailable 1, the same harness must see failures."""
    assert env.up("v0", 3).ok
    failed = retried = 0
    for number in range(1, NAIVE_ATTEMPTS + 1):
        traffic = start_traffic(env)
        try:
            result = env.deploy(deployment=naive_deployment(f"v{number}"))
        finally:
            report = traffic.stop()
        assert result.ok, result.message
        failed += report.failed
        retried += report.retried
        print(f"naive rollout {number}: {report.total} requests, {report.failed} failed, {report.retried} retried")
        if failed:
            break
    # The ingress's retries hide most of the damage (counted as retried); some requests still fail.
    assert failed > 0, f"naive rollouts showed no failed request ({retried} retried): the harness is blind"
    assert retried > 0


def test_release_that_never_becomes_ready_fails_at_deadline_and_rolls_back(env: LocalEnvironment) -> None:
    assert env.up("v1", 3).ok
    broken = local_deployment("v2", 3, image_repository=NEVER_READY_IMAGE)
    broken["spec"]["progressDeadlineSeconds"] = SHORT_PROGRESS_DEADLINE
    traffic = start_traffic(env)
    try:
        result = env.deploy(deployment=broken)
    finally:
        report = traffic.stop()
    assert result.state == "failed"
    assert "ProgressDeadlineExceeded" in result.message and "old pods keep serving" in result.message
    assert report.failed == 0
    assert set(report.by_version) == {"v1"}
    assert env.status()["counts"]["available"] == 3

    back = env.rollback()
    assert back.ok, back.message
    status = env.status()
    assert {p["version"] for p in status["pods"]} == {"v1"}
    assert all(p["image"] == "example-app:v1" for p in status["pods"])
    assert status["counts"] == {**status["counts"], "pods": 3, "terminating": 0, "endpoints": 3}


def test_crashing_release_and_killed_pod(env: LocalEnvironment) -> None:
    assert env.up("v1", 3).ok
    crashing = local_deployment("v2", 3, image_repository=CRASH_IMAGE)
    crashing["spec"]["progressDeadlineSeconds"] = SHORT_PROGRESS_DEADLINE
    traffic = start_traffic(env)
    try:
        result = env.deploy(deployment=crashing)
    finally:
        report = traffic.stop()
    assert result.state == "failed", result.message
    exits = [e for e in result.events if e["kind"] == "pod" and e["change"] == "ContainerExited"]
    assert len(exits) >= 2, "the crashing pod should have been restarted at least once"
    assert report.failed == 0 and set(report.by_version) == {"v1"}
    assert env.rollback().ok

    # Steady state: SIGKILL one serving pod under load; the kubelet restarts it, GETs keep succeeding.
    before = {p["name"]: p["restarts"] for p in env.status()["pods"]}
    traffic = start_traffic(env)
    try:
        killed_at = traffic.now()
        victim = env.kill_pod()
        env.wait_for(
            lambda s: (
                any(p["name"] == victim and p["restarts"] > before[victim] and p["ready"] for p in s["pods"])
                and len(s["endpoints"]) == 3
            ),
            timeout=20,
            what=f"{victim} to be restarted and back in the endpoints",
        )
    finally:
        report = traffic.stop()
    print(f"killed pod under load: {report.total} requests, {report.failed} failed, {report.retried} retried")
    # The target is 0 and most runs get 0 (nginx retries a connection the dead pod refuses or resets).
    # A SIGKILL can still cut a request the pod was already answering; at most one per client can be
    # in flight, and only around the kill: anything more, or later, is a real defect.
    failures = [r for r in report.responses if not r.ok]
    clients = report.plan.keepalive_clients + report.plan.fresh_clients
    assert len(failures) <= clients, f"GETs failed after a pod was SIGKILLed: {dict(report.by_status)}"
    assert all(abs(r.t - killed_at) < 1.0 for r in failures), [(r.t - killed_at, r.error) for r in failures]


def test_ten_replicas_39_percent_keeps_the_fenceposts_at_every_event(env: LocalEnvironment) -> None:
    """39 %/39 % of 10 → surge 4, unavailable 3: checked at every event of the rollout."""
    replicas, surge, unavailable = 10, 4, 3
    spec = copy.deepcopy(local_deployment("v1", replicas))
    spec["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "39%", "maxUnavailable": "39%"}
    assert env.up(deployment=spec).ok
    rolled = copy.deepcopy(spec)
    container = rolled["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "example-app:v2"
    container["env"] = [{**e, "value": "v2"} if e["name"] == "APP_VERSION" else e for e in container["env"]]
    result = env.deploy(deployment=rolled)
    assert result.ok, result.message
    counted = [e for e in result.events if "counts" in e]
    assert len(counted) > 20
    assert max(e["counts"]["pods"] for e in counted) == replicas + surge, "the surge was not used"
    for event in counted:
        counts = event["counts"]
        assert counts["pods"] <= replicas + surge, event
        assert counts["available"] >= replicas - unavailable, event
    # With 3 allowed unavailable, old pods went before new ones were ready: the floor was reached.
    assert min(e["counts"]["available"] for e in counted) == replicas - unavailable


def test_failing_liveness_restarts_the_container(env: LocalEnvironment) -> None:
    spec = copy.deepcopy(local_deployment("v1", 2))
    container = spec["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"].update(httpGet={"path": "/no-such-path", "port": "http"}, periodSeconds=1)
    env.up(deployment=spec, wait=False)
    env.wait_for(lambda s: any(p["restarts"] >= 1 for p in s["pods"]), timeout=30, what="a liveness restart")
    restarts = [e for e in env.events if e["kind"] == "pod" and e["change"] == "Restarting"]
    assert restarts and restarts[0]["reason"] == "liveness probe failed"
    failures = [e for e in env.events if e["kind"] == "probe" and e["pod"] == restarts[0]["pod"] and not e["ok"]]
    assert len(failures) >= container["livenessProbe"]["failureThreshold"]


def test_sigkill_at_the_grace_deadline(env: LocalEnvironment) -> None:
    """A pod still busy when terminationGracePeriodSeconds ends is SIGKILLed, as the kubelet does."""
    spec = copy.deepcopy(local_deployment("v1", 2))
    pod_spec = spec["spec"]["template"]["spec"]
    pod_spec["terminationGracePeriodSeconds"] = 1
    del pod_spec["containers"][0]["lifecycle"]  # no preStop: SIGTERM at once, SIGKILL 1 s later
    assert env.up(deployment=spec).ok
    # Idle keep-alive connections: gunicorn lingers on them after SIGTERM, longer than the 1 s grace.
    held = []
    try:
        for pod in env.status()["pods"]:
            host, port = pod["address"].split(":")
            connection = socket.create_connection((host, int(port)), timeout=5)
            held.append(connection)
            connection.sendall(b"GET /version HTTP/1.1\r\nHost: pod\r\n\r\n")
            assert connection.recv(1024).startswith(b"HTTP/1.1 200")
        fewer = copy.deepcopy(spec)
        fewer["spec"]["replicas"] = 1
        env.up(deployment=fewer)
        env.wait_for(lambda s: len(s["pods"]) == 1, timeout=15, what="the scaled-down pod to be gone")
    finally:
        for connection in held:
            connection.close()
    pod_events = [e for e in env.events if e["kind"] == "pod"]
    victim = next(e["pod"] for e in pod_events if e["change"] == "Terminating")
    changes = {e["change"]: e["t"] for e in pod_events if e["pod"] == victim}
    assert "SIGKILL" in changes, changes
    assert changes["SIGKILL"] - changes["Terminating"] == pytest.approx(1.0, abs=0.2)
