"""The hashed locks read as data, and whether each still answers the hand-edited file it was compiled from.

`make lock` (uv pip compile --universal --generate-hashes) turns requirements.txt (with app/requirements.txt)
into requirements.lock, app/requirements.txt into app/requirements.lock (constrained by the main lock) and
.ci/checkov.in into .ci/checkov.lock. A lock is stale when its input changed afterwards; the checks here see
that offline, from the texts alone. Each problem is one sentence naming the package and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

FIX = "run `make lock` and commit the lock with its input"

# uv's output format: `name==version ; marker \`, then `--hash=sha256:… \` lines, then `# via …` annotations
# (`# via X` on one line, or `# via` followed by `#   X` lines). Anything else is not a pin this file reads.
_PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?")
_HASH = re.compile(r"\s+--hash=sha256:(?P<digest>[0-9a-f]{64})\s*\\?")
_VIA = re.compile(r"\s+#\s+(?:via\s+)?(?P<source>\S.*?)\s*")
_VIA_HEAD = re.compile(r"\s+#\s+via\s*")


@dataclass(frozen=True)
class Pin:
    """One locked package: an exact version, the environments it applies to, its files' hashes and who asked."""

    name: NormalizedName
    version: Version
    marker: str | None
    hashes: frozenset[str]
    via: frozenset[str]

    @property
    def requested_by(self) -> frozenset[str]:
        """The input files that name this package directly (`# via -r FILE`)."""
        return frozenset(source.removeprefix("-r ").strip() for source in self.via if source.startswith("-r "))


@dataclass(frozen=True)
class Lock:
    """A lock file's pins, and the lines that are not part of uv's pin format (each a problem)."""

    pins: tuple[Pin, ...]
    unreadable: tuple[str, ...]

    def named(self, name: str) -> list[Pin]:
        """Every pin of one package (uv writes one per marker when Python versions need different releases)."""
        return [pin for pin in self.pins if pin.name == canonicalize_name(name)]


def parse_lock(text: str) -> Lock:
    """Read a `uv pip compile --generate-hashes` output."""
    pins: list[Pin] = []
    unreadable: list[str] = []
    current: dict[str, Any] | None = None

    def finish() -> None:
        if current is not None:
            pins.append(Pin(**{**current, "hashes": frozenset(current["hashes"]), "via": frozenset(current["via"])}))

    for line in text.splitlines():
        if not line.strip() or (line.startswith("#") and current is None):
            continue  # blank lines and the header
        if pin := _PIN.fullmatch(line):
            finish()
            try:
                version = Version(pin["version"])
            except InvalidVersion:
                unreadable.append(line)
                current = None
                continue
            name, marker = canonicalize_name(pin["name"]), pin["marker"]
            current = {"name": name, "version": version, "marker": marker, "hashes": set(), "via": set()}
        elif current is not None and (digest := _HASH.fullmatch(line)):
            current["hashes"].add(digest["digest"])
        elif current is not None and _VIA_HEAD.fullmatch(line):
            continue
        elif current is not None and (via := _VIA.fullmatch(line)):
            current["via"].add(via["source"])
        else:
            unreadable.append(line)
    finish()
    return Lock(pins=tuple(pins), unreadable=tuple(unreadable))


@dataclass(frozen=True)
class RequirementsText:
    """One hand-edited requirements file: its requirements and the files it includes with `-r`."""

    requirements: tuple[Requirement, ...]
    includes: tuple[str, ...]


def parse_requirements(text: str, *, where: str) -> RequirementsText:
    """Read a requirements file as `make lock` feeds it to uv: requirements, `-r` includes and comments."""
    requirements: list[Requirement] = []
    includes: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        if include := re.fullmatch(r"(?:-r|--requirement)\s*=?\s*(\S+)", line):
            includes.append(include[1])
            continue
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement as error:
            raise ValueError(f"{where}:{number}: {line!r} is not a requirement this check reads ({error})") from None
    return RequirementsText(requirements=tuple(requirements), includes=tuple(includes))


def read_requirement_files(path: Path, *, root: Path) -> dict[str, tuple[Requirement, ...]]:
    """A requirements file and every file it includes: path relative to root (as uv names it) → requirements."""
    files: dict[str, tuple[Requirement, ...]] = {}
    pending = [path]
    while pending:
        current = pending.pop()
        name = current.resolve().relative_to(root.resolve()).as_posix()
        if name in files:
            continue
        parsed = parse_requirements(current.read_text(encoding="utf-8"), where=name)
        files[name] = parsed.requirements
        pending.extend(current.parent / include for include in parsed.includes)
    return files


def stale(requested: Mapping[str, Sequence[Requirement]], lock: Lock, *, lock_name: str) -> list[str]:
    """Where a lock no longer answers its input files: each problem one sentence; none when it is current."""
    problems = [f"{lock_name} has a line that is not a hashed pin: {bad.strip()!r}; {FIX}." for bad in lock.unreadable]
    for file, requirements in requested.items():
        for requirement in requirements:
            pins = lock.named(requirement.name)
            if not pins:
                problems.append(f"{file} asks for {requirement} but {lock_name} has no {requirement.name}; {FIX}.")
            for pin in pins:
                if not requirement.specifier.contains(pin.version, prereleases=True):
                    problems.append(
                        f"{file} asks for {requirement} but {lock_name} pins {pin.name} {pin.version}; {FIX}."
                    )
    for pin in lock.pins:
        if not pin.hashes:
            problems.append(f"{lock_name} pins {pin.name} {pin.version} without hashes; {FIX}.")
        for file in sorted(pin.requested_by):
            names = {canonicalize_name(requirement.name) for requirement in requested.get(file, ())}
            if pin.name not in names:
                problems.append(f"{lock_name} pins {pin.name} for {file}, which no longer asks for it; {FIX}.")
    return problems


def disagreements(subset: Lock, main: Lock, *, subset_name: str, main_name: str) -> list[str]:
    """Where a lock meant to hold a share of another (the image's) pins a version or files the other does not."""
    problems = []
    for pin in subset.pins:
        twins = [other for other in main.named(pin.name) if other.version == pin.version]
        if not twins:
            locked = ", ".join(str(other.version) for other in main.named(pin.name)) or "nothing"
            problems.append(f"{subset_name} pins {pin.name} {pin.version}, {main_name} {locked}; {FIX}.")
        elif all(twin.hashes != pin.hashes for twin in twins):
            problems.append(f"{subset_name} and {main_name} list different files for {pin.name} {pin.version}; {FIX}.")
    return problems


def pinned_cli_versions(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every literal Pulumi CLI version a workflow sets: `PULUMI_VERSION` env values and `pulumi-version` inputs."""
    if isinstance(node, dict):
        for key, value in node.items():
            place = f"{where}.{key}" if where else str(key)
            if key in ("PULUMI_VERSION", "pulumi-version") and not str(value).startswith("${{"):
                yield place, str(value)
            else:
                yield from pinned_cli_versions(value, place)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from pinned_cli_versions(item, f"{where}[{index}]")
