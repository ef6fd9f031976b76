"""The ingress tier's proof: real HAProxy (the NLB), real nginx ingress replicas, real gunicorn pods, live traffic.

Traffic enters through the load balancer; keep-alive and one-request-per-connection clients, no client
retries, every response counted (status 0 = no answer). The target group's algorithm (register, healthy,
deregister, propagation, deregistration delay, the legacy policy) is tested as tables in
tests/localenv/control/test_target_group.py; here only what real processes can show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.local_environment import start_traffic, started_environment
from localenv import LocalEnvironment
from localenv.environment import EnvironmentStatus

pytestmark = pytest.mark.process

INGRESS_RELEASES = 2
LEGACY_ATTEMPTS = 4


def _serving(status: EnvironmentStatus, version: str) -> bool:
    """Every ingress pod is `version`, Ready, and its target healthy; nothing else is a target any more."""
    deployment = status.ingress_deployment
    assert deployment is not None
    pods = {p.name for p in deployment.pods if p.version == version and p.ready}
    return len(pods) == len(deployment.pods) and {t.name for t in status.targets if t.health == "healthy"} == pods


def test_ingress_tier_releases_under_load_drop_nothing(env: LocalEnvironment) -> None:
    assert env.up("v1", 3).ok
    for number in range(2, INGRESS_RELEASES + 2):
        version = f"c{number}"
        traffic = start_traffic(env)
        try:
            result = env.release_ingress(version)
            # The last old target leaves at the end of its deregistration delay: keep sending until then.
            env.wait_for(lambda s, v=version: _serving(s, v), timeout=30, what=f"only {version} targets")
        finally:
            report = traffic.stop()
        print(
            f"ingress release →{version}: {report.total} requests, {report.failed} failed, "
            f"{report.retried} retried, complete {result.seconds} s, drained {result.drained_seconds} s"
        )
        assert result.ok, result.message
        assert report.total > 200, "too little traffic to prove anything"
        assert report.failed == 0, f"ingress release →{version}: {dict(report.by_status)} {report.errors}"


def test_negative_control_legacy_ingress_tier_loses_requests(tmp_path: Path) -> None:
    """Unready at the first signal, health-check-only removal, reset when unhealthy, no gate, no preStop."""
    failed = 0
    with started_environment(tmp_path / "env", legacy_ingress_tier=True) as env:
        assert env.up("v1", 3).ok
        for number in range(2, LEGACY_ATTEMPTS + 2):
            traffic = start_traffic(env)
            try:
                result = env.release_ingress(f"c{number}")
            finally:
                report = traffic.stop()
            assert result.ok, result.message
            failed += report.failed
            print(f"legacy ingress release {number}: {report.total} requests, {report.failed} failed {report.errors}")
            if failed:
                break
    assert failed > 0, "legacy ingress releases showed no failed request: the harness is blind"


def test_a_sigkilled_ingress_replica_is_taken_out_and_restarted(env: LocalEnvironment) -> None:
    assert env.up("v1", 3).ok
    status = env.status()
    assert status.ingress_deployment is not None
    before = {p.name: p.restarts for p in status.ingress_deployment.pods}
    traffic = start_traffic(env)
    try:
        killed_at = traffic.now()
        victim = env.kill_ingress_pod()
        # The kubelet restarts it at once; HAProxy marks it down if `fall` checks fail before it is back.
        seen_unhealthy: set[str] = set()

        def back(status: EnvironmentStatus) -> bool:
            seen_unhealthy.update(t.name for t in status.targets if t.health != "healthy")
            pods = status.ingress_deployment.pods if status.ingress_deployment else ()
            return any(p.name == victim and p.restarts > before[victim] and p.ready for p in pods) and sum(
                t.health == "healthy" for t in status.targets
            ) == len(before)

        env.wait_for(back, timeout=20, what=f"{victim} to be restarted and its target healthy again")
    finally:
        report = traffic.stop()
    failures = [r for r in report.responses if not r.ok]
    in_flight = [r for r in report.responses if r.t <= killed_at < r.t_end]
    print(
        f"killed ingress replica under load: {report.total} requests, {report.failed} failed, "
        f"{len(in_flight)} in flight at the kill, target seen unhealthy: {victim in seen_unhealthy}; "
        f"failures at {[round(r.t - killed_at, 3) for r in failures]} {report.errors}"
    )
    clients = report.plan.keepalive_clients + report.plan.fresh_clients
    assert len(failures) <= max(len(in_flight), 1) <= clients, [(r.t - killed_at, r.error) for r in failures]
