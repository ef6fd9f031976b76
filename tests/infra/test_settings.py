"""Stack settings: the real stack files load; every invalid setting stops the program with its key, creating nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.contract import SettingsError
from harness.mocked_stack import RELEASE_TAG, Run
from harness.project_files import REPO_ROOT as ROOT
from harness.project_files import as_config_strings, stack_names
from harness.stack_settings import program_config
from stacks.settings import CONFIG_KEYS, CiJob, parse_settings, read_ci_job

RunProgram = Callable[..., Run]


@pytest.mark.parametrize("stack", stack_names())
def test_each_real_stack_file_loads(stack: str) -> None:
    raw, region = program_config(stack)
    settings = parse_settings(raw, stack=stack, region=region, allow_placeholders=True)
    assert settings.app.image_tag == RELEASE_TAG
    assert settings.cluster.name == f"example-app-{stack}"
    assert settings.production is (stack == "prd")
    assert settings.tags == {"project": "example-app", "stack": stack, "managed-by": "pulumi"}


def test_stacks_differ_only_where_the_environment_does() -> None:
    loaded = {
        s: parse_settings(*program_config(s)[:1], stack=s, region=program_config(s)[1], allow_placeholders=True)
        for s in stack_names()
    }
    assert {s: loaded[s].network.zones for s in loaded} == {"int": 2, "stg": 2, "prd": 3}
    assert {s: loaded[s].network.nat_per_zone for s in loaded} == {"int": False, "stg": False, "prd": True}
    assert {s: loaded[s].platform.acme_server for s in loaded} == {
        "int": "staging",
        "stg": "production",
        "prd": "production",
    }
    assert {s: loaded[s].app.replicas for s in loaded} == {"int": 2, "stg": 2, "prd": 3}
    assert {s: loaded[s].dns.host for s in loaded} == {
        "int": "example-app.int.example.com",
        "stg": "example-app.stg.example.com",
        "prd": "example-app.example.com",
    }
    assert len({loaded[s].network.cidr for s in loaded}) == len(loaded)  # peerable later without renumbering


def test_every_key_the_program_reads_is_documented_in_pulumi_yaml() -> None:
    import yaml

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key in CONFIG_KEYS:
        declaration = declared[key]
        assert declaration["description"], key
        assert "type" in declaration, key
    for stack in stack_names():
        stack_keys = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        unknown = {k.split(":", 1)[1] for k in stack_keys if k.startswith("example-app:")} - set(declared)
        assert not unknown, f"Pulumi.{stack}.yaml sets keys Pulumi.yaml does not declare: {unknown}"


CONFIG_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def test_pulumi_yaml_declarations_are_ones_the_cli_accepts() -> None:
    # Pulumi's project schema: a declaration has a type (string, integer, boolean, array), items for
    # arrays, and optionally description, secret and a default of that type; nothing else.
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "example-app"
    assert project["runtime"]["name"] == "python"
    assert (ROOT / project["main"] / "__main__.py").is_file()
    for key, declaration in project["config"].items():
        assert set(declaration) <= {"type", "items", "description", "secret", "default"}, key
        kind = CONFIG_TYPES[declaration["type"]]
        if kind is list:
            assert CONFIG_TYPES[declaration["items"]["type"]] is str, key
        if "default" in declaration:
            default = declaration["default"]
            assert isinstance(default, kind) and (kind is bool or not isinstance(default, bool)), key
            if kind is list:
                assert all(isinstance(item, str) for item in default), key


def test_no_stack_name_decides_anything_in_the_program() -> None:
    sources = [*(ROOT / "stacks").glob("*.py"), *(ROOT / "infra").glob("*.py")]
    for source in sources:
        text = source.read_text()
        for name in stack_names():
            assert f'== "{name}"' not in text and f"== '{name}'" not in text, f"{source} branches on stack {name}"


BAD_SETTINGS: list[tuple[str, dict[str, Any], str]] = [
    ("prd", {"replicas": 2}, "example-app:replicas must be ≥ 3 in production"),
    ("prd", {"availabilityZones": 2}, "example-app:availabilityZones must be ≥ 3 in production"),
    ("prd", {"natGatewayPerZone": False}, "example-app:natGatewayPerZone must be true in production"),
    ("prd", {"acmeServer": "staging"}, "example-app:acmeServer must be production in production"),
    ("prd", {"nodeCapacityType": "SPOT"}, "example-app:nodeCapacityType must be ON_DEMAND in production"),
    ("int", {"vpcCidr": "10.20.0.0/24"}, "example-app:vpcCidr '10.20.0.0/24' must be between /16 and /20"),
    ("int", {"vpcCidr": "10.20.0.0/8"}, "example-app:vpcCidr '10.20.0.0/8' is not a CIDR block"),
    ("int", {"vpcCidr": "8.8.0.0/16"}, "must lie in a private range"),
    ("int", {"serviceCidr": "10.20.0.0/16"}, "example-app:serviceCidr '10.20.0.0/16' overlaps example-app:vpcCidr"),
    ("int", {"availabilityZones": 5}, "example-app:availabilityZones must be ≤ 4"),
    ("int", {"imageTag": "latest"}, "example-app:imageTag 'latest' is mutable"),
    ("int", {"imageTag": "v1.2.3 final"}, "example-app:imageTag 'v1.2.3 final' is not a valid image tag"),
    ("int", {"imageTag": None, "imageDigest": "sha256:" + "a" * 64}, "example-app:imageDigest is set without imageTag"),
    ("int", {"imageTag": "", "canaryTag": "v2.0.0"}, "example-app:canaryTag is set without imageTag"),
    ("int", {"imageRepository": "ghcr.io/acme/example-app"}, "must be an ECR repository URL"),
    ("int", {"imageDigest": "sha256:abc"}, "example-app:imageDigest 'sha256:abc' must look like sha256:"),
    ("int", {"nodeInstanceTypes": ["t3.large", "t3.huge"]}, "unknown instance type 't3.huge'"),
    ("int", {"nodeInstanceTypes": "t3.large"}, "example-app:nodeInstanceTypes must be a list of strings"),
    ("int", {"nodeCapacityType": "RESERVED"}, "example-app:nodeCapacityType must be one of ON_DEMAND, SPOT"),
    ("int", {"nodeMinSize": 1}, "example-app:nodeMinSize must be ≥ 2, got 1"),
    ("int", {"nodeDesiredSize": 9}, "example-app:nodeDesiredSize must lie in nodeMinSize..nodeMaxSize"),
    ("int", {"nodeDiskGb": "big"}, "example-app:nodeDiskGb must be a whole number, got 'big'"),
    ("int", {"kubernetesVersion": "1.29"}, "example-app:kubernetesVersion '1.29' is not supported"),
    ("int", {"apiPublicAccessCidrs": ["0.0.0.0/33"]}, "'0.0.0.0/33' is not a CIDR block"),
    ("int", {"clusterAdminRoles": ["ops team!"]}, "'ops team!' is not an IAM role name"),
    ("int", {"logRetentionDays": 10}, "example-app:logRetentionDays must be one of CloudWatch's periods"),
    ("int", {"ingressReplicas": 1}, "example-app:ingressReplicas must be ≥ 2, got 1"),
    ("int", {"metricsServerReplicas": 1}, "example-app:metricsServerReplicas must be ≥ 2, got 1"),
    ("int", {"domain": ""}, "example-app:domain is empty: `pulumi config set domain <value>`"),
    ("int", {"domain": "Example.COM"}, "example-app:domain 'Example.COM' is not a lower-case DNS name"),
    ("int", {"hostPrefix": "app_int"}, "example-app:hostPrefix gives 'app_int.example.com'"),
    ("int", {"acmeEmail": " "}, "example-app:acmeEmail is empty"),
    ("int", {"acmeEmail": "hostmaster"}, "example-app:acmeEmail 'hostmaster' is not an email address"),
    ("int", {"acmeServer": "letsencrypt"}, "example-app:acmeServer must be one of staging, production"),
    ("int", {"production": "yes"}, "example-app:production must be true or false, got 'yes'"),
    ("int", {"aws:region": None}, "aws:region None is not an AWS region"),
    ("int", {"replicas": 1}, "example-app:replicas must be a whole number ≥ 2"),
    ("int", {"maxReplicas": 1}, "example-app:maxReplicas must be a whole number ≥ 2"),
    ("int", {"cpuRequest": "lots"}, "example-app:cpuRequest 'lots' is not a Kubernetes quantity"),
]


@pytest.mark.parametrize(
    ("stack", "overrides", "message"), BAD_SETTINGS, ids=[f"{s}-{next(iter(o))}" for s, o, _ in BAD_SETTINGS]
)
def test_invalid_setting_stops_the_program_before_any_resource(
    stack: str, overrides: dict[str, Any], message: str, run_program: RunProgram
) -> None:
    run = run_program(stack, overrides)
    assert run.stopped is not None, f"{overrides} was accepted"
    assert message in run.stopped, run.stopped
    assert run.stopped.startswith(f"stack {stack!r}: ")
    assert "Traceback" not in run.stopped
    assert run.graph.resources == [], "a resource was registered before the settings were valid"


def test_every_problem_is_reported_at_once(run_program: RunProgram) -> None:
    # Production rules, a malformed value, an empty one, the deployment contract's own rule and a typo, together.
    run = run_program(
        "prd",
        {
            "replicas": 2,
            "availabilityZones": 2,
            "vpcCidr": "300.1.0.0/16",
            "domain": "",
            "cpuRequest": "lots",
            "replica": 4,
        },
    )
    assert run.stopped is not None
    assert run.stopped.startswith("stack 'prd': 6 invalid setting(s); fix them and try again:")
    for key in ("replicas", "availabilityZones", "vpcCidr", "domain", "cpuRequest", "replica"):
        assert f"example-app:{key} " in run.stopped


def test_a_bad_stack_name_is_a_bad_tag() -> None:
    raw, region = program_config("int")
    with pytest.raises(SettingsError, match=r"stack name: tag 'stack' value 'int#2'"):
        parse_settings(raw, stack="int#2", region=region, allow_placeholders=True)


def test_a_region_with_too_few_zones_stops_before_any_aws_resource(run_program: RunProgram) -> None:
    run = run_program("prd", zones_available=2)
    assert run.stopped is not None
    assert "the region offers 2 availability zones (eu-west-1a, eu-west-1b) but availabilityZones is 3" in run.stopped
    assert not [r for r in run.graph.resources if r.type.startswith("aws:")]


def test_runs_are_isolated_from_each_other(run_program: RunProgram) -> None:
    # Three stacks share one pytest process: a run must not see another's config, root stack or outputs.
    first = run_program("int").graph
    run_program("prd")
    again = run_program("int").graph
    assert sorted(r.urn for r in again.resources) == sorted(r.urn for r in first.resources)
    assert again.outputs == first.outputs
    assert all(":int::" in r.urn for r in again.resources)


def test_the_program_imports_its_packages_when_started_from_stacks_like_pulumi_does() -> None:
    # Pulumi runs `main: stacks/` with stacks/ as the working directory and first path entry; an
    # isolated interpreter (-I) there proves the program finds app/ and infra/ where they are installed.
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-I", "-c", "import runpy; runpy.run_path('.', run_name='__main__')"],
        cwd=ROOT / "stacks",
        env={"PULUMI_CONFIG": json.dumps({"aws:region": "eu-west-1"})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "ModuleNotFoundError" not in result.stderr, result.stderr
    # Only aws:region is set: every other key takes the schema's default, and the placeholders are refused.
    assert "example-app:domain 'example.com' is a placeholder" in result.stderr, result.stderr


def test_an_empty_list_says_how_to_set_a_list(run_program: RunProgram) -> None:
    run = run_program("int", {"nodeInstanceTypes": []})
    assert run.stopped is not None
    assert "example-app:nodeInstanceTypes is empty: `pulumi config set --path 'nodeInstanceTypes[0]' <value>`" in (
        run.stopped
    )


def test_network_and_cluster_settings_map_one_to_one_onto_their_component_args() -> None:
    # StackSettings.network_args/cluster_args pass them with **asdict(...): a renamed field fails here, not in `up`.
    from dataclasses import fields

    from infra.cluster import ClusterArgs
    from infra.network import NetworkArgs
    from stacks.settings import ClusterSettings, NetworkSettings

    for settings_type, args_type in ((NetworkSettings, NetworkArgs), (ClusterSettings, ClusterArgs)):
        assert {f.name for f in fields(settings_type)} <= {f.name for f in fields(args_type)}, args_type.__name__


def test_stack_files_hold_only_differences_from_pulumi_yaml() -> None:
    import yaml

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for stack in stack_names():
        values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        repeated = [
            key
            for key, value in values.items()
            if key.startswith("example-app:") and declared[key.split(":", 1)[1]].get("default") == value
        ]
        assert not repeated, f"Pulumi.{stack}.yaml repeats Pulumi.yaml's defaults: {repeated}"


# ---------------------------------------------------------------- one declaration of every key


def test_pulumi_yaml_declares_every_key_as_the_schema_does() -> None:
    # The CLI merges Pulumi.yaml's defaults into every stack's config: a default edited in one place only fails here.
    from stacks.pulumi_yaml import render

    text = (ROOT / "Pulumi.yaml").read_text(encoding="utf-8")
    assert text == render(text), "Pulumi.yaml disagrees with stacks/schema.py: run `python -m stacks.pulumi_yaml`"


def test_pulumi_yamls_defaults_reach_the_program_as_the_schemas_defaults() -> None:
    # What the engine hands the program for each documented default (text, lists as JSON) reads back unchanged.
    import yaml

    from stacks.schema import Run, StackConfig

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    defaults = as_config_strings({key: declaration["default"] for key, declaration in declared.items()})
    engine = StackConfig.model_validate(defaults, context=Run(stack="int", allow_placeholders=True))
    assert engine == StackConfig.model_validate({}, context=Run(stack="int", allow_placeholders=True))


def test_the_deployment_contracts_defaults_are_the_stacks_defaults() -> None:
    # One default per key: Pulumi.yaml once said replicas 2 while AppSettings said 3.
    import dataclasses

    import yaml

    from app.contract import AppSettings
    from app.contract.canary import CanaryPolicy

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    values = as_config_strings({key: declaration["default"] for key, declaration in declared.items()})
    raw: dict[str, str | None] = {**values, "imageTag": RELEASE_TAG}
    settings = parse_settings(raw, stack="int", region="eu-west-1", allow_placeholders=True)
    for field in ("replicas", "max_replicas", "cpu_request", "cpu_limit", "memory_request", "memory_limit"):
        assert getattr(settings.app, field) == next(
            f.default for f in dataclasses.fields(AppSettings) if f.name == field
        )
    assert (settings.app.workers, settings.app.threads) == (2, 4)
    assert settings.release.policy == CanaryPolicy()


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("replica", "did you mean example-app:replicas?"),
        ("nodeMaxSise", "did you mean example-app:nodeMaxSize?"),
        ("canarysteps", "did you mean example-app:canarySteps?"),
        ("image_tag", "did you mean example-app:imageTag?"),  # the field's name is not its key
        ("zzz", "example-app:zzz is not a setting of this project; remove it"),
    ],
)
def test_an_unknown_key_names_the_closest_known_one(key: str, named: str, run_program: RunProgram) -> None:
    run = run_program("int", {key: "3"})
    assert run.stopped is not None, f"{key} was ignored"
    assert f"example-app:{key} is not a setting of this project" in run.stopped
    assert named in run.stopped
    assert f"`pulumi config rm {key}`" in run.stopped
    assert run.graph.resources == []


def test_every_production_rule_holds_where_production_is_turned_on(run_program: RunProgram) -> None:
    # int is the cheapest shape; turned into a production stack it breaks each rule the schema marks, at once.
    run = run_program("int", {"production": True})
    assert run.stopped is not None
    problems = [line.removeprefix("  - ") for line in run.stopped.splitlines()[1:]]
    assert sorted(p.split()[0] for p in problems) == [
        "example-app:acmeServer",
        "example-app:availabilityZones",
        "example-app:natGatewayPerZone",
        "example-app:nodeCapacityType",
        "example-app:replicas",
    ]
    assert all(" in production (" in p for p in problems), problems


def test_a_refused_value_is_reported_once_and_the_contract_still_judges_the_rest(run_program: RunProgram) -> None:
    run = run_program("int", {"replicas": "many", "maxReplicas": 1, "memoryLimit": "lots"})
    assert run.stopped is not None
    assert run.stopped.startswith("stack 'int': 3 invalid setting(s)")
    assert "example-app:replicas must be a whole number, got 'many'" in run.stopped
    assert "example-app:maxReplicas must be a whole number ≥ 2" in run.stopped  # the contract's own rule
    assert "example-app:memoryLimit 'lots' is not a Kubernetes quantity" in run.stopped


@pytest.mark.parametrize("how", ["set_all_config", "PULUMI_CONFIG"])
def test_the_program_sees_every_key_of_its_namespace(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The language host sets all config at once from PULUMI_CONFIG; mocks use set_all_config. Either way an
    # unknown key reaches the schema, and another namespace's keys stay out of it.
    import json

    import pulumi

    from stacks.settings import read_config

    config = {"example-app:replica": "3", "example-app:domain": "acme.io", "aws:region": "eu-west-1"}
    before = dict(pulumi.runtime.config.CONFIG.get())
    try:
        if how == "set_all_config":
            pulumi.runtime.set_all_config(config)
        else:
            pulumi.runtime.set_all_config({})
            monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
        raw, _, region = read_config()
    finally:
        pulumi.runtime.set_all_config(before)
    assert raw == {"replica": "3", "domain": "acme.io"}
    assert region == "eu-west-1"


# ---------------------------------------------------------------- placeholders: only code can allow them


@pytest.mark.parametrize("stack", stack_names())
def test_the_committed_stack_files_with_pulumi_yamls_placeholders_are_refused_naming_each_key_and_command(
    stack: str, run_program: RunProgram
) -> None:
    run = run_program(stack, allow_placeholders=False)
    assert run.stopped is not None
    assert run.stopped.startswith(f"stack {stack!r}: 2 invalid setting(s); fix them and try again:")
    assert (
        f"example-app:domain 'example.com' is a placeholder (a reserved example domain, RFC 2606): set your Route53 "
        f"zone with `pulumi config set -s {stack} domain <your-zone>` and commit Pulumi.{stack}.yaml"
    ) in run.stopped
    assert "example-app:acmeEmail 'hostmaster@example.com' is a placeholder" in run.stopped
    assert f"`pulumi config set -s {stack} acmeEmail <you@your-domain>`" in run.stopped
    assert run.graph.resources == [] and run.graph.lookups == [], "refused before any resource or lookup"


def test_real_values_pass_without_the_opt_in(run_program: RunProgram) -> None:
    run = run_program("prd", {"domain": "acme-corp.io", "acmeEmail": "ops@acme-corp.io"}, allow_placeholders=False)
    assert run.stopped is None, run.stopped
    assert run.graph.outputs["url"] == "https://example-app.acme-corp.io"


@pytest.mark.parametrize(
    ("domain", "email", "refused"),
    [
        ("example.com", "ops@acme.io", ["domain"]),
        ("int.example.net", "ops@acme.io", ["domain"]),
        ("www.example.org", "ops@acme.io", ["domain"]),
        ("acme.io", "Hostmaster@EXAMPLE.com", ["acmeEmail"]),
        ("app.test", "ops@acme.io", ["domain"]),
        ("shop.example", "ops@acme.io", ["domain"]),
        ("acme.invalid", "ops@acme.io", ["domain"]),
        ("localhost", "ops@acme.io", ["domain"]),
        ("acme.io", "hostmaster@example.com", ["acmeEmail"]),
        ("acme.io", "ops@mail.example.org", ["acmeEmail"]),
        ("acme.io", "ops@acme.test", ["acmeEmail"]),
        ("example.com", "hostmaster@example.com", ["domain", "acmeEmail"]),
        ("acme.io", "ops@acme.io", []),
        ("example-app.io", "ops@examples.com", []),  # merely similar names are real domains
        ("myexample.com", "ops@example.co", []),
    ],
)
def test_reserved_domains_are_placeholders(domain: str, email: str, refused: list[str]) -> None:
    raw, region = program_config("int", {"domain": domain, "acmeEmail": email})
    if not refused:
        parse_settings(raw, stack="int", region=region)
        return
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, stack="int", region=region)
    named = [
        key
        for key in ("domain", "acmeEmail")
        if any(p.startswith(f"example-app:{key} ") for p in caught.value.problems)
    ]
    assert named == refused, caught.value.problems
    assert len(caught.value.problems) == len(refused)
    parse_settings(raw, stack="int", region=region, allow_placeholders=True)  # the tests' opt-in


def test_nothing_but_code_can_allow_placeholders(run_program: RunProgram, monkeypatch: pytest.MonkeyPatch) -> None:
    import ast

    # The program calls load_settings() bare: no config key or environment variable reaches the keyword.
    tree = ast.parse((ROOT / "stacks" / "__main__.py").read_text())
    (call,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load_settings"
    ]
    assert call.args == [] and call.keywords == []
    assert not [key for key in CONFIG_KEYS if "placeholder" in key.lower()]
    for name in ("ALLOW_PLACEHOLDERS", "EXAMPLE_APP_ALLOW_PLACEHOLDERS", "PULUMI_ALLOW_PLACEHOLDERS"):
        monkeypatch.setenv(name, "true")
    run = run_program("int", {"allowPlaceholders": True}, allow_placeholders=False)
    assert run.stopped is not None and "is a placeholder" in run.stopped
    assert "example-app:allowPlaceholders is not a setting of this project" in run.stopped


# ---------------------------------------------------------------- a GitHub Actions job keeps its own CI roles


@pytest.mark.parametrize(
    ("environ", "job"),
    [
        ({}, None),
        ({"CI": "true"}, None),
        ({"GITHUB_ACTIONS": "false", "GITHUB_REPOSITORY": "acme/app"}, None),
        ({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/app"}, CiJob(repository="acme/app")),
        ({"GITHUB_ACTIONS": "true"}, CiJob(repository="")),
    ],
)
def test_the_program_knows_it_runs_in_github_actions_only_from_githubs_own_variables(
    environ: dict[str, str], job: CiJob | None
) -> None:
    assert read_ci_job(environ) == job


@pytest.mark.parametrize(
    ("configured", "running", "problem"),
    [
        ("", None, None),  # an operator's machine: a stack without CI roles is allowed
        ("acme/app", None, None),
        ("acme/app", "acme/app", None),
        ("", "acme/app", "example-app:githubRepository is empty, but this run is a GitHub Actions job of acme/app"),
        ("acme/fork", "acme/app", "example-app:githubRepository is 'acme/fork', but this run is a GitHub Actions job"),
        ("Acme/App", "acme/app", "would be handed to another repository"),  # OIDC subjects compare exactly
        ("acme/app", "", "GITHUB_REPOSITORY is empty in a GitHub Actions run"),
    ],
)
def test_a_github_actions_run_never_plans_to_remove_the_roles_it_runs_as(
    configured: str, running: str | None, problem: str | None
) -> None:
    raw, region = program_config("int", {"githubRepository": configured})
    job = None if running is None else CiJob(repository=running)
    if problem is None:
        assert parse_settings(raw, stack="int", region=region, ci_job=job, allow_placeholders=True).ci.repository == (
            configured
        )
        return
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, stack="int", region=region, ci_job=job, allow_placeholders=True)
    (found,) = caught.value.problems
    assert problem in found
    if running:
        assert f"`pulumi config set -s int githubRepository {running}` and commit Pulumi.int.yaml" in found


def test_a_deploy_job_without_the_committed_repository_stops_before_any_resource(run_program: RunProgram) -> None:
    job = {"github_repository": "acme/example-app"}
    run = run_program("int", **job)
    assert run.stopped is not None
    assert "the CI roles this job runs as would be deleted" in run.stopped
    assert run.graph.resources == []
    kept = run_program("int", {"githubRepository": "acme/example-app"}, **job)
    assert kept.stopped is None, kept.stopped
    assert kept.graph.of_type("example-app:infra:CiAccess")
