"""The local ingress: a real nginx whose Lua balancer reads the pod endpoints from a shared dict.

This is the mechanism ingress-nginx uses on EKS: endpoint changes are written into a
`lua_shared_dict` through a loopback-only admin location and picked up by `balancer_by_lua_block`
on the next request. nginx is never reloaded for an endpoint change — a reload closes idle client
keep-alive connections and drops requests already sent on them.

Retry and keep-alive behaviour comes from `app.contract.ingress.INGRESS_TUNING`, the same values the
EKS ingress-nginx is given. Every response carries `X-Upstream-Status: $upstream_status` (a comma
means the ingress retried on another pod) and the JSON access log records it too, so retries are
counted and never pass for success silently.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.contract.ingress import INGRESS_TUNING, IngressTuning
from app.slo import INGRESS_REQUESTS
from localenv.errors import LocalEnvError
from localenv.processes import LOOPBACK, ProcessRegistry, ensure_port_free, free_port, spawn, stop_group

NGINX_MODULES = Path("/usr/lib/nginx/modules")
LUA_MODULE = NGINX_MODULES / "ngx_http_lua_module.so"
# Debian builds the Lua module against the Nginx Development Kit, which must be loaded first.
NDK_MODULE = NGINX_MODULES / "ndk_http_module.so"
RESTY_CORE = Path("/usr/share/lua/5.1/resty/core.lua")
INSTALL_HINT = "run `make system-packages` (or `sudo apt-get install nginx libnginx-mod-http-lua lua-resty-core`)"
UPSTREAM_STATUS_HEADER = "X-Upstream-Status"
"""Response header carrying nginx's $upstream_status: a comma in it means the ingress retried."""
TEMP_DIR = "nginx-temp"
ACCESS_LOG = "access.log"
ENDPOINTS_PATH = "/endpoints"
# The canary backend (localenv/canary.py): its endpoints, and how requests reach it (weight, header).
CANARY_ENDPOINTS_PATH = "/canary/endpoints"
CANARY_ROUTE_PATH = "/canary/route"
START_TIMEOUT_S = 10.0
# An ingress replica (localenv/ingress_pod.py): its health endpoint, as ingress-nginx's /healthz on :10254 —
# served here on the traffic port under a path no app uses, since a local pod has one port.
REPLICA_HEALTH_PATH = "/.ingress/healthz"
REPLICA_STATE_PATH = "/ingress/state"


def find_nginx() -> str:
    """Path of the nginx binary, or a clear error naming the missing piece and how to install it."""
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if nginx is None:
        raise LocalEnvError(f"nginx is not installed; {INSTALL_HINT}")
    for needed, what in ((LUA_MODULE, "the nginx Lua module"), (RESTY_CORE, "lua-resty-core")):
        if not needed.exists():
            raise LocalEnvError(f"{what} is missing ({needed} not found); {INSTALL_HINT}")
    return nginx


