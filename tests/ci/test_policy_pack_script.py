""".ci/policy-pack.sh and its tiny stack: what CI proves about the policy pack on the real engine.

The Pulumi CLI cannot run here, so the script runs against a stand-in `pulumi` on PATH that records
its arguments and answers each preview as told; the tiny stack runs under Pulumi's mocks with the
real policy pack over it, which shows the stack breaks exactly the rule the script expects.
"""

from __future__ import annotations

import runpy
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

from harness.crossguard import from_graph, run_pack
from harness.mocked_stack import Graph, RecordingMonitor, StackMocks
from infra.policy import Resource

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / ".ci" / "policy-pack.sh"
TINY_STACK = REPO_ROOT / "tests" / "ci" / "policy_stack.py"
VIOLATION = """Policies:
    ❌ example-app@v0.0.1 (local: {pack})
        - [mandatory]  network-policy-enforced  (kubernetes:networking.k8s.io/v1:NetworkPolicy: app)
          A stack that renders a NetworkPolicy also turns on its enforcement in the EKS VPC CNI add-on.
"""
# Records every call; `config set enforceNetworkPolicy true` switches later previews to the "good" answer.
FAKE_PULUMI = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_DIR/calls"
case "$1" in
  stack)
    { echo "backend=$PULUMI_BACKEND_URL"; cat Pulumi.yaml; } > "$FAKE_DIR/project"
    cp __main__.py "$FAKE_DIR/program" ;;
  config)
    if [ "$3" = enforceNetworkPolicy ]; then touch "$FAKE_DIR/enforcing"; fi ;;
  preview)
    if [ -f "$FAKE_DIR/enforcing" ]; then answer=good; else answer=bad; fi
    cat "$FAKE_DIR/$answer.out"
    exit "$(cat "$FAKE_DIR/$answer.rc")" ;;
esac
"""


def _run(tmp_path: Path, bad: tuple[int, str], good: tuple[int, str]) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pulumi").write_text(FAKE_PULUMI, encoding="utf-8")
    (fake / "pulumi").chmod(0o755)
    for name, (rc, out) in (("bad", bad), ("good", good)):
        (tmp_path / f"{name}.rc").write_text(str(rc), encoding="utf-8")
        (tmp_path / f"{name}.out").write_text(out, encoding="utf-8")
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={"PATH": f"{fake}:/usr/bin:/bin", "FAKE_DIR": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_violation_then_a_clean_preview_passes(tmp_path: Path) -> None:
    pack = REPO_ROOT / "infra" / "policy_pack"
    result = _run(tmp_path, bad=(255, VIOLATION.format(pack=pack)), good=(0, "Resources:\n    + 5 to create\n"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(
        "policy pack: enforced on the real engine (a violation fails the preview; the fixed stack passes)."
    )
    calls = (tmp_path / "calls").read_text(encoding="utf-8").splitlines()
    preview = f"preview --non-interactive --color never --policy-pack {pack}"
    assert calls[0] == "stack init policy-check --non-interactive"
    assert calls[1].startswith("config set renderDirectory /")
    assert calls[2:] == [preview, "config set enforceNetworkPolicy true", preview]
    # The tiny stack runs in the program's one virtualenv, from a state directory of its own.
    project = (tmp_path / "project").read_text(encoding="utf-8")
    assert project.startswith("backend=file:///")
    assert f"virtualenv: {REPO_ROOT}/.venv" in project and "toolchain: pip" in project
    assert (tmp_path / "program").read_text(encoding="utf-8") == TINY_STACK.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("case", "bad", "good", "error"),
    [
        ("the pack let the violation through", (0, "Resources: 4 to create\n"), (0, ""), "the preview passed"),
        (
            "the preview broke for another reason",
            (255, "error: could not load plugin\n"),
            (0, ""),
            "not on the mandatory",
        ),
        (
            "the rule is only advisory",
            (0, VIOLATION.replace("[mandatory]", "[advisory]")),
            (0, ""),
            "the preview passed",
        ),
        (
            "an advisory report on a preview that broke anyway",
            (255, VIOLATION.replace("[mandatory]", "[advisory]")),
            (0, ""),
            "not on the mandatory",
        ),
        ("the fixed stack still fails", (255, VIOLATION), (255, "error: boom\n"), "with the vpc-cni add-on"),
    ],
)
def test_anything_else_fails_the_job_with_one_line(
    tmp_path: Path, case: str, bad: tuple[int, str], good: tuple[int, str], error: str
) -> None:
    result = _run(tmp_path, bad=bad, good=good)
    assert result.returncode == 1, case
    assert result.stderr.startswith("error: ") and error in result.stderr, (case, result.stderr)


def _tiny_stack(**config: str) -> list[Resource]:
    """The tiny stack's resources under Pulumi's mocks, as infra.policy Resources."""
    mocks = StackMocks("eu-west-1")
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config({"policy-check:renderDirectory": "/tmp/manifests", **config})
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="policy-check", stack="policy-check", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program() -> Any:
        runpy.run_path(str(TINY_STACK), run_name="__main__")
        return pulumi.Output.from_input(None)

    program()
    return from_graph(Graph(stack="policy-check", resources=monitor.registered))


def test_the_tiny_stack_breaks_only_network_policy_enforced_until_the_add_on_enforces_it() -> None:
    bad = run_pack(_tiny_stack(), project="policy-check", stack="policy-check")
    assert {v.policy for v in bad} == {"network-policy-enforced"}, [str(v) for v in bad]
    good = _tiny_stack(**{"policy-check:enforceNetworkPolicy": "true"})
    assert {r.type for r in good} >= {"aws:eks/addon:Addon", "kubernetes:networking.k8s.io/v1:NetworkPolicy"}
    assert run_pack(good, project="policy-check", stack="policy-check") == []
