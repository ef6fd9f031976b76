"""The deploy workflows' own logic: check a release tag and the one-time setup, and write a deploy's summary.

Workflow `run:` steps call this file instead of holding logic in shell, so the logic is tested
(tests/workflows/test_release_script.py) and every value reaches it through the environment, never
through `${{ }}` expressions pasted into a script.

    python .github/scripts/release.py check-tag v1.2.3      # exit 2 and one sentence when invalid
    python .github/scripts/release.py check-setup           # exit 2 naming each GitHub variable still missing
    python .github/scripts/release.py summary               # reads DEPLOY_* variables, writes markdown
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The workflows run this with the runner's own python3, before (or without) the virtualenv where the
# repository is installed, so the one import of ours comes from the checkout.
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from app.version import is_valid_tag  # noqa: E402 - needs the repository on sys.path first

# A release is a semantic version with a `v` (optionally a pre-release such as -rc.1); no `+build`
# part, because `+` is not allowed in an image tag and the git tag becomes the image tag.
RELEASE_TAG = re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?")
SUCCESS = "success"
FAILURE = "failure"


def release_tag_problem(tag: str) -> str | None:
    """Why `tag` cannot be released (one sentence naming it and what to do), or None when it can."""
    if not tag:
        return "No release tag was given; push a tag like v1.2.3 or enter one in the tag field."
    if RELEASE_TAG.fullmatch(tag) is None or not is_valid_tag(tag):
        return (
            f"Release tag {tag!r} is not of the form v<major>.<minor>.<patch>[-pre-release] "
            "(e.g. v1.2.3 or v1.2.3-rc.1); pick an existing release tag."
        )
    return None


FIRST_DEPLOY = 'README "First deploy"'
SETUP_VARIABLES = {
    "AWS_DEPLOY_ROLE_ARN": (
        "environment variable of `{stack}`, from the stack's platform phase: "
        '`gh variable set AWS_DEPLOY_ROLE_ARN --env {stack} --body "$(pulumi stack output ciDeployRoleArn -s {stack})"`'
    ),
    "AWS_REGION": "repository variable: `gh variable set AWS_REGION --body <the stacks' aws:region>`",
    "ECR_REPOSITORY": (
        "repository variable, the repository's name: `gh variable set ECR_REPOSITORY --body example-app` "
        "(the part after the first / of `pulumi stack output imageRepository` of the stack that creates it)"
    ),
}
"""The GitHub variables a deploy job reads, and how the one-time setup sets each (README "First deploy")."""


def setup_problems(env: Mapping[str, str], stack: str) -> list[str]:
    """One sentence per GitHub variable the job needs but did not get: the stack's setup is not done yet."""
    return [
        f"{name} is empty: the one-time setup for {stack} is not done ({FIRST_DEPLOY}); set the "
        + how.format(stack=stack)
        for name, how in SETUP_VARIABLES.items()
        if not env.get(name, "").strip()
    ]


@dataclass(frozen=True, kw_only=True)
class SmokeResult:
    """What one run of the pytest smoke suite reported (from its JUnit XML file)."""

    tests: int = 0
    failed: int = 0
    skipped: int = 0
    failures: tuple[str, ...] = ()
    """`test name: first line of the failure` for each failed test."""
    missing: bool = False
    """True when the suite never wrote its report (it did not run, or crashed first)."""

    @property
    def passed(self) -> int:
        """Tests that passed."""
        return self.tests - self.failed - self.skipped

    def line(self) -> str:
        """One line for the summary table."""
        if self.missing:
            return "not run"
        text = f"{self.passed} passed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


