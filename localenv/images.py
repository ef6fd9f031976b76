"""Which command an image runs locally: there are no containers, so an image name maps to a process.

`example-app:<tag>` runs the real app under gunicorn with `app/gunicorn.conf.py`, exactly as the
container does. Two test-only images exist so tests can break a release without any fault switch in
the production app:

- `example-app-never-ready:<tag>` — the app's gunicorn serving `localenv.never_ready`: it starts and
  answers /healthz, but /readyz is always 503, so the rollout stalls until its progress deadline.
- `example-app-crash:<tag>` — a process that exits with an error as soon as it starts.
- `example-app-faulty:<tag>` — the real app that becomes ready but answers one in four user requests
  with 500 (`localenv.faulty_release`): a bad build only a canary's analysis catches.
"""

from __future__ import annotations

import sys
from pathlib import Path

from localenv.errors import LocalEnvError

REPO_ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPO_ROOT / "app" / "gunicorn.conf.py"
APP_IMAGE = "example-app"
NEVER_READY_IMAGE = "example-app-never-ready"
CRASH_IMAGE = "example-app-crash"
FAULTY_IMAGE = "example-app-faulty"
# An ingress-nginx controller pod (localenv/ingress_pod.py): nginx + Lua balancer and the controller's stop sequence.
INGRESS_IMAGE = "ingress-nginx-local"
IMAGES = (APP_IMAGE, NEVER_READY_IMAGE, CRASH_IMAGE, FAULTY_IMAGE, INGRESS_IMAGE)


def command_for(repository: str) -> list[str]:
    """The command line a pod of this image repository runs (gunicorn binds where BIND says)."""
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    if repository == APP_IMAGE:
        return gunicorn
    if repository == NEVER_READY_IMAGE:
        return [*gunicorn, "localenv.never_ready:application"]
    if repository == FAULTY_IMAGE:
        return [*gunicorn, "localenv.faulty_release:application"]
    if repository == INGRESS_IMAGE:
        return [sys.executable, "-m", "localenv.ingress_pod"]
    if repository == CRASH_IMAGE:
        return [sys.executable, "-m", "localenv.crash_on_start"]
    raise LocalEnvError(f"image {repository!r} is not known locally; use one of: {', '.join(IMAGES)}")
