"""Post-deploy smoke checks: does the URL we just deployed to really serve the release we deployed?

One library, three callers: the Pulumi `SmokeTest` resource (infra/smoke_test.py) fails `pulumi up`
with a report's message, the pytest suite (`pytest tests/smoke --base-url URL --expected-version TAG`)
runs each check as its own test, and the local environment verifies its deploys with it.

    report = check_release("https://example-app.int.example.com", "v1.2.3", patience=RELEASE_PATIENCE)
    if not report.ok:
        raise SystemExit(report.message())

The checks, in order: `/version` reports the expected version on N consecutive requests (polled until
then, or until the timeout: old pods keep answering while a rollout finishes), `/healthz` answers 200,
the page `/` shows the version, and for https every request verified TLS (requests verifies by
default; a failure is reported as a TLS problem, not a generic error).

Not part of the image: requests is a deploy-time dependency, and app/.dockerignore leaves this file out.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from app.serving import LIVENESS_PATH, PAGE_PATH, VERSION_PATH, page_version

REQUEST_TIMEOUT = 5.0
"""Seconds one request may take; a slower answer counts as no answer."""
TLS_FAILURE = "TLS did not verify"


@dataclass(frozen=True, kw_only=True)
class Patience:
    """How hard the checks look for a release: answers in a row, how long to wait for them, how often to ask."""

    consecutive: int
    """Matching /version answers in a row: through a load balancer they come from several pods."""
    timeout: float
    """Seconds to wait for the new version to be the only one answering."""
    interval: float
    """Seconds between two /version polls."""

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """Why these numbers could never let a release pass (one sentence), or None when they can."""
        if self.consecutive < 1:
            return f"consecutive must be ≥ 1, got {self.consecutive}"
        if not self.interval > 0:
            return f"interval must be > 0 s, got {self.interval}"
        if not self.timeout >= self.consecutive * self.interval:
            return (
                f"timeout {self.timeout:g} s is shorter than {self.consecutive} polls {self.interval:g} s apart, "
                "so the check could never pass; wait longer or poll more often"
            )
        return None


RELEASE_PATIENCE = Patience(consecutive=5, timeout=120.0, interval=1.0)
"""A release on EKS (`pulumi up`'s SmokeTest, the smoke suite, `python -m app.smoke`): old pods keep
answering while the rollout finishes, and a new stack's DNS and first certificate take a while."""
CANARY_PATIENCE = dataclasses.replace(RELEASE_PATIENCE, consecutive=3, timeout=60.0)
"""A canary step on EKS (infra/canary_driver.py): the canary's pods, reached by header, are already available."""
LOCAL_RELEASE_PATIENCE = dataclasses.replace(RELEASE_PATIENCE, timeout=30.0, interval=0.2)
"""A release in the local environment (`python -m localenv deploy`): the same check at a human scale."""
LOCAL_CANARY_PATIENCE = dataclasses.replace(CANARY_PATIENCE, timeout=10.0, interval=0.1)
"""A local canary step (localenv/canary.py): the same check at a human scale."""


@dataclass(frozen=True, kw_only=True)
class Observation:
    """One request a check made, and what came back."""

    check: str
    """Which check asked: version, health, page or tls."""
    url: str
    """The URL requested."""
    status: int | None
    """HTTP status, or None when no answer came (connection, TLS or timeout error)."""
    seen: str
    """The version reported, the page's version text, or the error."""
    elapsed: float
    """Seconds since the check started."""

    def describe(self) -> str:
        """One short line for a report: status (or 'no answer') and what was seen."""
        answer = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.check} {self.url} at {self.elapsed:.1f}s: {answer}, {self.seen}"


@dataclass(frozen=True, kw_only=True)
class Findings:
    """What went wrong (empty when all passed) and what was seen, for one check or a whole smoke test."""

    problems: list[str] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing went wrong."""
        return not self.problems


@dataclass(frozen=True, kw_only=True)
class CheckResult(Findings):
    """The outcome of one check: what went wrong (empty when it passed) and what it saw."""

    name: str


@dataclass(frozen=True, kw_only=True)
class SmokeReport(Findings):
    """Every check's outcome against one URL and version; `message()` is what a person reads."""

    base_url: str
    expected_version: str

    def message(self) -> str:
        """A summary: the verdict, each problem, and a tally of what the version polls saw."""
        verdict = "passed" if self.ok else f"FAILED ({len(self.problems)} problem(s))"
        lines = [f"Smoke test of {self.base_url} for version {self.expected_version}: {verdict}"]
        lines += [f"  - {problem}" for problem in self.problems]
        polls = [o for o in self.observations if o.check == "version"]
        if polls:
            lines.append(f"  /version answers: {tally(polls)}")
        return "\n".join(lines)


class TLSVerificationError(Exception):
    """The server's certificate did not verify; carries the reason requests gave."""


