"""Tell the team's chat what a deploy job is doing: release started, stage passed, rolled back.

The same Slack-format incoming webhook Alertmanager posts to (README "Observability"), held as the
`CHAT_WEBHOOK_URL` repository or environment secret. Every value arrives through the environment (the
workflow never pastes `${{ }}` into a script). No webhook: one `::notice` and exit 0. A chat outage: one
`::warning` and exit 0 — a notification never fails or holds up a deploy.

    python .github/scripts/notify.py started        # DEPLOY_STACK, DEPLOY_TAG, DEPLOY_PREVIOUS_TAG
    python .github/scripts/notify.py passed         # + DEPLOY_URL
    python .github/scripts/notify.py rolled-back    # + DEPLOY_RELEASE_REPORT (pytest's JUnit XML of the smoke suite)
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from release import read_smoke_report

EVENTS = ("started", "passed", "rolled-back")
WEBHOOK_VARIABLE = "CHAT_WEBHOOK_URL"
POST_TIMEOUT_S = 10.0
"""A chat service slower than this is treated as down: the deploy goes on."""
MAX_FAILURES_LISTED = 5


def run_link(env: Mapping[str, str]) -> str:
    """The workflow run's address, from GitHub's default variables; empty outside GitHub Actions."""
    server, repository, run = (env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repository}/actions/runs/{run}" if server and repository and run else ""


def message(event: str, env: Mapping[str, str]) -> str:
    """The chat message for `event` (one of EVENTS) of the deploy described by `env`."""
    stack, tag = env.get("DEPLOY_STACK", "?"), env.get("DEPLOY_TAG", "?")
    previous = env.get("DEPLOY_PREVIOUS_TAG", "") or "no app yet"
    if event == "started":
        text = f"Release {tag} to {stack} started (running {previous})."
    elif event == "passed":
        url = env.get("DEPLOY_URL", "")
        text = f"Release {tag} passed {stack}: deployed and smoke-tested" + (f" at {url}." if url else ".")
    elif event == "rolled-back":
        text = f"Release {tag} to {stack} failed and was rolled back to {previous}."
        report = env.get("DEPLOY_RELEASE_REPORT", "")
        smoke = read_smoke_report(Path(report)) if report else None
        if smoke is None or smoke.missing:
            text += " The smoke suite did not run (the release's `pulumi up` failed)."
        else:
            text += f" Smoke suite: {smoke.failed} of {smoke.tests} failed."
            text += "".join(f"\n• {failure}" for failure in smoke.failures[:MAX_FAILURES_LISTED])
    else:
        raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")
    link = run_link(env)
    return text + (f"\n{link}" if link else "")


def post(url: str, text: str) -> str | None:
    """POST {"text": …} to the webhook; None when accepted, else why not (never the URL: it is a secret)."""
    body = json.dumps({"text": text}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - see main()
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S) as answer:  # noqa: S310 - main() sends https only
            answer.read()
    except urllib.error.HTTPError as error:
        return f"the chat webhook answered HTTP {error.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"the chat webhook could not be reached ({type(reason).__name__})"
    return None


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="notify.py", description=__doc__.split("\n")[0])
    parser.add_argument("event", choices=EVENTS)
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    text = message(args.event, env)
    url = env.get(WEBHOOK_VARIABLE, "").strip()
    if not url:
        print(
            f"::notice title=No chat notification::{WEBHOOK_VARIABLE} is not set; skipped: "
            f'{text.splitlines()[0]} (set it with `gh secret set {WEBHOOK_VARIABLE}`, README "Observability")'
        )
        return 0
    if not url.startswith("https://"):
        print(f"::warning title=Chat notification not sent::{WEBHOOK_VARIABLE} is not an https:// URL")
        return 0
    problem = post(url, text)
    if problem is not None:
        print(f"::warning title=Chat notification not sent::{problem}; the deploy goes on")
        return 0
    print(f"chat notified: {text.splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
