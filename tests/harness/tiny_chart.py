"""A tiny chart a test writes into its own directory: a Deployment (with optional spread), an optional PDB, a
ConfigMap naming the Kubernetes version it was rendered for, and a NOTES.txt that is not YAML."""

from __future__ import annotations

from pathlib import Path

CHART_YAML = "apiVersion: v2\nname: tiny\nversion: 0.1.0\nappVersion: '1.0'\n"
VALUES_YAML = """\
replicas: 1
resources:
  requests:
    cpu: 10m
lifecycle: {}
topologySpreadConstraints: []
podDisruptionBudget:
  enabled: false
  # minAvailable: 1     (documented only in a comment, read by the template through hasKey)
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: tiny}
  template:
    metadata:
      labels: {app: tiny}
    spec:
      containers:
        - name: tiny
          image: registry.example/tiny:1.0
          resources: {{- toYaml .Values.resources | nindent 12 }}
          {{- with .Values.lifecycle }}
          lifecycle: {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .Values.topologySpreadConstraints }}
      topologySpreadConstraints: {{- toYaml . | nindent 8 }}
      {{- end }}
"""
# Two objects in one file, split the way Helm splits them: `---# …` is one YAML document to a YAML parser.
BUDGET_AND_VERSION = """\
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels: {app: tiny}
  {{- if hasKey .Values.podDisruptionBudget "minAvailable" }}
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  {{- end }}
{{- end }}
---# which Kubernetes the chart was rendered for
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-kube-version
data:
  version: {{ .Capabilities.KubeVersion.Version | quote }}
"""
NOTES = "Installed {{ .Release.Name }}: not YAML: at all\n"


def write_tiny_chart(directory: Path) -> Path:
    """Write the tiny chart (name `tiny`, version 0.1.0) into directory/tiny and return that path."""
    chart = directory / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text(VALUES_YAML)
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (chart / "templates" / "budget.yaml").write_text(BUDGET_AND_VERSION)
    (chart / "templates" / "NOTES.txt").write_text(NOTES)
    return chart
