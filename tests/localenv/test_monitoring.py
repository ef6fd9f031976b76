"""The monitoring module's pure parts: configs promtool/amtool accept, kube-state-metrics from status, errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from app import slo
from app.contract import rules
from harness import promtool
from localenv import LocalEnvError
from localenv import monitoring as mon
from localenv.control.disruption import BudgetStatus
from localenv.control.events import Counts
from localenv.control.objects import PodPhase, RolloutState
from localenv.control.status import PodStatus, RolloutStatus, Status

SCOPE = rules.scope_named("example-app", "example-app")


def _pod(name: str, *, ready: bool) -> PodStatus:
    return PodStatus(
        name=name, revision=1, version="v1", image="example-app:v1", phase=PodPhase.RUNNING, pid=1,
        address="127.0.0.1:1", ready=ready, available=ready, restarts=0, age_s=1.0,
    )  # fmt: skip


def _status(state: RolloutState) -> Status:
    return Status(
        deployment="example-app", version="v1", image="example-app:v1", replicas=3,
        counts=Counts(desired=3, pods=3, ready=2, available=2),
        rollout=RolloutStatus(revision=1, version="v1", state=state, message="", seconds=1.0),
        revisions=(), pods=(_pod("a", ready=True), _pod("b", ready=False)), endpoints=(),
    )  # fmt: skip


def _scrape(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"}


@pytest.mark.parametrize(
    ("state", "deadline_exceeded"),
    [(RolloutState.FAILED, 1.0), (RolloutState.COMPLETE, 0.0), (RolloutState.PROGRESSING, 0.0)],
)
def test_kube_state_reports_a_rollout_past_its_deadline_only_when_it_failed(
    state: RolloutState, deadline_exceeded: float
) -> None:
    text = mon.kube_state_text(
        mon.kube_state_lines(namespace="example-app", deployment="example-app", status=_status(state), budget=None)
    )
    samples = _scrape(text)
    stuck = [v for k, v in samples.items() if "ProgressDeadlineExceeded" in k and 'status="false"' in k]
    assert sum(stuck) == deadline_exceeded
    assert samples['kube_deployment_status_replicas_available{namespace="example-app", deployment="example-app"}'] == 2
    ready = {k: v for k, v in samples.items() if k.startswith(slo.POD_READY) and v == 1}
    assert set(ready) == {
        'kube_pod_status_ready{namespace="example-app", pod="a", condition="true"}',
        'kube_pod_status_ready{namespace="example-app", pod="b", condition="false"}',
    }


def test_kube_state_reports_the_budget_shortfall_the_alert_reads() -> None:
    budget = ("example-app", BudgetStatus(expected_pods=3, current_healthy=1, desired_healthy=2, disruptions_allowed=0))
    lines = mon.kube_state_lines(
        namespace="example-app", deployment="example-app", status=_status(RolloutState.COMPLETE), budget=budget
    )
    samples = _scrape(mon.kube_state_text(lines))
    owner = '{namespace="example-app", poddisruptionbudget="example-app"}'
    assert samples[slo.PDB_DESIRED_HEALTHY + owner] - samples[slo.PDB_CURRENT_HEALTHY + owner] == 1


def test_prometheus_config_passes_promtool_and_reads_the_local_profile(tmp_path: Path) -> None:
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(rules.rule_file_text(rules.rule_file(SCOPE, slo.LOCAL)), encoding="utf-8")
    for job in (mon.APP_JOB, mon.INGRESS_JOB):
        (tmp_path / f"{job}.json").write_text(json.dumps(mon.file_sd_targets([("127.0.0.1:1", {"pod": "a"})])))
    config = mon.prometheus_config(
        targets_dir=tmp_path, rule_file=rule_file, alertmanager="127.0.0.1:2", kube_state="127.0.0.1:3"
    )
    path = promtool.write_yaml(tmp_path / "prometheus.yml", config)
    result = promtool.run("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert config["global"]["scrape_interval"] == slo.duration(slo.LOCAL.scrape_interval)
    assert config["global"]["evaluation_interval"] == slo.duration(slo.LOCAL.evaluation_interval)
    honoring = {c["job_name"] for c in config["scrape_configs"] if c.get("honor_labels")}
    assert honoring == {mon.INGRESS_JOB, mon.KUBE_STATE_JOB}  # their namespace label is the app's, kept as is


def test_alertmanager_config_passes_amtool_and_scales_its_waits(tmp_path: Path) -> None:
    config = mon.alertmanager_config("http://127.0.0.1:9/alerts")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    amtool = "/usr/bin/amtool"
    if not Path(amtool).exists():
        pytest.skip("amtool is not installed (Debian package prometheus-alertmanager)")
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # Alertmanager's defaults (30s / 5m / 4h) at the local profile's scale.
    assert (config["route"]["group_wait"], config["route"]["group_interval"]) == ("500ms", "5s")


@pytest.mark.parametrize(
    ("installed", "message"),
    [
        (
            {"prometheus-alertmanager"},
            "prometheus is not installed (Debian package prometheus): run `make system-packages` "
            "(or `sudo apt-get install prometheus`), or start without monitoring (`--no-monitoring`)",
        ),
        (
            {"prometheus"},
            "prometheus-alertmanager is not installed (Debian package prometheus-alertmanager): run `make "
            "system-packages` (or `sudo apt-get install prometheus-alertmanager`), or start without monitoring "
            "(`--no-monitoring`)",
        ),
        (
            set(),
            "prometheus and prometheus-alertmanager are not installed (Debian packages prometheus "
            "prometheus-alertmanager): run `make system-packages` (or `sudo apt-get install prometheus "
            "prometheus-alertmanager`), or start without monitoring (`--no-monitoring`)",
        ),
    ],
)
def test_missing_servers_are_one_error_naming_each_binary_its_package_and_the_ways_on(
    installed: set[str], message: str
) -> None:
    with pytest.raises(LocalEnvError) as raised:
        mon.find_servers(which=lambda name: f"/usr/bin/{name}" if name in installed else None)
    assert str(raised.value) == message


def test_both_servers_found_are_returned_prometheus_first() -> None:
    assert mon.find_servers(which=lambda name: f"/opt/bin/{name}") == (
        "/opt/bin/prometheus",
        "/opt/bin/prometheus-alertmanager",
    )


def test_target_files_are_replaced_in_one_rename(tmp_path: Path) -> None:
    path = tmp_path / "app-pods.json"
    mon.write_atomically(path, "[]")
    mon.write_atomically(path, '[{"targets": ["127.0.0.1:1"]}]')
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:1"]}]
    assert [p.name for p in tmp_path.iterdir()] == ["app-pods.json"]
