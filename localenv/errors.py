"""The one error type a user of the local environment sees: a sentence naming the problem and the fix."""

from __future__ import annotations


class LocalEnvError(Exception):
    """Something the user can fix (missing nginx, busy port, bad tag, deploy before up); str() says how."""


class RolloutInProgressError(LocalEnvError):
    """A deploy was asked for while another rollout is still progressing; deploys are refused, not queued."""