def nginx_conf(
    *,
    state_dir: Path,
    port: int,
    admin_port: int,
    tuning: IngressTuning = INGRESS_TUNING,
    admin_listen: str = "",
    worker_shutdown_timeout: float | None = None,
    metrics: IngressMetrics | None = None,
) -> str:
    """The whole nginx.conf for a foreground nginx that keeps every file it writes in `state_dir`.

    An ingress replica passes `admin_listen` (its unix socket) and `worker_shutdown_timeout` (its drain); it
    then also answers its health endpoint, and while draining closes every keep-alive connection it answers on.
    With `metrics`, it counts every request it answers and serves the counts as ingress-nginx's
    `nginx_ingress_controller_requests` on its own loopback port.
    """
    modules = "".join(
        f"load_module {module};\n" for module in (NDK_MODULE, LUA_MODULE) if module is LUA_MODULE or module.exists()
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers run as us, never as nobody
    temp = state_dir / TEMP_DIR
    replica = bool(admin_listen)
    shutdown_timeout = f"worker_shutdown_timeout {worker_shutdown_timeout:g}s;\n" if worker_shutdown_timeout else ""
    proxy = f"""
            proxy_pass http://app_pods;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_next_upstream {tuning.proxy_next_upstream};
            proxy_next_upstream_tries {tuning.proxy_next_upstream_tries};
            proxy_next_upstream_timeout {tuning.proxy_next_upstream_timeout}s;
            proxy_connect_timeout {tuning.proxy_connect_timeout}s;
            proxy_read_timeout {tuning.proxy_read_timeout}s;
            add_header {UPSTREAM_STATUS_HEADER} $upstream_status always;"""
    if metrics is not None:
        proxy += metrics.log_block()
    # Draining: a request on a keep-alive connection is answered with `Connection: close` (keepalive_timeout 0
    # in a named location, reached by ngx.exec), so clients leave before nginx quits and closes idle ones.
    replica_locations = (
        f"""
        location = {REPLICA_HEALTH_PATH} {{
            access_log off;
            content_by_lua_block {{
                local dict = ngx.shared.endpoints
                -- ingress-nginx checker.go Check(): not while shutting down, and only once the dynamic
                -- balancer has its first endpoints (/is-dynamic-lb-initialized)
                if dict:get("shutting_down") or not dict:get("generation") then
                    return ngx.exit(503)
                end
                ngx.say("ok")
            }}
        }}
        location @draining {{
            keepalive_timeout 0;
            access_by_lua_block {{ choose_peers() }}{proxy}
        }}"""
        if replica
        else ""
    )
    drain_check = (
        'rewrite_by_lua_block { if ngx.shared.endpoints:get("draining") then return ngx.exec("@draining") end }'
    )
    admin = (
        f"""listen {admin_listen};
        access_log off;
        client_body_buffer_size 64k;
        location = {REPLICA_STATE_PATH} {{
            content_by_lua_block {{
                local args = ngx.req.get_uri_args()
                for _, key in ipairs({{ "draining", "shutting_down" }}) do
                    if args[key] then ngx.shared.endpoints:set(key, args[key] == "1") end
                end
                ngx.say("ok")
            }}
        }}"""
        if replica
        else f"""listen {LOOPBACK}:{admin_port};
        access_log off;
        client_body_buffer_size 64k;"""
    )
    allow = "" if replica else "allow 127.0.0.1;\n            deny all;\n            "
    return f"""# Written by localenv; regenerated at every `up`. Endpoint changes never reload it.
{modules}{user}daemon off;
master_process on;
worker_processes 1;
{shutdown_timeout}pid {state_dir / "nginx.pid"};
error_log {state_dir / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}

http {{
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
    log_format json escape=json '{{"time":$msec,"status":$status,"upstream_status":"$upstream_status",'
        '"upstream_addr":"$upstream_addr","request_time":$request_time,"method":"$request_method",'
        '"uri":"$request_uri"}}';
    access_log {state_dir / ACCESS_LOG} json buffer=64k flush=1s;

    # The pod endpoints, shared by every worker; written only through the admin location below.
    lua_shared_dict endpoints 1m;{metrics.shared_dict() if metrics else ""}
    init_by_lua_block {{
        endpoint_cache = {{ generation = -1, peers = {{}} }}
        round_robin = 0
        -- The canary backend, as ingress-nginx's canary Ingress: a header match, else a weighted draw.
        canary_cache = {{ generation = -1, peers = {{}}, weight = 0, variable = nil, value = "" }}
        canary_round_robin = 0
        -- "127.0.0.1:8001 127.0.0.1:8002", as an endpoints PUT sends it, into {{ {{ host, port }}, … }}.
        function parse_peers(text)
            local peers = {{}}
            for host, port in string.gmatch(text, "([%d%.]+):(%d+)") do
                peers[#peers + 1] = {{ host, tonumber(port) }}
            end
            return peers
        end
        -- An admin door to one peer list: a PUT replaces it and bumps its generation; every method reads it.
        function serve_peers(key, generation_key)
            local dict = ngx.shared.endpoints
            if ngx.req.get_method() == "PUT" then
                ngx.req.read_body()
                dict:set(key, ngx.req.get_body_data() or "")
                dict:incr(generation_key, 1, 0)
            end
            ngx.say(dict:get(key) or "")
        end
        -- Pick the backend (canary or main) and the first peer for this request; 503 when there is none.
        function choose_peers()
            local dict = ngx.shared.endpoints
            local generation = dict:get("generation") or 0
            if generation ~= endpoint_cache.generation then
                endpoint_cache.peers = parse_peers(dict:get("peers") or "")
                endpoint_cache.generation = generation
            end
            local canary_generation = dict:get("canary_generation") or 0
            if canary_generation ~= canary_cache.generation then
                local header = dict:get("canary_header") or ""
                canary_cache.peers = parse_peers(dict:get("canary_peers") or "")
                canary_cache.weight = dict:get("canary_weight") or 0
                local variable = "http_" .. (string.gsub(string.lower(header), "-", "_"))
                canary_cache.variable = header ~= "" and variable or nil
                canary_cache.value = dict:get("canary_value") or ""
                canary_cache.generation = canary_generation
            end
            local peers = endpoint_cache.peers
            local canary = false
            if #canary_cache.peers > 0 then
                local marked = canary_cache.variable ~= nil and ngx.var[canary_cache.variable] == canary_cache.value
                canary = marked or (canary_cache.weight > 0 and math.random(100) <= canary_cache.weight)
            end
            if canary then
                peers = canary_cache.peers
            end
            ngx.ctx.canary = canary
            local count = #peers
            if count == 0 then
                ngx.header["{UPSTREAM_STATUS_HEADER}"] = "none"
                return ngx.exit(503)
            end
            if canary then
                canary_round_robin = canary_round_robin % count + 1
                ngx.ctx.next_peer = canary_round_robin
            else
                round_robin = round_robin % count + 1
                ngx.ctx.next_peer = round_robin
            end
            ngx.ctx.peers = peers
        end
    }}
    init_worker_by_lua_block {{ math.randomseed(ngx.now() * 1000 + ngx.worker.pid()) }}

    upstream app_pods {{
        server 0.0.0.1;  # placeholder: the Lua balancer picks every peer
        balancer_by_lua_block {{
            local balancer = require "ngx.balancer"
            local peers = ngx.ctx.peers
            local index = ngx.ctx.next_peer
            -- A retry (proxy_next_upstream) goes to the next pod, like ingress-nginx's round robin.
            ngx.ctx.next_peer = index % #peers + 1
            balancer.set_more_tries(1)
            local ok, err = balancer.set_current_peer(peers[index][1], peers[index][2])
            if not ok then
                ngx.log(ngx.ERR, "cannot set upstream peer: ", err)
                return ngx.exit(500)
            end
        }}
        # Must follow balancer_by_lua_block: the keepalive module wraps the balancer's peer hooks.
        keepalive {tuning.upstream_keepalive_connections};
        keepalive_timeout {tuning.upstream_keepalive_timeout}s;
        keepalive_requests {tuning.upstream_keepalive_requests};
    }}

    server {{
        listen {LOOPBACK}:{port};
        server_name _;
        {replica_locations}
        location / {{
            # "No endpoints" must be answered here: ngx.exit(503) is not allowed in the balancer phase.
            {drain_check if replica else ""}
            access_by_lua_block {{ choose_peers() }}{proxy}
        }}
    }}

{metrics.server() if metrics else ""}
    # The endpoints controller's door into the shared dict: loopback only, on its own port.
    server {{
        {admin}
        location = {ENDPOINTS_PATH} {{
            {allow}content_by_lua_block {{ serve_peers("peers", "generation") }}
        }}
        location = {CANARY_ENDPOINTS_PATH} {{
            {allow}content_by_lua_block {{ serve_peers("canary_peers", "canary_generation") }}
        }}
        location = {CANARY_ROUTE_PATH} {{
            {allow}content_by_lua_block {{
                local dict = ngx.shared.endpoints
                if ngx.req.get_method() == "PUT" then
                    local args = ngx.req.get_uri_args()
                    dict:set("canary_weight", tonumber(args.weight) or 0)
                    dict:set("canary_header", args.header or "")
                    dict:set("canary_value", args.value or "")
                    dict:incr("canary_generation", 1, 0)
                end
                ngx.say(dict:get("canary_weight") or 0, " ", dict:get("canary_header") or "", " ",
                    dict:get("canary_value") or "")
            }}
        }}
    }}
}}
"""


METRICS_PATH = "/metrics"
METRICS_PORT_FILE = "metrics.port"
"""Where a replica writes the port of its metrics server (in its own directory), for service discovery."""


@dataclass(frozen=True, kw_only=True)
class IngressMetrics:
    """ingress-nginx's per-request counter, kept by the Lua log phase and served on a loopback port.

    kubernetes/ingress-nginx controller-v1.15.1 internal/ingress/metric/collectors/socket.go: counter
    `nginx_ingress_controller_requests` with labels status, method, path, namespace, ingress, service,
    canary (plus host); `canary` is the alternative backend's upstream name (namespace-service-port) for a
    request the canary served, empty otherwise. One location (`/`) and one Ingress here, so `path`,
    `namespace`, `ingress` and `service` are constants; status and method come from each request.
    """

    port: int
    namespace: str
    ingress: str
    service: str
    canary_upstream: str
    host: str

    def shared_dict(self) -> str:
        """The counters, shared by every worker."""
        return "\n    lua_shared_dict request_counts 1m;"

    def log_block(self) -> str:
        """Count the request in the log phase: after the answer, with the status the client got."""
        return """
            log_by_lua_block {
                local key = ngx.var.status .. "\\t" .. ngx.req.get_method() .. "\\t" .. (ngx.ctx.canary and "1" or "")
                ngx.shared.request_counts:incr(key, 1, 0)
            }"""

    def server(self) -> str:
        """The metrics server: loopback only, as ingress-nginx's :10254 is reached only by Prometheus."""
        constant = (
            f'path="/",namespace="{self.namespace}",ingress="{self.ingress}",'
            f'service="{self.service}",host="{self.host}"'
        )
        return f"""
    server {{
        listen {LOOPBACK}:{self.port};
        access_log off;
        location = {METRICS_PATH} {{
            default_type "text/plain; version=0.0.4";
            content_by_lua_block {{
                local counts = ngx.shared.request_counts
                ngx.say("# TYPE {INGRESS_REQUESTS} counter")
                for _, key in ipairs(counts:get_keys(0)) do
                    local status, method, canary = string.match(key, "^(%d+)\\t([^\\t]*)\\t(.*)$")
                    local upstream = canary == "1" and "{self.canary_upstream}" or ""
                    ngx.say('{INGRESS_REQUESTS}{{status="', status, '",method="', method, '",canary="', upstream,
                        '",{constant}}} ', counts:get(key))
                end
            }}
        }}
    }}"""


@dataclass(frozen=True)
class AccessLogSummary:
    """What the ingress's access log says: requests by status, and how many needed a retry."""

    requests: int
    by_status: dict[str, int]
    retried: int


class Ingress:
    """One nginx process in the foreground under our supervision, listening on 127.0.0.1:`port`."""

    def __init__(self, state_dir: Path, port: int, registry: ProcessRegistry) -> None:
        self.state_dir = state_dir
        self.requested_port = port
        self.port = port
        self.admin_port = 0
        self._registry = registry
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients reach the app through the ingress."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Write nginx.conf and start nginx; returns when it accepts connections, or raises a clear error."""
        nginx = find_nginx()
        if self.requested_port:
            ensure_port_free(self.requested_port)
            self.port = self.requested_port
        else:
            self.port = free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port:  # a requested port may equal one the kernel offers
            self.admin_port = free_port()
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.state_dir / TEMP_DIR / sub).mkdir(parents=True, exist_ok=True)
        conf = self.state_dir / "nginx.conf"
        conf.write_text(nginx_conf(state_dir=self.state_dir, port=self.port, admin_port=self.admin_port))
        error_log = self.state_dir / "nginx-error.log"
        error_log.write_text("")
        command = [nginx, "-p", str(self.state_dir), "-c", str(conf), "-e", str(error_log)]
        self._process = spawn(command, env=os.environ, log_path=self.state_dir / "nginx.out")
        self._registry.add(self._process.pid, "ingress", "nginx")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                self.endpoints()
                return
            except OSError:
                time.sleep(0.05)
        problem = _last_error(error_log) or "it did not answer in time"
        self.stop()
        if "Address already in use" in problem:
            raise LocalEnvError(
                f"port {self.port} on {LOOPBACK} is already in use; choose another with --port (or --port 0)"
            )
        raise LocalEnvError(f"nginx failed to start: {problem} (see {error_log})")

    def set_endpoints(self, addresses: Sequence[str]) -> None:
        """Replace the balancer's endpoint list (`host:port` strings) without reloading nginx."""
        self._admin("PUT", "\n".join(addresses))

    def endpoints(self) -> list[str]:
        """The endpoint list nginx balances over right now."""
        return [line for line in self._admin("GET", "").splitlines() if line]

    def set_canary_endpoints(self, addresses: Sequence[str]) -> None:
        """Replace the canary backend's endpoints (`host:port`), without reloading nginx."""
        self._admin("PUT", "\n".join(addresses), CANARY_ENDPOINTS_PATH)

    def set_canary_route(self, weight: int, header: str = "", value: str = "") -> None:
        """Send `weight` % of requests, and every request whose `header` equals `value`, to the canary backend."""
        query = urllib.parse.urlencode({"weight": weight, "header": header, "value": value})
        self._admin("PUT", "", f"{CANARY_ROUTE_PATH}?{query}")

    def _admin(self, method: str, body: str, path: str = ENDPOINTS_PATH) -> str:
        connection = http.client.HTTPConnection(LOOPBACK, self.admin_port, timeout=2)
        try:
            connection.request(method, path, body=body.encode() if method == "PUT" else None)
            response = connection.getresponse()
            text = response.read().decode()
            if response.status != 200:
                raise OSError(f"ingress admin answered {response.status}")
            return text
        finally:
            connection.close()

    @property
    def pid(self) -> int | None:
        """nginx master's pid while running."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def alive(self) -> bool:
        """True while the nginx master runs."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop nginx (graceful quit first, then kill) and wait until every nginx process is gone."""
        if self._process is None:
            return
        stop_group(self._process, grace=2.0)
        self._registry.remove(self._process.pid)
        self._process = None

    def access_log_summary(self) -> AccessLogSummary:
        """Requests by status and retried requests, read from the JSON access log."""
        return summarize_access_log(self.state_dir / ACCESS_LOG)


