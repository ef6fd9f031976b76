"""The local ingress: the platform's retry/keep-alive values, a Lua balancer, and no reload for endpoint changes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.contract.ingress import INGRESS_TUNING
from localenv import LocalEnvError, LocalEnvironment
from localenv import ingress as ingress_module
from localenv.ingress import UPSTREAM_STATUS_HEADER, nginx_conf


def test_conf_uses_the_platform_values_and_a_loopback_only_admin(tmp_path: Path) -> None:
    conf = nginx_conf(state_dir=tmp_path, port=8080, admin_port=9000)
    t = INGRESS_TUNING
    for line in (
        f"proxy_next_upstream {t.proxy_next_upstream};",
        f"proxy_next_upstream_tries {t.proxy_next_upstream_tries};",
        f"proxy_next_upstream_timeout {t.proxy_next_upstream_timeout}s;",
        f"proxy_connect_timeout {t.proxy_connect_timeout}s;",
        f"proxy_read_timeout {t.proxy_read_timeout}s;",
        f"keepalive {t.upstream_keepalive_connections};",
        f"keepalive_timeout {t.upstream_keepalive_timeout}s;",
        f"keepalive_requests {t.upstream_keepalive_requests};",
        f"add_header {UPSTREAM_STATUS_HEADER} $upstream_status always;",
        "listen 127.0.0.1:8080;",
        "listen 127.0.0.1:9000;",
        "allow 127.0.0.1;",
        "deny all;",
    ):
        assert line in conf, line
    # The keepalive module wraps the balancer's peer hooks only when it comes after the Lua balancer.
    assert conf.index("balancer_by_lua_block") < conf.index(f"keepalive {t.upstream_keepalive_connections};")
    assert "ngx.exit(503)" in conf.split("access_by_lua_block")[1].split("proxy_pass")[0]
    assert str(tmp_path) in conf.split("pid ")[1].split(";")[0]


def test_missing_lua_module_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ingress_module, "LUA_MODULE", tmp_path / "missing.so")
    with pytest.raises(LocalEnvError, match="make system-packages"):
        LocalEnvironment(tmp_path / "env", port=0).start()
    assert not (tmp_path / "env").exists(), "nothing may be half-started"


@pytest.mark.process
def test_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = LocalEnvironment(tmp_path / "env", port=port)
        with pytest.raises(LocalEnvError, match=rf"port {port} .*already in use.*--port"):
            env.start()
    assert not (tmp_path / "env" / "processes.json").exists()
