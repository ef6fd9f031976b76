"""The pinned platform charts, rendered with the values the program really passes, for every stack.

The releases come from running the real program (stacks/__main__.py) for each real stack file under
Pulumi's mocks (harness.mocked_stack): chart, version, repository, release name, namespace and values
exactly as `helm.v3.Release` receives them, and the cluster's Kubernetes version from the EKS cluster the
same run creates. Nothing here repeats a chart version or a value.

    python -m harness.pinned_charts pull DIR    # download every chart the program installs into DIR/<chart>/ (network)
    python -m harness.pinned_charts check DIR   # render and check each stack's releases against DIR (offline)

CI runs both (`.ci/charts`, job "charts" in .github/workflows/ci.yml). Without the network, `check` takes the
charts' sources from their repositories at the pinned tags, laid out as `pull` leaves them, e.g.
`git -C ingress-nginx archive helm-chart-4.15.1 charts/ingress-nginx | tar -x` moved to
DIR/ingress-nginx-4.15.1/ingress-nginx. cert-manager's source Chart.yaml says version v0.0.0 (its release
tool fills it in): set `version` and `appVersion` to v1.21.1 in that copy, never in a repository. Envoy Gateway's
likewise (charts/gateway-helm, v0.0.0-latest), and its release writes values.yaml from values.tmpl.yaml
(v1.8.3 tools/make/helm.mk: envsubst with GatewayImage=docker.io/envoyproxy/gateway:v1.8.3 and
GatewayImagePullPolicy=IfNotPresent): do the same in the copy, DIR/gateway-helm-v1.8.3/gateway-helm.
kube-prometheus-stack's source keeps its `crds` subchart in charts/; add its other enabled dependencies
(Chart.yaml) from their own tags: prometheus-community/helm-charts kube-state-metrics-8.4.0 and
prometheus-node-exporter-4.56.1, grafana-community/helm-charts grafana-12.11.1, each as charts/<name>.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.chart_check import Finding, Release, check_release, crd_files, crd_schemas, invalid_at
from harness.chart_expectations import EXPECTED
from harness.mocked_stack import run_stack
from harness.project_files import stack_names

VARIANTS = {"prd-gateway-api": ("prd", {"router": "gateway-api"})}
"""Settings no committed stack uses yet, on a real stack's file: prd with router gateway-api (Envoy Gateway)."""
RUNS = (*stack_names(), *VARIANTS)
"""Everything `check` renders by default: each stack, then each variant."""
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CLUSTER_TYPE = "aws:eks/cluster:Cluster"
CUSTOM_RESOURCE_TYPES = ("kubernetes:monitoring.coreos.com/",)
"""The program's custom resources whose CRDs a pinned chart installs (kube-prometheus-stack's)."""
IMAGE_TAG = "v1.2.3"
"""The tag a deploy sets with `-c imageTag=…`; charts do not depend on it, but the program needs one."""


@dataclass(frozen=True)
class StackReleases:
    """One stack's Helm releases and the Kubernetes version of the cluster they go to."""

    stack: str
    kube_version: str
    releases: tuple[Release, ...]
    custom_resources: tuple[dict[str, Any], ...] = ()
    """The program's own objects of the charts' CRDs (the app's PodMonitor and PrometheusRule), as sent."""


def as_helm_number(value: Any) -> Any:
    """Values as Helm receives them: Pulumi numbers are doubles, and a whole one reaches Helm as an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: as_helm_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_helm_number(v) for v in value]
    return value


def stack_releases(stack: str) -> StackReleases:
    """The releases `pulumi up -s <stack>` would install, read from the program's own run under mocks."""
    base, overrides = VARIANTS.get(stack, (stack, {}))
    # The committed stack files still hold Pulumi.yaml's placeholder domain; the charts don't depend on it.
    graph = run_stack(base, {"imageTag": IMAGE_TAG, **overrides}, allow_placeholders=True)
    releases = tuple(
        Release(
            chart=r.inputs["chart"],
            version=r.inputs["version"],
            repository=(r.inputs.get("repositoryOpts") or {}).get("repo", ""),
            name=r.inputs["name"],
            namespace=r.inputs["namespace"],
            values=as_helm_number(r.inputs.get("values") or {}),
        )
        for r in graph.of_type(RELEASE_TYPE)
    )
    custom = tuple(
        {"apiVersion": r.inputs["apiVersion"], "kind": r.inputs["kind"], **r.inputs}
        for r in graph.resources
        if r.type.startswith(CUSTOM_RESOURCE_TYPES)
    )
    return StackReleases(stack, graph.one(CLUSTER_TYPE).inputs["version"], releases, custom)