def read_smoke_report(path: Path) -> SmokeResult:
    """Count passed and failed smoke tests in pytest's JUnit XML report at `path`."""
    if not path.is_file():
        return SmokeResult(missing=True)
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own pytest's output, written in this job
    except ET.ParseError:
        return SmokeResult(missing=True)
    tests = failed = skipped = 0
    failures: list[str] = []
    for case in root.iter("testcase"):
        tests += 1
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            failed += 1
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            failures.append(f"{case.get('name', '?')}: {message[0] if message else 'failed'}")
        elif case.find("skipped") is not None:
            skipped += 1
    return SmokeResult(tests=tests, failed=failed, skipped=skipped, failures=tuple(failures))


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """Everything one deploy job did to one stack, as the workflow's step outcomes report it."""

    stack: str
    tag: str
    digest: str = ""
    image: str = ""
    url: str = ""
    previous_tag: str = ""
    """The tag the stack ran before this deploy (its `imageTag` output); empty on a first deploy."""
    previous_digest: str = ""
    release_up: str = ""
    """Outcome of `pulumi up` with the new tag: success, failure, skipped, cancelled or empty."""
    release_smoke: str = ""
    rollback_up: str = ""
    rollback_smoke: str = ""
    release_report: SmokeResult = field(default_factory=lambda: SmokeResult(missing=True))
    rollback_report: SmokeResult = field(default_factory=lambda: SmokeResult(missing=True))

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Deployment:
        """Read the DEPLOY_* variables the workflow's summary step sets."""

        def get(name: str) -> str:
            return env.get(f"DEPLOY_{name}", "").strip()

        def report(name: str) -> SmokeResult:
            path = get(name)
            return read_smoke_report(Path(path)) if path else SmokeResult(missing=True)

        return cls(
            stack=get("STACK"),
            tag=get("TAG"),
            digest=get("DIGEST"),
            image=get("IMAGE"),
            url=get("URL"),
            previous_tag=get("PREVIOUS_TAG"),
            previous_digest=get("PREVIOUS_DIGEST"),
            release_up=get("RELEASE_UP"),
            release_smoke=get("RELEASE_SMOKE"),
            rollback_up=get("ROLLBACK_UP"),
            rollback_smoke=get("ROLLBACK_SMOKE"),
            release_report=report("RELEASE_REPORT"),
            rollback_report=report("ROLLBACK_REPORT"),
        )

    @property
    def released(self) -> bool:
        """True when the new tag is deployed and passed the smoke suite."""
        return self.release_up == SUCCESS and self.release_smoke == SUCCESS

    @property
    def rolled_back(self) -> bool:
        """True when the previous tag was deployed again and passed the smoke suite."""
        return self.rollback_up == SUCCESS and self.rollback_smoke == SUCCESS

    def verdict(self) -> str:
        """One sentence: what state the stack is in now, and what to do when it is not the new release."""
        where = f"`{self.stack}`"
        if self.released:
            return f"{self.tag} is live on {where} and passed the smoke suite."
        if self.release_up in ("", "skipped", "cancelled"):
            return f"{self.tag} was not deployed to {where}: a step before `pulumi up` failed; {where} is unchanged."
        failed = "`pulumi up`" if self.release_up == FAILURE else "the smoke suite"
        if not self.previous_tag:
            return (
                f"{self.tag} failed on {where} ({failed} failed) and there is no previous tag to roll back to "
                "(first deploy); fix the release and deploy again."
            )
        if self.previous_tag == self.tag:
            return (
                f"{self.tag} failed on {where} ({failed} failed); it was already the deployed tag, so there is "
                "nothing older to roll back to here; deploy a known-good tag with the Deploy (manual) workflow."
            )
        if self.rolled_back:
            return (
                f"{self.tag} failed on {where} ({failed} failed); rolled back to {self.previous_tag}, "
                "which is deployed again and passed the smoke suite."
            )
        return (
            f"{self.tag} failed on {where} ({failed} failed) and the rollback to {self.previous_tag} failed too; "
            f"{where} needs attention: deploy a known-good tag with the Deploy (manual) workflow."
        )

    def markdown(self) -> str:
        """The job summary: verdict, then URL, version, digest and smoke results of each attempt."""
        icon = "✅" if self.released else ("↩️" if self.rolled_back else "❌")
        rows = [
            ("Environment", f"`{self.stack}`"),
            ("URL", self.url or "(no URL output)"),
            ("Version", f"`{self.tag}`"),
            ("Image", f"`{self.image}`" if self.image else "(unknown)"),
            ("Digest", f"`{self.digest}`" if self.digest else "(unknown)"),
            ("`pulumi up`", self.release_up or "not run"),
            ("Smoke suite", f"{self.release_smoke or 'not run'} ({self.release_report.line()})"),
            ("Previous version", f"`{self.previous_tag}`" if self.previous_tag else "(none: first deploy)"),
        ]
        if self.rollback_up:
            rows += [
                ("Previous digest", f"`{self.previous_digest}`" if self.previous_digest else "(unknown)"),
                ("Rollback `pulumi up`", self.rollback_up),
                ("Rollback smoke suite", f"{self.rollback_smoke or 'not run'} ({self.rollback_report.line()})"),
            ]
        lines = [f"## {icon} Deploy {self.tag} to {self.stack}", "", self.verdict(), "", "| | |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in rows]
        reports = (("Smoke failures", self.release_report), ("Rollback smoke failures", self.rollback_report))
        for title, report in reports:
            if report.failures:
                lines += ["", f"### {title}", ""] + [f"- {failure}" for failure in report.failures]
        return "\n".join(lines) + "\n"


def _annotation(kind: str, title: str, message: str) -> str:
    """A GitHub workflow command; `%`, CR and LF are escaped as the runner expects."""
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{kind} title={title}::{escaped}"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    environ = os.environ if env is None else env
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-tag", help="exit 2 unless the tag is a release tag (v1.2.3)")
    check.add_argument("tag", nargs="?", help="defaults to $RELEASE_TAG")
    commands.add_parser("check-setup", help="exit 2 unless $DEPLOY_STACK's GitHub variables are set (README)")
    commands.add_parser("summary", help="write the deploy job's summary from DEPLOY_* variables")
    args = parser.parse_args(argv)

    if args.command == "check-tag":
        tag = args.tag if args.tag is not None else environ.get("RELEASE_TAG", "")
        problem = release_tag_problem(tag)
        if problem:
            print(_annotation("error", "Invalid release tag", problem))
            return 2
        print(f"{tag} is a valid release tag.")
        return 0

    if args.command == "check-setup":
        stack = environ.get("DEPLOY_STACK", "").strip() or "<stack>"
        problems = setup_problems(environ, stack)
        for problem in problems:
            print(_annotation("error", f"{stack} is not set up", problem))
        if problems:
            return 2
        print(f"The GitHub variables {stack} needs are set.")
        return 0

    deployment = Deployment.from_environ(environ)
    text = deployment.markdown()
    summary_path = environ.get("GITHUB_STEP_SUMMARY", "")
    if summary_path:
        with Path(summary_path).open("a", encoding="utf-8") as summary:
            summary.write(text)
    else:
        print(text)
    kind = "notice" if deployment.released else "error"
    print(_annotation(kind, f"Deploy to {deployment.stack}", deployment.verdict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
