"""Check the pinned EKS add-ons against what AWS offers today: the live half of infra/addons.py.

    python -m infra.addon_check                          # every pinned Kubernetes version
    python -m infra.addon_check --kubernetes-version 1.35

For every pin it asks AWS, read-only (AWS CLI v2 and credentials with eks:DescribeAddonVersions and
eks:DescribeAddonConfiguration; no cluster needed):

    aws eks describe-addon-versions --kubernetes-version 1.35 --addon-name vpc-cni
    aws eks describe-addon-configuration --addon-name vpc-cni --addon-version v1.21.1-eksbuild.7

and exits 1, naming each problem, when AWS does not offer the pinned version for that Kubernetes
version or a configuration key the program passes is not in that version's configuration schema.
Run it before changing a pin or the supported versions, and from any CI job that has AWS credentials;
tests/infra/test_addons.py runs the same judgement over recorded answers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from infra.addons import ADDON_VERSIONS, ADDONS, CONFIGURATIONS

AwsCli = Callable[[Sequence[str]], Mapping[str, Any]]
"""Runs `aws <args> --output json` and returns the parsed answer (the one side effect here)."""


class AwsCliError(RuntimeError):
    """The AWS CLI is missing or a command failed; the message says which and how to fix it."""


def version_problem(addon: str, kubernetes_version: str, pinned: str, answer: Mapping[str, Any]) -> str | None:
    """Why `describe-addon-versions` says the pinned version cannot run on that Kubernetes version; None if it can."""
    offered: dict[str, list[str]] = {}
    for info in answer.get("addons") or []:
        if info.get("addonName") != addon:
            continue
        for version in info.get("addonVersions") or []:
            clusters = [c.get("clusterVersion", "") for c in version.get("compatibilities") or []]
            offered[version.get("addonVersion", "")] = clusters
    if pinned not in offered:
        newest = ", ".join(sorted(offered, reverse=True)[:3]) or "none"
        return f"{addon} {pinned} is not offered for Kubernetes {kubernetes_version} (AWS offers: {newest} …)"
    if kubernetes_version not in offered[pinned]:
        return f"{addon} {pinned} is not compatible with Kubernetes {kubernetes_version} (only {offered[pinned]})"
    return None


def schema_problems(addon: str, version: str, configuration: Mapping[str, Any], answer: Mapping[str, Any]) -> list[str]:
    """Keys of `configuration` that the add-on version's configuration schema does not declare."""
    raw = answer.get("configurationSchema")
    if not raw:
        return [f"{addon} {version}: AWS returned no configuration schema"]
    schema = json.loads(raw)
    problems: list[str] = []
    _check(schema, schema, configuration, f"{addon} {version}: ", problems)
    return problems


def _resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local `$ref` (#/definitions/x or #/$defs/x), as EKS's schemas use them."""
    seen = 0
    while "$ref" in node and seen < 10:
        target: Any = root
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node, seen = target, seen + 1
    return node


def _check(root: Mapping[str, Any], node: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> None:
    node = _resolve(root, node)
    if isinstance(value, Mapping):
        properties = node.get("properties")
        if properties is None:  # a map (e.g. labels) or an object the schema leaves open: nothing to check
            return
        for key, item in value.items():
            if key in properties:
                _check(root, properties[key], item, f"{path}{key}.", problems)
            elif not isinstance(node.get("additionalProperties"), Mapping):
                problems.append(f"{path}{key} is not in the configuration schema")
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for item in value:
            _check(root, node["items"], item, path, problems)


def check(aws: AwsCli, kubernetes_versions: Sequence[str]) -> list[str]:
    """Every problem with the pins and configurations of these Kubernetes versions (empty: all offered)."""
    problems: list[str] = []
    for kubernetes_version in kubernetes_versions:
        pins = ADDON_VERSIONS[kubernetes_version]
        for addon in ADDONS:
            pinned = pins[addon]
            answer = aws(
                ["eks", "describe-addon-versions", "--kubernetes-version", kubernetes_version, "--addon-name", addon]
            )
            problem = version_problem(addon, kubernetes_version, pinned, answer)
            if problem:
                problems.append(problem)
                continue
            if addon in CONFIGURATIONS:
                described = aws(
                    ["eks", "describe-addon-configuration", "--addon-name", addon, "--addon-version", pinned]
                )
                problems += schema_problems(addon, pinned, CONFIGURATIONS[addon](), described)
    return problems


def aws_cli(args: Sequence[str]) -> Mapping[str, Any]:
    """Run one read-only AWS CLI command and parse its JSON answer."""
    if shutil.which("aws") is None:
        raise AwsCliError("the AWS CLI v2 (`aws`) is not on PATH; install it and log in (`aws sso login`)")
    command = ["aws", *args, "--output", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AwsCliError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.returncode}")
    answer: Mapping[str, Any] = json.loads(result.stdout)
    return answer


def main(argv: Sequence[str] | None = None, aws: AwsCli = aws_cli) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.addon_check", description="Check the pinned EKS add-ons against what AWS offers today."
    )
    parser.add_argument("--kubernetes-version", choices=sorted(ADDON_VERSIONS), action="append")
    options = parser.parse_args(argv)
    versions = options.kubernetes_version or sorted(ADDON_VERSIONS)
    try:
        problems = check(aws, versions)
    except AwsCliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        pins = sum(len(ADDON_VERSIONS[v]) for v in versions)
        print(
            f"ok: {pins} pinned add-on versions on Kubernetes {', '.join(versions)} are offered by AWS, "
            "and every configuration key is in their schemas"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
