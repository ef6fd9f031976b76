"""Render a Helm chart with the values we pass and check what the cluster would really receive.

Mocks, kubernetes-validate on our own objects and the Helm values' unit tests all stop at the dict we
hand to `helm.v3.Release`; whatever the chart does with it is invisible to them. This check renders the
chart itself, offline, and reports, for one release:

- `unknown-value`: a key we set that the chart neither declares in its values.yaml nor reads in any
  template. Helm ignores it without a word, so a misspelt or retired key is a silent no-op;
- `schema`: the values fail the chart's values.schema.json (when it ships one);
- `render`: a template fails to render;
- `invalid-object`: a rendered object fails `kubernetes-validate --strict` at the cluster's version
  (unknown fields, wrong types, a kind with no schema at that version);
- `missing` / `mismatch`: something we rely on (`Expected`) is not in the output, or not as we set it;
- `rotation`: a Deployment we rely on to serve through node drains (`DrainSafe`) renders without what that
  takes — one PodDisruptionBudget that lets exactly one pod go at a time, ≥ 2 replicas, spread over zones and
  nodes (app/contract/disruption.py `Tier.problems`).

    findings = check_release(chart_dir, release, kube_version="1.35", expected=[...])

Rendering uses helm-python-sdk (Helm v4 as a library), so no `helm` binary, cluster or network is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

from app.contract.disruption import tier_from_objects

# helm/helm v4.2.3 pkg/release/v1/util/manifest.go `sep`: how Helm itself splits a template's output into
# objects. It also splits `---# comment`, which a YAML parser reads as one document (cert-manager's rbac.yaml).
MANIFEST_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")
NOTES_SUFFIX = "NOTES.txt"
"""helm/helm v4.2.3 pkg/action/action.go `notesFileSuffix`: printed after an install, never applied."""
_VALUES_READ = re.compile(r"(hasKey\s+)?\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\s+\"([A-Za-z0-9_]+)\")?")


@dataclass(frozen=True, kw_only=True)
class Release:
    """One Helm release as the program installs it: which chart, under what name, where, with which values."""

    chart: str
    """Chart name as the program names it: a repository chart's name, or an `oci://` reference."""
    version: str
    """Exact chart version."""
    repository: str = ""
    """Chart repository URL; empty for an OCI chart."""
    name: str
    """Release name (it fixes the objects' names and instance labels)."""
    namespace: str
    """Namespace the release installs into."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """The values the program passes."""

    @property
    def chart_name(self) -> str:
        """The chart's own name (Chart.yaml `name`): the last part of an OCI reference."""
        return self.chart.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Named:
    """In a path: the item of a list whose `name` is this (a container, a port, a volume)."""

    name: str


PathPart = str | int | Named


@dataclass(frozen=True)
class Expected:
    """Something we rely on: one field of one rendered object holds a value.

    `contains=True`: the field holds at least these map entries or list items (the chart may add more).
    """

    kind: str
    name: str
    field: tuple[PathPart, ...]
    value: Any
    contains: bool = False


@dataclass(frozen=True)
class DrainSafe:
    """Something we rely on: the Deployment `deployment` keeps serving through one-node-at-a-time drains.

    Judged from the rendered objects themselves — its replicas, the PodDisruptionBudgets whose selector picks its
    pods, its spread and anti-affinity — not from the values we passed.
    """

    deployment: str
    tier: str
    """What the tier is called in findings, e.g. `cert-manager webhook`."""


def present(kind: str, name: str) -> Expected:
    """We rely on the chart rendering this object at all."""
    return Expected(kind, name, ("metadata", "name"), name)


