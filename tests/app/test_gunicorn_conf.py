"""app/gunicorn.conf.py as gunicorn itself reads it: timings from app/timing.py, the pod's env honoured."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from app.contract import AppSettings
from app.contract.manifests import container_env
from app.timing import LOCAL_TIMING, Timing
from harness.gunicorn_processes import GUNICORN, GUNICORN_CONF, REPO_ROOT, gunicorn_environment


def _effective_config(tmp_path: Path, **env: str) -> dict[str, str]:
    """gunicorn's resolved settings (`--print-config`) for this environment."""
    environment = gunicorn_environment(**env)
    if "BIND" not in env:
        del environment["BIND"]  # the helper's loopback default would hide the PORT handling
    # A given metrics dir keeps the config from creating (and leaking) a temporary one.
    environment.setdefault("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    result = subprocess.run(
        [str(GUNICORN), "-c", str(GUNICORN_CONF), "--print-config"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, flags=re.MULTILINE))


def test_defaults_come_from_the_timing_budget(tmp_path: Path) -> None:
    config = _effective_config(tmp_path)
    timing = Timing()
    assert config["graceful_timeout"] == str(timing.graceful_timeout)
    assert config["keepalive"] == str(timing.keepalive)
    assert config["timeout"] == str(timing.worker_timeout)
    assert config["bind"] == "['0.0.0.0:8080']"
    assert config["worker_class"] == "gthread"  # sync workers never keep connections alive
    assert config["worker_tmp_dir"] == "/dev/shm"
    assert config["accesslog"] == "-"
    assert config["logger_class"] == "app.access_log.JsonAccessLogger"
    assert config["wsgi_app"] == "app.wsgi:application"
    assert config["control_socket_disable"] == "True"


def test_the_pods_environment_gives_the_contracts_timings(tmp_path: Path) -> None:
    settings = AppSettings(
        image_repository="example-app", image_tag="v1", host="app.example.test", timing=LOCAL_TIMING, workers=3
    )
    env = {item["name"]: item["value"] for item in container_env(settings)}
    config = _effective_config(tmp_path, **env)
    assert config["graceful_timeout"] == str(LOCAL_TIMING.graceful_timeout)
    assert config["keepalive"] == str(LOCAL_TIMING.keepalive)
    assert config["timeout"] == str(LOCAL_TIMING.worker_timeout)
    assert config["bind"] == f"['0.0.0.0:{settings.container_port}']"
    assert (config["workers"], config["threads"]) == ("3", str(settings.threads))
    assert config["forwarded_allow_ips"] == "['*']"


def test_bind_overrides_port(tmp_path: Path) -> None:
    assert _effective_config(tmp_path, BIND="127.0.0.1:9999", PORT="8081")["bind"] == "['127.0.0.1:9999']"
    assert _effective_config(tmp_path, PORT="8081")["bind"] == "['0.0.0.0:8081']"
