"""The EKS add-on table and configurations (infra/addons.py) and the live check's judgement (infra/addon_check.py)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from harness.stack_settings import program_config
from infra import addon_check, addons
from infra.addons import (
    ADDON_VERSIONS,
    ADDONS,
    AFTER_NODES,
    BEFORE_NODES,
    COREDNS,
    COREDNS_LABELS,
    KUBE_PROXY,
    NETWORK_POLICY_MIN_VPC_CNI,
    VPC_CNI,
    AddonVersionError,
    addon_versions,
    configuration_values,
    coredns_configuration,
    parse_version,
    vpc_cni_configuration,
)
from stacks.settings import SUPPORTED_KUBERNETES_VERSIONS

# ---------------------------------------------------------------- the pins


@pytest.mark.parametrize("kubernetes_version", SUPPORTED_KUBERNETES_VERSIONS)
def test_every_supported_kubernetes_version_pins_every_addon_exactly(kubernetes_version: str) -> None:
    pins = addon_versions(kubernetes_version)
    assert set(pins) == set(ADDONS)
    for version in pins.values():
        parse_version(version)  # vMAJOR.MINOR.PATCH-eksbuild.N: exact, never "latest"


@pytest.mark.parametrize("kubernetes_version", SUPPORTED_KUBERNETES_VERSIONS)
def test_pins_are_compatible_with_their_kubernetes_version(kubernetes_version: str) -> None:
    pins = addon_versions(kubernetes_version)
    major, minor = (int(part) for part in kubernetes_version.split("."))
    # EKS builds kube-proxy per cluster minor (EKS User Guide managing-kube-proxy).
    assert parse_version(pins[KUBE_PROXY])[:2] == (major, minor)
    # NetworkPolicy enforcement needs VPC CNI ≥ 1.14 (EKS User Guide cni-network-policy-configure).
    assert parse_version(pins[VPC_CNI])[:2] >= NETWORK_POLICY_MIN_VPC_CNI


def test_a_cluster_upgrade_moves_each_addon_at_most_one_minor_forward() -> None:
    # EKS recommends updating the VPC CNI one minor version at a time (managing-vpc-cni); CoreDNS the same.
    ordered = sorted(SUPPORTED_KUBERNETES_VERSIONS, key=lambda v: tuple(map(int, v.split("."))))
    for older, newer in itertools.pairwise(ordered):
        for addon in (VPC_CNI, COREDNS):
            before = parse_version(ADDON_VERSIONS[older][addon])[:2]
            after = parse_version(ADDON_VERSIONS[newer][addon])[:2]
            assert before[0] == after[0] and 0 <= after[1] - before[1] <= 1, (addon, older, newer)


def test_a_version_without_a_full_row_is_refused_with_where_to_pin_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AddonVersionError, match=r"Kubernetes 1\.32 has no pinned .* infra/addons\.py"):
        addon_versions("1.32")
    monkeypatch.setitem(addons.ADDON_VERSIONS, "1.32", {VPC_CNI: "v1.21.1-eksbuild.7"})  # type: ignore[index]
    with pytest.raises(AddonVersionError, match=r"for kube-proxy, coredns"):
        addon_versions("1.32")
    with pytest.raises(AddonVersionError, match="not an EKS add-on version"):
        parse_version("latest")


def test_settings_refuse_a_supported_kubernetes_version_whose_addons_are_not_pinned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.contract import SettingsError
    from stacks import schema, settings

    monkeypatch.setattr(schema, "ADDON_VERSIONS", {v: p for v, p in ADDON_VERSIONS.items() if v != "1.34"})
    raw, region = program_config("int", {"kubernetesVersion": "1.34"})
    with pytest.raises(SettingsError, match=r"kubernetesVersion '1\.34' has no pinned EKS add-on versions"):
        settings.parse_settings(raw, stack="int", region=region, allow_placeholders=True)
    raw, region = program_config("int", {"kubernetesVersion": "1.35"})
    assert settings.parse_settings(raw, stack="int", region=region, allow_placeholders=True).cluster.version == "1.35"


def test_addons_a_node_needs_come_before_nodes_and_dns_after() -> None:
    assert set(BEFORE_NODES) == {VPC_CNI, KUBE_PROXY}
    assert AFTER_NODES == (COREDNS,)
    assert set(ADDONS) == {*BEFORE_NODES, *AFTER_NODES} and len(ADDONS) == 3


# ---------------------------------------------------------------- the configuration


def test_the_vpc_cni_enforces_network_policy() -> None:
    assert vpc_cni_configuration() == {"enableNetworkPolicy": "true"}  # a string in the add-on's schema
    assert json.loads(configuration_values(VPC_CNI) or "") == {"enableNetworkPolicy": "true"}
    assert configuration_values(KUBE_PROXY) is None  # EKS's defaults


def test_coredns_keeps_dns_up_through_a_drain() -> None:
    config = coredns_configuration()
    replicas, budget = config["replicaCount"], config["podDisruptionBudget"]
    assert replicas >= 2
    assert budget["enabled"] is True and "minAvailable" not in budget  # one of the two, never both
    assert replicas - budget["maxUnavailable"] >= 1, "a drain could take every DNS server at once"
    spread = {c["topologyKey"]: c for c in config["topologySpreadConstraints"]}
    assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in spread.values():
        assert constraint["labelSelector"] == {"matchLabels": COREDNS_LABELS}
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"  # never leaves a DNS pod Pending
    assert json.loads(configuration_values(COREDNS) or "") == config


# ---------------------------------------------------------------- the live check, over answers shaped like AWS's

# Shapes from the EKS API reference (DescribeAddonVersions, DescribeAddonConfiguration response syntax).
VERSIONS_ANSWER = {
    "addons": [
        {
            "addonName": VPC_CNI,
            "addonVersions": [
                {"addonVersion": "v1.21.1-eksbuild.7", "compatibilities": [{"clusterVersion": "1.35"}]},
                {"addonVersion": "v1.20.4-eksbuild.1", "compatibilities": [{"clusterVersion": "1.34"}]},
            ],
        }
    ]
}
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "replicaCount": {"type": "integer"},
        "podDisruptionBudget": {"$ref": "#/definitions/PodDisruptionBudget"},
        "topologySpreadConstraints": {"type": "array", "items": {"type": "object"}},
        "podLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "definitions": {
        "PodDisruptionBudget": {
            "type": "object",
            "properties": {"enabled": {"type": "boolean"}, "maxUnavailable": {"type": "integer"}},
        }
    },
}


def test_a_pinned_version_offered_for_its_kubernetes_version_passes() -> None:
    assert addon_check.version_problem(VPC_CNI, "1.35", "v1.21.1-eksbuild.7", VERSIONS_ANSWER) is None


@pytest.mark.parametrize(
    ("kubernetes_version", "pinned", "message"),
    [
        ("1.35", "v1.21.1-eksbuild.9", "is not offered for Kubernetes 1.35"),
        ("1.34", "v1.21.1-eksbuild.7", "is not compatible with Kubernetes 1.34"),
    ],
)
def test_a_pin_aws_does_not_offer_is_named(kubernetes_version: str, pinned: str, message: str) -> None:
    problem = addon_check.version_problem(VPC_CNI, kubernetes_version, pinned, VERSIONS_ANSWER)
    assert problem is not None and message in problem and pinned in problem


def test_configuration_keys_are_checked_against_the_schema_through_refs() -> None:
    answer = {"configurationSchema": json.dumps(SCHEMA)}
    good = {
        "replicaCount": 2,
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "topologySpreadConstraints": [{"maxSkew": 1}],
        "podLabels": {"any": "label"},
    }
    assert addon_check.schema_problems(COREDNS, "v1", good, answer) == []
    bad = {"replicas": 2, "podDisruptionBudget": {"enabled": True, "minAvaliable": 1}}
    assert addon_check.schema_problems(COREDNS, "v1", bad, answer) == [
        "coredns v1: replicas is not in the configuration schema",
        "coredns v1: podDisruptionBudget.minAvaliable is not in the configuration schema",
    ]
    assert addon_check.schema_problems(COREDNS, "v1", good, {}) == ["coredns v1: AWS returned no configuration schema"]


class FakeAws:
    """Answers like `aws eks describe-addon-*` would, from what the table pins (or not)."""

    def __init__(self, offered: Mapping[str, Mapping[str, str]], schema: Mapping[str, Any]) -> None:
        self.offered, self.schema = offered, schema
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> Mapping[str, Any]:
        self.calls.append(list(args))
        if args[1] == "describe-addon-versions":
            kubernetes_version, addon = args[3], args[5]
            version = self.offered[kubernetes_version][addon]
            offered = {"addonVersion": version, "compatibilities": [{"clusterVersion": kubernetes_version}]}
            return {"addons": [{"addonName": addon, "addonVersions": [offered]}]}
        return {"configurationSchema": json.dumps(self.schema)}


def _open_schema(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A schema that declares exactly the top-level keys of `configuration` (and leaves the rest open)."""
    return {"type": "object", "properties": {key: {} for key in configuration}}