@dataclass(frozen=True)
class Finding:
    """One defect in a release: what kind of defect, and a sentence saying where and what."""

    kind: str
    """unknown-value, schema, render, invalid-object, missing, mismatch, rotation or wrong-chart."""
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def check_release(
    chart_dir: Path,
    release: Release,
    *,
    kube_version: str,
    expected: Sequence[Expected | DrainSafe] = (),
    custom_schemas: Mapping[CustomKind, Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """Every finding for `release` rendered from the chart in `chart_dir` for Kubernetes `kube_version`.

    `custom_schemas` validates custom resources (e.g. a chart's ServiceMonitor) against the CRDs the same
    stack installs (`crd_schemas`); a custom resource of a kind it lacks is reported like any unknown kind.
    """
    with helm.Chart.load(chart_dir) as chart:
        label = f"{chart.name} {chart.version}"
        if (chart.name, chart.version) != (release.chart_name, release.version):
            return [
                Finding(
                    "wrong-chart",
                    f"{chart_dir} holds {label}, but the program installs {release.chart_name} {release.version}",
                )
            ]
        values = dict(release.values)
        findings = [
            Finding(
                "unknown-value",
                f"{label}: `{key}` is not a value of this chart (not in its values.yaml, "
                "read by no template); Helm ignores it",
            )
            for key in unknown_values(values, chart.values, "\n".join(t["data"] for t in chart.templates))
        ]
        try:
            chart.validate_schema(values)
        except helm.HelmError as error:
            findings.append(Finding("schema", f"{label}: the values fail values.schema.json: {error}"))
        try:
            rendered = render(
                chart, values, release=release.name, namespace=release.namespace, kube_version=kube_version
            )
        except helm.HelmError as error:
            return [*findings, Finding("render", f"{label}: {error}")]
        crds = {crd["filename"]: crd["data"] for crd in chart.crds}
    objects = list(manifest_objects({**crds, **rendered}))
    findings += [
        Finding("invalid-object", f"{label}: {source}: {problem}")
        for source, obj in objects
        for problem in invalid_at(obj, kube_version, custom_schemas or {})
    ]
    findings += [Finding(kind, f"{label}: {message}") for kind, message in unmet(expected, [o for _, o in objects])]
    return findings


# ---------------------------------------------------------------- values the chart ignores


def unknown_values(values: Mapping[str, Any], defaults: Mapping[str, Any], templates: str) -> list[str]:
    """Dotted paths of the keys in `values` that the chart would ignore.

    A key is the chart's when its values.yaml has it (`defaults`) or a template reads it
    (`.Values.a.b`, `hasKey .Values.a "b"`). Under a key a template reads whole (`toYaml .Values.resources`,
    `range .Values.controller.config`) any key is passed on; everywhere else an unknown key is reported.
    """
    read: set[str] = set()
    whole: set[str] = set()
    for match in _VALUES_READ.finditer(templates):
        is_has_key, path, key = match.group(1), match.group(2).lstrip("."), match.group(3)
        if is_has_key and key:
            read.add(f"{path}.{key}")
        else:
            whole.add(path)
        read.add(path)
    return list(_unknown(values, defaults, (), read, whole))


def _unknown(
    values: Mapping[str, Any], defaults: Any, path: tuple[str, ...], read: set[str], whole: set[str]
) -> Iterator[str]:
    for key, value in values.items():
        here = (*path, str(key))
        dotted = ".".join(here)
        declared = isinstance(defaults, Mapping) and key in defaults
        if not declared and dotted not in read:
            if not any(".".join(here[:i]) in whole for i in range(1, len(here))):
                yield dotted
            continue
        if isinstance(value, Mapping):
            yield from _unknown(value, defaults.get(key) if declared else None, here, read, whole)


# ---------------------------------------------------------------- rendering


def render(
    chart: helm.Chart, values: Mapping[str, Any], *, release: str, namespace: str, kube_version: str
) -> dict[str, str]:
    """{template path: text} as Helm renders the chart for a cluster at `kube_version` (e.g. "1.35")."""
    # helm-python-sdk 0.2.2's Chart.render passes no Kubernetes version, so Helm would render for its
    # built-in default (helm/helm v4.2.3 pkg/chart/common/capabilities.go: client-go's minor, v1.35.0 here)
    # and templates that test .Capabilities.KubeVersion would answer for the wrong cluster. The library
    # under it (libhelm_c 0.2.2, `helm_render`) takes `kube_version` in the same options; this is that call.
    # tests/charts/test_check.py proves the version reaches the templates.
    from helm_python import _native

    options = {"name": release, "namespace": namespace, "kube_version": kube_version_tag(kube_version)}
    text = _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
    rendered: dict[str, str] = json.loads(text)
    return rendered


def kube_version_tag(version: str) -> str:
    """`1.35` or `1.35.2` as Helm's KubeVersion (`v1.35.0`, `v1.35.2`)."""
    parts = version.removeprefix("v").split(".")
    if len(parts) == 2:
        parts.append("0")
    return "v" + ".".join(parts)


def manifest_objects(rendered: Mapping[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(template path, object) for every object Helm would apply, hooks included, in template order."""
    for source, text in sorted(rendered.items()):
        if source.endswith(NOTES_SUFFIX):
            continue
        for document in MANIFEST_SEPARATOR.split(text):
            if not document.strip():
                continue
            obj = yaml.load(document, Loader=_KubernetesLoader)  # noqa: S506 (a SafeLoader)
            if obj is None:  # only comments, or a template that rendered nothing
                continue
            if not isinstance(obj, dict):
                raise ValueError(f"{source} rendered something that is not an object: {document[:80]!r}")
            yield source, obj


CustomKind = tuple[str, str]
"""(apiVersion, kind) of a custom resource, e.g. ("monitoring.coreos.com/v1", "ServiceMonitor")."""


def crd_schemas(crds: Iterable[Mapping[str, Any]]) -> dict[CustomKind, Mapping[str, Any]]:
    """The openAPIV3Schema of every served version of every CustomResourceDefinition, by (apiVersion, kind)."""
    schemas: dict[CustomKind, Mapping[str, Any]] = {}
    for crd in crds:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served") and "schema" in version:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


class _KubernetesLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it (sigs.k8s.io/yaml, YAML 1.2): a bare `=` is a string, not PyYAML's 1.1 value tag.

    prometheus-operator's CRDs list `=` among a matcher's enum values.
    """


_KubernetesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def crd_files(chart_dir: Path) -> Iterator[Mapping[str, Any]]:
    """The CRDs a chart and its subcharts ship as plain files (Helm's `crds/` directories, installed first)."""
    for path in sorted(chart_dir.rglob("crds/*.yaml")):
        for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_KubernetesLoader):
            if isinstance(document, dict):
                yield document


def invalid_at(
    obj: Mapping[str, Any], kube_version: str, custom_schemas: Mapping[CustomKind, Mapping[str, Any]] | None = None
) -> list[str]:
    """Why the API server at `kube_version` would refuse or silently drop part of `obj`; empty when none.

    A custom resource is checked against its CRD's schema (types, required fields, enums): the API server's
    own validation, less its pruning of unknown fields, which the CRDs here do not forbid.
    """
    name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    schema = (custom_schemas or {}).get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if schema is not None:
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(dict(obj)), key=lambda e: list(e.path))
        return [f"{name} at {'.'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in errors]
    try:
        kubernetes_validate.validate(dict(obj), kube_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path) or "(top)"
        return [f"{name} at {where}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{name}: {error.message}"]
    return []


# ---------------------------------------------------------------- what we rely on


def unmet(expected: Sequence[Expected | DrainSafe], objects: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """(missing|mismatch|rotation, sentence) for each expectation the rendered objects do not meet."""
    by_id = {(o.get("kind"), (o.get("metadata") or {}).get("name")): o for o in objects}
    budgets = [o for o in objects if o.get("kind") == "PodDisruptionBudget"]
    for want in expected:
        if isinstance(want, DrainSafe):
            deployment = by_id.get(("Deployment", want.deployment))
            if deployment is None:
                yield "missing", f"Deployment/{want.deployment} is not rendered"
                continue
            for problem in tier_from_objects(want.tier, deployment, budgets).problems():
                yield "rotation", f"Deployment/{want.deployment}: {problem}"
            continue
        obj = by_id.get((want.kind, want.name))
        where = f"{want.kind}/{want.name}"
        if obj is None:
            yield "missing", f"{where} is not rendered"
            continue
        path = ".".join(str(p.name if isinstance(p, Named) else p) for p in want.field)
        found, actual = _lookup(obj, want.field)
        if not found:
            yield "missing", f"{where} has no {path} (expected {want.value!r})"
        elif not _holds(actual, want.value, contains=want.contains):
            relation = "to contain" if want.contains else "to be"
            yield "mismatch", f"{where} {path} is {actual!r}, expected {relation} {want.value!r}"


def _lookup(obj: Any, path: Sequence[PathPart]) -> tuple[bool, Any]:
    here = obj
    for part in path:
        if isinstance(part, Named):
            items = (
                [i for i in here if isinstance(i, Mapping) and i.get("name") == part.name]
                if isinstance(here, list)
                else []
            )
            if not items:
                return False, None
            here = items[0]
        elif isinstance(part, int):
            if not isinstance(here, list) or part >= len(here):
                return False, None
            here = here[part]
        else:
            if not isinstance(here, Mapping) or part not in here:
                return False, None
            here = here[part]
    return True, here


def _holds(actual: Any, wanted: Any, *, contains: bool) -> bool:
    if not contains:
        return bool(actual == wanted)
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(k in actual and actual[k] == v for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and all(item in actual for item in wanted)
    return bool(actual == wanted)
