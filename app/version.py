"""The app's version: the image tag it was deployed from, read once at start."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# OCI distribution spec's tag grammar; a version we cannot put in an image reference is no version.
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DEV_VERSION = "dev"
UNKNOWN_COMMIT = "unknown"


class VersionError(ValueError):
    """APP_VERSION (or APP_COMMIT) holds something that cannot be an image tag."""


def is_valid_tag(tag: str) -> bool:
    """True when `tag` follows the OCI tag grammar."""
    return TAG_PATTERN.fullmatch(tag) is not None


@dataclass(frozen=True)
class BuildInfo:
    """What this process serves: its version (image tag), commit and build time when known."""

    version: str
    commit: str = UNKNOWN_COMMIT
    built: str = ""

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> BuildInfo:
        """Read APP_VERSION / APP_COMMIT / APP_BUILD; unset version means `dev`, an invalid one is refused."""
        env = os.environ if environ is None else environ
        version = env.get("APP_VERSION", "").strip() or DEV_VERSION
        if not is_valid_tag(version):
            raise VersionError(
                f"APP_VERSION={version!r} is not a valid image tag: use letters, digits, '_', '.', '-' "
                "(up to 128, not starting with '.' or '-'), or unset it for 'dev'."
            )
        commit = env.get("APP_COMMIT", "").strip() or UNKNOWN_COMMIT
        if not re.fullmatch(r"[0-9A-Za-z._-]{1,64}", commit):
            raise VersionError(f"APP_COMMIT={commit!r} is not a commit id: use the git SHA, or unset it.")
        return cls(version=version, commit=commit, built=env.get("APP_BUILD", "").strip()[:64])
