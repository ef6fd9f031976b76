"""The post-deploy smoke test inside `pulumi up`: an update counts as done only once the release answers.

A Pulumi dynamic resource whose create and update run `app.smoke.check_release` against the stack's
URL. It runs after the Deployment and the routes are ready (depends_on), again whenever the expected
version (the image tag) changes, and fails the update with the report's message — what every request
saw — when the new version does not answer.

    SmokeTest("int-smoke", smoke_test_args(settings.app, workload.url),
              opts=pulumi.ResourceOptions(depends_on=[workload.deployment, *routes]))

Pulumi stores the provider pickled in the stack's state and runs it in its own Python host, the
program's virtualenv, where this repository is installed: the state names the class, and the host
imports it from the work tree (see the comment above SmokeTestProvider).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from app.contract import AppSettings
from app.smoke import RELEASE_PATIENCE, Patience, check_release

# Inputs whose change means "check again"; anything else in the state is the last report.
CHECKED_INPUTS = ("base_url", "expected_version", "consecutive", "timeout", "interval", "ca_bundle")


class SmokeCheckError(Exception):
    """The release did not pass the smoke checks; the message is the report a person reads."""


# Pickled by reference: Pulumi serialises the provider with dill.dumps(recurse=True), and dill saves a class
# whose module imports it back as module + name (dill 0.4.1 _dill.py save_type, _locate_function). The
# engine's host is the program's virtualenv python (`$PULUMI_RUNTIME_VIRTUALENV/bin/python -u -m
# pulumi.dynamic`, run in the `main:` folder), where the editable install makes `infra` importable, and
# dill.loads imports this module there (pulumi/pulumi v3.259.0 sdk/python/lib/pulumi/dynamic/dynamic.py
# serialize_provider, dynamic/__main__.py get_provider, sdk/python/dist/pulumi-resource-pulumi-python).
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