def charts_to_pull(stacks: Iterable[StackReleases]) -> list[Release]:
    """One release per distinct chart and version; two stacks on different versions would need both."""
    seen: dict[tuple[str, str, str], Release] = {}
    for stack in stacks:
        for release in stack.releases:
            seen.setdefault((release.chart, release.version, release.repository), release)
    return list(seen.values())


def chart_dir(root: Path, release: Release) -> Path:
    """Where `pull` unpacks a chart and `check` looks for it: DIR/<chart name>-<version>/<chart name>."""
    return root / f"{release.chart_name}-{release.version}" / release.chart_name


def pull(root: Path, releases: Sequence[Release], fetch: Callable[..., Any] | None = None) -> list[Path]:
    """Download and unpack each release's chart at its pinned version; returns the chart directories."""
    if fetch is None:
        import helm_python

        fetch = helm_python.pull
    directories = []
    for release in releases:
        target = chart_dir(root, release)
        target.parent.mkdir(parents=True, exist_ok=True)
        # helm-python-sdk 0.2.2 helm_python/registry.py `pull`: a repository chart is its name plus repo_url,
        # an OCI chart its oci:// reference; untar_dir receives <chart name>/.
        fetch(
            release.chart,
            version=release.version,
            repo_url=release.repository or None,
            destination=target.parent,
            untar=True,
            untar_dir=target.parent,
        )
        directories.append(target)
    return directories


def check_stack(root: Path, stack: StackReleases) -> list[str]:
    """Every finding for one stack's releases, each line naming the stack and the release."""
    lines = []
    # Custom resources a chart renders (ingress-nginx's ServiceMonitor) are checked against the CRDs the stack
    # installs (kube-prometheus-stack's), as the API server would check them.
    schemas = crd_schemas(crd for r in stack.releases for crd in crd_files(chart_dir(root, r)))
    for release in stack.releases:
        directory = chart_dir(root, release)
        if not (directory / "Chart.yaml").is_file():
            lines.append(f"{stack.stack} {release.name}: no chart at {directory}; run `pull {root}` first")
            continue
        expected = EXPECTED.get(release.chart_name)
        findings: list[Finding] = (
            [
                Finding(
                    "unchecked",
                    f"no expectations for chart {release.chart_name} in tests/harness/chart_expectations.py",
                )
            ]
            if expected is None
            else check_release(
                directory, release, kube_version=stack.kube_version, expected=expected(release), custom_schemas=schemas
            )
        )
        lines += [f"{stack.stack} {release.name}: {finding}" for finding in findings]
    # The program's own custom resources, against the same CRDs: a field the operator's schema refuses would
    # fail `pulumi up` only on a real cluster.
    for obj in stack.custom_resources:
        key = (obj["apiVersion"], obj["kind"])
        problems = invalid_at(obj, stack.kube_version, schemas) if key in schemas else ["no chart installs its CRD"]
        lines += [f"{stack.stack} program {obj['kind']}: invalid-object: {problem}" for problem in problems]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.pinned_charts", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("pull", "check"))
    parser.add_argument("directory", type=Path, help="where the charts are unpacked, DIR/<chart>-<version>/<chart>")
    parser.add_argument("--stack", action="append", choices=RUNS, help="only these stacks (default: all)")
    args = parser.parse_args(argv)
    stacks = [stack_releases(stack) for stack in args.stack or RUNS]
    if args.action == "pull":
        for directory in pull(args.directory, charts_to_pull(stacks)):
            print(f"pulled {directory}")
        return 0
    failed = False
    for stack in stacks:
        lines = check_stack(args.directory, stack)
        for release in stack.releases:
            print(
                f"{stack.stack}: {release.chart_name} {release.version} as `{release.name}` in {release.namespace}"
                f", Kubernetes {stack.kube_version}"
            )
        for line in lines:
            print(f"  {line}")
        failed = failed or bool(lines)
    print("charts: findings above" if failed else "charts: every release renders, validates and carries our values")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
