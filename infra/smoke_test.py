"""The post-deploy smoke test inside `pulumi up`: an update counts as done only once the release answers.

A Pulumi dynamic resource whose create and update run `app.smoke.check_release` against the stack's
URL. It runs after the Deployment and the routes are ready (depends_on), again whenever the expected
version (the image tag) changes, and fails the update with the report's message — what every request
saw — when the new version does not answer.

    SmokeTest("int-smoke", smoke_test_args(settings.app, workload.url),
              opts=pulumi.ResourceOptions(depends_on=[workload.deployment, *routes]))

Pulumi stores the provider pickled in the stack's state and runs it in its own Python host inside
stacks/, where only stacks/ is importable: so the class travels by value and imports app.smoke (and
requests) inside its methods, from the project root (see the comment above SmokeCheckError).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from app.contract import AppSettings
from app.smoke import RELEASE_PATIENCE, Patience

# Inputs whose change means "check again"; anything else in the state is the last report.
CHECKED_INPUTS = ("base_url", "expected_version", "consecutive", "timeout", "interval", "ca_bundle")


class SmokeCheckError(Exception):
    """The release did not pass the smoke checks; the message is the report a person reads."""


# The engine starts the provider host, `python -u -m pulumi.dynamic`, with the `main:` folder (stacks/) as
# its working directory, so only stacks/ is on its sys.path, and unpickles the provider with dill.loads
# before any code of ours runs (pulumi/pulumi v3.259.0 pkg/engine/project.go getPwdMain,
# sdk/python/dist/pulumi-resource-pulumi-python, sdk/python/lib/pulumi/dynamic/__main__.py get_provider).
# An import of `infra` there fails: dill pickles classes of `__main__` by value, so these two travel whole,
# and _verify puts the project root (where Pulumi.yaml is) on sys.path before importing app.smoke.
SmokeCheckError.__module__ = "__main__"  # its methods are Exception's


class SmokeTestProvider(pulumi.dynamic.ResourceProvider):
    """Runs the smoke checks on create and update; a failed check fails the Pulumi operation."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        """Check the release; the id names what was verified."""
        outs = self._verify(props)
        return pulumi.dynamic.CreateResult(id_=f"{props['base_url']}@{props['expected_version']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        """Check again when the URL, the version or how hard to look changed; never replace."""
        changed = [key for key in CHECKED_INPUTS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        """Check the new release (e.g. after a new image tag rolled out)."""
        return pulumi.dynamic.UpdateResult(outs=self._verify(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to remove: the checks leave nothing behind."""

    @staticmethod
    def _verify(props: dict[str, Any]) -> dict[str, Any]:
        import sys
        from pathlib import Path

        here = Path.cwd()  # stacks/ in the engine's host (see above)
        root = next((folder for folder in (here, *here.parents) if (folder / "Pulumi.yaml").is_file()), here)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        from app.smoke import Patience, check_release

        ca_bundle = props.get("ca_bundle") or ""
        report = check_release(
            str(props["base_url"]),
            str(props["expected_version"]),
            # Numbers reach providers as floats.
            patience=Patience(
                consecutive=int(props["consecutive"]),
                timeout=float(props["timeout"]),
                interval=float(props["interval"]),
            ),
            verify=ca_bundle or True,
        )
        if not report.ok:
            raise SmokeCheckError(report.message())
        return {**props, "report": report.message()}


def _pickled_by_value(cls: type) -> None:
    """Mark a class and its methods as `__main__`'s, which dill pickles whole instead of by import path."""
    cls.__module__ = "__main__"
    for member in vars(cls).values():
        function = getattr(member, "__func__", member)
        if callable(function) and hasattr(function, "__module__"):
            function.__module__ = "__main__"


_pickled_by_value(SmokeTestProvider)  # see SmokeCheckError


@dataclass(frozen=True, kw_only=True)
class SmokeTestArgs:
    """Which release to check, where, and how patiently."""

    base_url: pulumi.Input[str]
    """The environment's URL, e.g. https://example-app.int.example.com."""
    expected_version: pulumi.Input[str]
    """The image tag that must answer; a change re-runs the checks."""
    consecutive: int = RELEASE_PATIENCE.consecutive
    """Matching /version answers in a row."""
    timeout: float = RELEASE_PATIENCE.timeout
    """Seconds to wait for the version (covers DNS and the first certificate on a new stack)."""
    interval: float = RELEASE_PATIENCE.interval
    """Seconds between /version polls."""
    ca_bundle: str = ""
    """Path of a PEM bundle to trust instead of the system's (Let's Encrypt staging roots); empty: system."""


def smoke_test_args(settings: AppSettings, base_url: pulumi.Input[str], ca_bundle: str = "") -> SmokeTestArgs:
    """Checks sized to the stack: two answers per pod in a row, and as patient as a rollout may take."""
    return SmokeTestArgs(
        base_url=base_url,
        expected_version=settings.image_tag,
        # Round-robin over `replicas` pods: 2 × replicas matching answers in a row means old pods are gone.
        consecutive=max(RELEASE_PATIENCE.consecutive, 2 * settings.replicas),
        # A first deploy also waits for DNS and the certificate; a rollout is done within this anyway.
        timeout=float(max(RELEASE_PATIENCE.timeout, settings.timing.rollout_timeout)),
        ca_bundle=ca_bundle,
    )


class SmokeTest(pulumi.dynamic.Resource):
    """A resource that exists only if the release answered at its URL with its version."""

    report: pulumi.Output[str]
    """The last passing report: what the checks saw."""

    def __init__(self, name: str, args: SmokeTestArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        try:  # the checks' own rule: numbers that could never let a release pass are refused here
            Patience(consecutive=args.consecutive, timeout=args.timeout, interval=args.interval)
        except ValueError as error:
            raise ValueError(f"smoke test {name}: {error}") from None
        props = {
            "base_url": args.base_url,
            "expected_version": args.expected_version,
            "consecutive": args.consecutive,
            "timeout": args.timeout,
            "interval": args.interval,
            "ca_bundle": args.ca_bundle,
            "report": None,
        }
        super().__init__(SmokeTestProvider(), name, props, opts)
