"""The app's deployment contract: typed settings in, plain Kubernetes objects out.

Pure Python with no Pulumi import. The EKS stacks (infra/) and the local environment both consume
exactly what `render` returns; nothing else describes how the app runs.
"""

from app.contract.manifests import Manifests, render
from app.contract.settings import AppSettings, SettingsError

__all__ = ["AppSettings", "Manifests", "SettingsError", "render"]
