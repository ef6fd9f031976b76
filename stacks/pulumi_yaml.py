"""Pulumi.yaml's `config:` section, written from the one declaration of every key (stacks/schema.py).

    python -m stacks.pulumi_yaml           # rewrite the section; commit Pulumi.yaml with the schema change
    python -m stacks.pulumi_yaml --check   # exit 1 while Pulumi.yaml disagrees (tests/infra runs the same check)

The schema is the source, Pulumi.yaml the copy the CLI reads: the CLI merges its defaults into every
stack's config before the program runs, so the two must agree, and only the schema can say bounds and
production rules. Everything above `config:` (name, runtime, main, their comments) stays as written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from stacks.schema import project_config

PULUMI_YAML = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
SECTION = "config:"


def render(text: str) -> str:
    """`text` (a Pulumi.yaml) with its `config:` section, the file's last, rewritten from the schema."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), len(lines))
    section = yaml.dump({"config": project_config()}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    return "".join(lines[:start]) + section


class _Dumper(yaml.SafeDumper):
    """Block mappings, one key a line; lists on one line (`default: [t3.large]`)."""


_Dumper.add_representer(list, lambda dumper, items: dumper.represent_sequence("tag:yaml.org,2002:seq", items, True))


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) Pulumi.yaml's config section; print what to do when it differs."""
    parser = argparse.ArgumentParser(prog="python -m stacks.pulumi_yaml", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when Pulumi.yaml disagrees")
    args = parser.parse_args(argv)
    current = PULUMI_YAML.read_text(encoding="utf-8")
    wanted = render(current)
    if current == wanted:
        return 0
    if args.check:
        print(f"{PULUMI_YAML.name} disagrees with stacks/schema.py; run `python -m stacks.pulumi_yaml` and commit it")
        return 1
    PULUMI_YAML.write_text(wanted, encoding="utf-8")
    print(f"{PULUMI_YAML.name}: config section rewritten from stacks/schema.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