def test_the_cli_passes_when_aws_offers_every_pin(capsys: pytest.CaptureFixture[str]) -> None:
    keys = {**coredns_configuration(), **vpc_cni_configuration()}
    aws = FakeAws(ADDON_VERSIONS, _open_schema(keys))
    assert addon_check.main([], aws=aws) == 0
    assert "ok: 9 pinned add-on versions" in capsys.readouterr().out
    asked = {(c[3], c[5]) for c in aws.calls if c[1] == "describe-addon-versions"}
    assert asked == {(v, a) for v in ADDON_VERSIONS for a in ADDONS}


def test_the_cli_fails_naming_a_withdrawn_pin_and_a_missing_key(capsys: pytest.CaptureFixture[str]) -> None:
    offered = {v: dict(pins) for v, pins in ADDON_VERSIONS.items()}
    offered["1.35"][KUBE_PROXY] = "v1.35.9-eksbuild.1"
    aws = FakeAws(offered, _open_schema(vpc_cni_configuration()))  # no CoreDNS keys in the schema
    assert addon_check.main(["--kubernetes-version", "1.35"], aws=aws) == 1
    errors = capsys.readouterr().err
    assert "kube-proxy v1.35.3-eksbuild.13 is not offered for Kubernetes 1.35" in errors
    assert "coredns v1.14.3-eksbuild.3: replicaCount is not in the configuration schema" in errors


def test_without_the_aws_cli_the_check_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(addon_check.shutil, "which", lambda _: None)
    assert addon_check.main([]) == 2
    assert "the AWS CLI v2 (`aws`) is not on PATH" in capsys.readouterr().err