def tally(observations: Sequence[Observation]) -> str:
    """'v2 ×5, v1 ×3, no answer ×1 (…)' — how often each answer was seen, most frequent first."""
    counts: Counter[str] = Counter(o.seen if o.status == 200 else _short(o) for o in observations)
    return ", ".join(f"{seen} ×{count}" for seen, count in counts.most_common())


def _short(observation: Observation) -> str:
    if observation.status is None:
        return f"no answer ({observation.seen})"
    return f"HTTP {observation.status}"


def _is_tls_failure(observation: Observation) -> bool:
    return observation.status is None and observation.seen.startswith(TLS_FAILURE)


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _get(session: requests.Session, url: str, verify: bool | str, accept: str) -> requests.Response:
    """GET once; a certificate failure is raised as TLSVerificationError so callers can say so plainly."""
    try:
        return session.get(
            url, timeout=REQUEST_TIMEOUT, verify=verify, headers={"Accept": accept}, allow_redirects=False
        )
    except requests.exceptions.SSLError as error:
        raise TLSVerificationError(_reason(error)) from None


def _reason(error: BaseException) -> str:
    """The useful part of a requests error: urllib3 wraps the cause in several layers of repr."""
    text = str(error)
    verify = re.search(r"certificate verify failed: ([^(]+)", text)
    if verify:
        return "certificate verify failed: " + verify.group(1).strip()
    cause = re.search(r"\] ([^'\"(]+)", text)
    return (cause.group(1).strip() if cause else text)[:160]


def _observe(
    check: str,
    url: str,
    *,
    session: requests.Session,
    verify: bool | str,
    started: float,
    read: Callable[[requests.Response], str],
    accept: str = "application/json",
) -> Observation:
    """Make one request and record it; errors become observations, never exceptions."""
    try:
        response = _get(session, url, verify, accept)
        seen = read(response) if response.status_code == 200 else response.text[:80].strip() or "(empty body)"
        status: int | None = response.status_code
    except TLSVerificationError as error:
        seen, status = f"{TLS_FAILURE}: {error}", None
    except requests.RequestException as error:
        seen, status = f"{type(error).__name__}: {_reason(error)}", None
    return Observation(check=check, url=url, status=status, seen=seen, elapsed=time.monotonic() - started)