class CanaryBackend(Ingress):
    """The same nginx as the canary's endpoints controller sees it: its endpoints fill the canary backend.

    A view, not a second nginx: starting or stopping it does nothing to the running ingress.
    """

    def __init__(self, ingress: Ingress, registry: ProcessRegistry) -> None:
        super().__init__(ingress.state_dir, ingress.port, registry)
        self._ingress = ingress

    @property
    def url(self) -> str:
        """Where clients reach the app (the one ingress)."""
        return self._ingress.url

    def start(self) -> None:
        """Nothing to start: the ingress runs already."""

    def stop(self) -> None:
        """Nothing to stop: the ingress belongs to the environment."""

    def set_endpoints(self, addresses: Sequence[str]) -> None:
        """Replace the canary backend's endpoints."""
        self._ingress.set_canary_endpoints(addresses)

    def alive(self) -> bool:
        """True while the one nginx runs."""
        return self._ingress.alive()

    def endpoints(self) -> list[str]:
        """The canary backend's endpoints right now."""
        return [line for line in self._ingress._admin("GET", "", CANARY_ENDPOINTS_PATH).splitlines() if line]


def summarize_access_log(path: Path) -> AccessLogSummary:
    """Count the access log's requests by status; a comma in upstream_status means the ingress retried."""
    by_status: Counter[str] = Counter()
    retried = 0
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        by_status[str(record.get("status"))] += 1
        if "," in str(record.get("upstream_status", "")):
            retried += 1
    return AccessLogSummary(requests=sum(by_status.values()), by_status=dict(by_status), retried=retried)


def _last_error(error_log: Path) -> str:
    try:
        lines = [line for line in error_log.read_text().splitlines() if "[emerg]" in line or "[alert]" in line]
    except FileNotFoundError:
        return ""
    if not lines:
        return ""
    return lines[-1].split("] ", 1)[-1]
