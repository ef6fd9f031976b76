"""What the canary driver's analysis identity may do, as plain IAM and RBAC documents (no Pulumi).

The driver reads the canary's request counters from the stack's Prometheus through the API server's service
proxy (infra/canary_driver.py). That needs one Kubernetes permission — `get` on the `services/proxy`
subresource of one Service — and no other: no `pods/exec`, nothing cluster-wide. infra/canary_analysis_access.py
turns these documents into an IAM role, its EKS access entry and a namespaced Role; tests ask them directly::

    analysis_rules()  # [{"apiGroups": [""], "resources": ["services/proxy"], "resourceNames": [...], "verbs": …}]

How RBAC sees a service-proxy request (kubernetes/apiserver v0.33.0 … v0.35.7, the Kubernetes 1.33–1.35
library, pkg/endpoints/request/requestinfo.go `NewRequestInfo`): the path is split on "/"; for
`/api/v1/namespaces/<ns>/services/<segment>/proxy/<rest>` a GET is verb `get` (the URL carries no `proxy/`
verb prefix), namespace `<ns>`, resource `services`, name `<segment>` — the whole path segment, port and any
scheme prefix included — and subresource `proxy`; the rest is not interpreted. RBAC matches the rule's
resources against `services/proxy` and its resourceNames against that name by plain string equality
(kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go `RuleAllows`, pkg/apis/rbac/v1/evaluation_helpers.go
`ResourceNameMatches`; read from the stored index, not at a tag). So the name granted must be the segment the
driver writes, `<service>:<port name>`: the apiserver would also accept `http:<service>:<port name>`
(kubernetes/apimachinery v0.35.7 pkg/util/net/port_split.go `SplitSchemeNamePort`), but RBAC would see a
different name and refuse it. Both come from PROMETHEUS_PROXY_NAME below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.contract.manifests import METRICS_SCRAPER_NAMESPACE
from infra.helm_values import PROMETHEUS_PORT_NAME, PROMETHEUS_SERVICE

ANALYSIS_GROUP = "example-app:canary-analysis"
"""The Kubernetes group the analysis role's access entry puts it in; the RoleBinding's only subject. Not under
`system:`, which Kubernetes reserves for its own users and groups."""
ANALYSIS_ROLE = "canary-analysis"
"""Name of the Kubernetes Role and RoleBinding in the Prometheus namespace."""
PROMETHEUS_PROXY_NAME = f"{PROMETHEUS_SERVICE}:{PROMETHEUS_PORT_NAME}"
"""The service-proxy path segment `<service>:<port name>`: the driver's path and the Role's only resourceName."""
PROMETHEUS_PROXY_PATH = f"/api/v1/namespaces/{METRICS_SCRAPER_NAMESPACE}/services/{PROMETHEUS_PROXY_NAME}/proxy"
"""The stack's Prometheus behind the API server's service proxy (the core API's ServiceProxy subresource);
kube-prometheus-stack 88.5.3 values.yaml prometheus.prometheusSpec.portName names the port `http-web`."""


class AnalysisAccessError(ValueError):
    """Arguments that would leave the analysis role without anyone allowed to use it."""


def analysis_rules() -> list[dict[str, Any]]:
    """The Role's rules: `get` on the proxy of the Prometheus Service, by its service-proxy name, nothing else.

    `kubectl proxy` needs nothing more: it reads the kubeconfig and forwards each request with the kubeconfig's
    credentials, calling no discovery endpoint (kubernetes/kubectl v0.35.7 pkg/cmd/proxy/proxy.go `Complete`
    only builds the REST config; pkg/proxy/proxy_server.go `NewProxyHandler` wraps `rest.TransportFor`).
    """
    return [
        {
            "apiGroups": [""],
            "resources": ["services/proxy"],
            "resourceNames": [PROMETHEUS_PROXY_NAME],
            "verbs": ["get"],
        }
    ]


def analysis_binding_subjects() -> list[dict[str, str]]:
    """The RoleBinding's subjects: the access entry's group, and no user or service account."""
    return [{"kind": "Group", "name": ANALYSIS_GROUP, "apiGroup": "rbac.authorization.k8s.io"}]


def analysis_trust_policy(principal_arns: Sequence[str]) -> dict[str, Any]:
    """Who may assume the analysis role: exactly these IAM roles of the stack's account (those that run the driver).

    Naming each role's ARN in the trust policy is enough in the same account: a request allowed by either the
    identity-based or the resource-based policy is allowed (IAM User Guide
    reference_policies_evaluation-logic_policy-eval-basics), so the callers need no `sts:AssumeRole` statement of
    their own. `aws eks get-token --role-arn` calls plain AssumeRole (session name EKSGetTokenAuth, no tags, no
    source identity: aws/aws-cli 2.36.7 awscli/customizations/eks/get_token.py `_get_role_credentials`), so
    `sts:AssumeRole` is the only action trusted.
    """
    arns = sorted(set(principal_arns))
    if not arns:
        raise AnalysisAccessError(
            "the canary analysis role needs at least one role to trust: set example-app:clusterAdminRoles "
            "or githubRepository"
        )
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": arns}, "Action": "sts:AssumeRole"}],
    }
