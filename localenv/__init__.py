"""The local environment: the app's real Deployment rolled out on one machine, with real processes.

A real nginx (Lua balancer over endpoints in a shared dict, as ingress-nginx does it) in front of
pods that are real gunicorn processes of the app, each on its own loopback port, driven by a control
loop doing the work of the Deployment controller, the kubelet and the endpoints controller. It reads
the same Deployment dict `app.contract.render` produces for EKS (the `local` profile in
`localenv/profile.py`), so what it proves about zero downtime is proved about that spec.

Command line: `python -m localenv --help` (up, deploy, status, rollback, down, watch, demo).

Python API (tests, benchmark, smoke checks):

    from localenv import LocalEnvironment

    with LocalEnvironment(tmp_path / "env", port=0) as env:   # port 0: any free loopback port
        env.up(version="v1", replicas=3)                     # waits until 3 pods are available
        env.url                                              # http://127.0.0.1:<port>
        result = env.deploy("v2")                            # RolloutResult; waits for complete + drained
        result.ok, result.seconds, result.message
        env.deploy(deployment=naive_dict)                    # any Deployment dict (e.g. a naive spec)
        env.deploy("v3", image_repository="example-app-never-ready")  # test images: see localenv/images.py
        env.rollback()                                       # back to the previous revision
        env.kill_pod()                                       # SIGKILL a serving pod (it is restarted)
        env.status()                                         # counts, pods, endpoints, ingress retries
        env.events                                           # every event, typed (localenv/control/events.py)
    # leaving the block stops every process it started

Canary releases (localenv/canary.py): `release_canary(env, "v2")` runs the new version as a second
Deployment beside the stable one at 10 → 50 → 100 % with an analysis at each step, then promotes or
aborts it; the CLI's `deploy --strategy canary`, `promote` and `abort` drive the same.

One rollout at a time: `deploy` while a rollout is progressing raises `RolloutInProgressError` (refused,
not queued); `rollback` is always allowed. User errors raise `LocalEnvError` with one clear sentence.
"""

from localenv.environment import LocalEnvironment, RolloutResult, default_state_dir
from localenv.errors import LocalEnvError, RolloutInProgressError
from localenv.profile import local_deployment, local_manifests, local_settings

__all__ = [
    "LocalEnvError",
    "LocalEnvironment",
    "RolloutInProgressError",
    "RolloutResult",
    "default_state_dir",
    "local_deployment",
    "local_manifests",
    "local_settings",
]
