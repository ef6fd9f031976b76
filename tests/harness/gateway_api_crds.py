"""Every Gateway API object the program renders for a gateway-api stack, validated against the release's own CRDs.

The objects come from running the real program (stacks/__main__.py) under Pulumi's mocks for each committed stack
file with `router: gateway-api`, stable and during a canary step: every custom resource of the Gateway API group
exactly as the program registers it (the Gateway, the GatewayClass, the HTTPRoutes). Each is validated with
`jsonschema` (in the lock, beside check-jsonschema) against the `openAPIV3Schema` of its kind and version in the
standard-channel install file of the pinned release (app/contract/routers/gateway_api.py GATEWAY_API_VERSION),
which CI downloads (.ci/gateway-api-crds, job "gateway-api" in .github/workflows/ci.yml). No CRD is kept in this
repository; tests/harness/gateway_api_schema.py checks the same objects offline against rules of our own.

    python -m harness.gateway_api_crds standard-install.yaml
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from app.contract.routers.gateway_api import GROUP

STACKS = ("int", "stg", "prd")
ROUTER = {"router": "gateway-api"}


def crd_schemas(documents: Iterable[Mapping[str, Any] | None]) -> dict[tuple[str, str], dict[str, Any]]:
    """`(apiVersion, kind)` → the CRD's openAPIV3Schema, for every served version of every CRD among the documents."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for document in documents:
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue  # the install file also holds a ValidatingAdmissionPolicy and its binding
        spec = document["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                api_version = f"{spec['group']}/{version['name']}"
                schemas[(api_version, spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def program_objects(stacks: Sequence[str] = STACKS) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Gateway API object the program registers for each stack with router gateway-api, stable and canary."""
    from harness.mocked_stack import NEXT_RELEASE_TAG, RELEASE_TAG, run_stack

    # A canary step's settings as the canary driver passes them (the HTTPRoute carries the split then).
    canary_step = {"releaseStrategy": "canary", "canaryTag": NEXT_RELEASE_TAG, "canaryWeight": 10}
    prefix = f"kubernetes:{GROUP}/"
    for stack in stacks:
        for label, overrides in (("stable", {}), ("canary step", canary_step)):
            graph = run_stack(stack, {"imageTag": RELEASE_TAG, **ROUTER, **overrides}, allow_placeholders=True)
            for resource in graph.resources:
                if resource.type.startswith(prefix) and not resource.read:
                    manifest = {
                        k: v for k, v in resource.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")
                    }
                    yield f"{stack} {label}: {manifest['kind']} {manifest['metadata']['name']}", manifest


def validation_errors(manifest: Mapping[str, Any], schemas: Mapping[tuple[str, str], dict[str, Any]]) -> list[str]:
    """What the CRD's schema refuses in `manifest` (unknown fields too: the API server prunes or rejects them)."""
    schema = schemas.get((manifest["apiVersion"], manifest["kind"]))
    if schema is None:
        return [f"no CRD serves {manifest['apiVersion']} {manifest['kind']} in the standard channel"]
    strict = _closed(schema)
    validator = jsonschema.Draft7Validator(strict)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]


def _closed(schema: Any) -> Any:
    """The schema with every object's properties closed, as a structural schema is (unknown fields are not kept)."""
    if isinstance(schema, dict):
        closed = {k: _closed(v) for k, v in schema.items()}
        # metadata has no properties in a CRD's schema (the API server validates it itself), so it stays open.
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and schema.get("type") == "object"
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.gateway_api_crds", description=__doc__.split("\n")[0])
    parser.add_argument("install_file", type=Path, help="the release's standard-install.yaml")
    args = parser.parse_args(argv)
    schemas = crd_schemas(yaml.safe_load_all(args.install_file.read_text()))
    if not schemas:
        print(f"gateway-api: no CustomResourceDefinition in {args.install_file}", file=sys.stderr)
        return 1
    failed, count = False, 0
    for label, manifest in program_objects():
        count += 1
        errors = validation_errors(manifest, schemas)
        print(f"{'FAIL' if errors else 'ok  '} {label}")
        for error in errors:
            print(f"       {error}")
        failed = failed or bool(errors)
    if count == 0:
        print("gateway-api: the program rendered no Gateway API object", file=sys.stderr)
        return 1
    print(f"gateway-api: {count} objects checked; " + ("findings above" if failed else "all valid"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