def _reported_version(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "(not JSON)"
    version = body.get("version") if isinstance(body, dict) else None
    return str(version) if version is not None else "(no version field)"


def _tls_problem(base_url: str, observations: Sequence[Observation]) -> str | None:
    failures = [o for o in observations if _is_tls_failure(o)]
    if not failures:
        return None
    reason = failures[-1].seen.removeprefix(TLS_FAILURE + ": ")
    return (
        f"{TLS_FAILURE} for {urlsplit(base_url).hostname} on {len(failures)} of {len(observations)} request(s) "
        f"({reason}); is the certificate issued, and trusted for this host?"
    )


def wait_for_version(
    base_url: str,
    expected_version: str,
    *,
    patience: Patience = RELEASE_PATIENCE,
    verify: bool | str = True,
    session: requests.Session | None = None,
) -> CheckResult:
    """Poll /version until it reports `expected_version` on `patience.consecutive` requests in a row, or time out."""
    consecutive, timeout, interval = patience.consecutive, patience.timeout, patience.interval
    own = session or requests.Session()
    url = _join(base_url, VERSION_PATH)
    started = time.monotonic()
    observations: list[Observation] = []
    streak = longest = 0
    try:
        while True:
            observation = _observe("version", url, session=own, verify=verify, started=started, read=_reported_version)
            observations.append(observation)
            streak = streak + 1 if observation.status == 200 and observation.seen == expected_version else 0
            longest = max(longest, streak)
            if streak >= consecutive:
                return CheckResult(name="version", observations=observations)
            if time.monotonic() - started + interval > timeout:
                break
            time.sleep(interval)
    finally:
        if session is None:
            own.close()
    problems = [
        f"{VERSION_PATH} did not report {expected_version} on {consecutive} consecutive requests within "
        f"{timeout:g} s (longest run {longest}); saw: {tally(observations)}"
    ]
    tls = _tls_problem(base_url, observations)
    if tls:
        problems.append(tls)
    return CheckResult(name="version", problems=problems, observations=observations)


def check_health(base_url: str, *, verify: bool | str = True, session: requests.Session | None = None) -> CheckResult:
    """/healthz answers 200."""
    own = session or requests.Session()
    try:
        observation = _observe(
            "health",
            _join(base_url, LIVENESS_PATH),
            session=own,
            verify=verify,
            started=time.monotonic(),
            read=lambda r: r.text[:80].strip(),
        )
    finally:
        if session is None:
            own.close()
    problems = []
    if _is_tls_failure(observation):
        problems.append(str(_tls_problem(base_url, [observation])))
    elif observation.status != 200:
        problems.append(f"{LIVENESS_PATH} gave {_short(observation)}, expected HTTP 200")
    return CheckResult(name="health", problems=problems, observations=[observation])


def check_page(
    base_url: str, expected_version: str, *, verify: bool | str = True, session: requests.Session | None = None
) -> CheckResult:
    """The page / answers 200 as HTML and shows `expected_version` where a visitor reads it."""
    own = session or requests.Session()

    def read(response: requests.Response) -> str:
        shown = page_version(response.text)
        return shown if shown is not None else "(no version on the page)"

    try:
        observation = _observe(
            "page",
            _join(base_url, PAGE_PATH),
            session=own,
            verify=verify,
            started=time.monotonic(),
            read=read,
            accept="text/html",
        )
    finally:
        if session is None:
            own.close()
    problems = []
    if _is_tls_failure(observation):
        problems.append(str(_tls_problem(base_url, [observation])))
    elif observation.status != 200:
        problems.append(f"the page {PAGE_PATH} gave {_short(observation)}, expected HTTP 200")
    elif observation.seen != expected_version:
        problems.append(f"the page {PAGE_PATH} shows {observation.seen!r}, expected {expected_version!r}")
    return CheckResult(name="page", problems=problems, observations=[observation])


def check_tls(base_url: str, *, verify: bool | str = True, session: requests.Session | None = None) -> CheckResult:
    """For an https URL, the certificate verifies for its host; a plain http URL has nothing to verify."""
    if urlsplit(base_url).scheme != "https":
        return CheckResult(name="tls")
    own = session or requests.Session()
    try:
        observation = _observe(
            "tls",
            _join(base_url, LIVENESS_PATH),
            session=own,
            verify=verify,
            started=time.monotonic(),
            read=lambda r: "certificate verified",
        )
    finally:
        if session is None:
            own.close()
    problem = _tls_problem(base_url, [observation])
    if problem is None and observation.status is None:
        problem = f"no TLS answer from {urlsplit(base_url).hostname}: {observation.seen}"
    return CheckResult(name="tls", problems=[problem] if problem else [], observations=[observation])


def validate_base_url(base_url: str) -> str | None:
    """Why `base_url` cannot be checked (one sentence), or None when it is an http(s) URL with a host."""
    parts = urlsplit(base_url)
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return f"base URL {base_url!r} has an invalid port; use a number from 1 to 65535"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"base URL {base_url!r} must be an http:// or https:// URL with a host, e.g. https://example-app.example.com"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"base URL {base_url!r} must not have a path, query or fragment; give only scheme and host (and port)"
    return None


def check_release(
    base_url: str,
    expected_version: str,
    *,
    patience: Patience = RELEASE_PATIENCE,
    verify: bool | str = True,
    headers: Mapping[str, str] | None = None,
) -> SmokeReport:
    """Run every check against `base_url` for `expected_version`; never raises for what the server does.

    `headers` go with every request, e.g. {"X-Canary": "always"} to check a canary through the ingress.
    """
    invalid = validate_base_url(base_url)
    if invalid:
        return SmokeReport(base_url=base_url, expected_version=expected_version, problems=[invalid])
    with requests.Session() as session:
        session.headers.update(headers or {})
        results = [wait_for_version(base_url, expected_version, patience=patience, verify=verify, session=session)]
        # After the rollout converged the rest are single requests; run them even after a failure so
        # the report says everything that is wrong at once.
        results.append(check_health(base_url, verify=verify, session=session))
        results.append(check_page(base_url, expected_version, verify=verify, session=session))
        results.append(check_tls(base_url, verify=verify, session=session))
    observations = [o for result in results for o in result.observations]
    # A certificate that does not verify fails every check; say so once, over all requests.
    problems = [p for result in results for p in result.problems if not p.startswith(TLS_FAILURE)]
    tls = _tls_problem(base_url, observations)
    if tls:
        problems.append(tls)
    return SmokeReport(
        base_url=base_url, expected_version=expected_version, problems=problems, observations=observations
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m app.smoke URL VERSION`: print the report; exit 0 when it passed, 1 when not."""
    parser = argparse.ArgumentParser(prog="python -m app.smoke", description=main.__doc__)
    parser.add_argument("base_url", help="the environment's URL, e.g. https://example-app.int.example.com")
    parser.add_argument("expected_version", help="the image tag that should be answering, e.g. v1.2.3")
    default = RELEASE_PATIENCE
    parser.add_argument("--consecutive", type=int, default=default.consecutive, help="matching answers in a row")
    parser.add_argument("--timeout", type=float, default=default.timeout, help="seconds to wait for the version")
    parser.add_argument("--interval", type=float, default=default.interval, help="seconds between polls")
    parser.add_argument("--ca-bundle", default=None, help="PEM file of CAs to trust instead of the system's")
    args = parser.parse_args(argv)
    try:
        patience = Patience(consecutive=args.consecutive, timeout=args.timeout, interval=args.interval)
    except ValueError as error:
        parser.error(f"--{error}")
    report = check_release(args.base_url, args.expected_version, patience=patience, verify=args.ca_bundle or True)
    print(report.message())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
