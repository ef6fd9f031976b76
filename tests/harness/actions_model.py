"""A small model of how GitHub Actions runs a job's steps, to test the workflows' conditions for real.

It evaluates the `if:` expressions the workflows use (contexts `steps`, `inputs`, `env`, `vars`,
`matrix`; literals; `!`, `==`, `!=`, `&&`, `||`, parentheses; status functions `success()`,
`failure()`, `always()`, `cancelled()`) with GitHub's rules: an `if:` without a status function
means `success() && (…)`, a failed step fails the job unless it has `continue-on-error`, and a
skipped step has outcome `skipped` and no outputs. Anything else in an expression is an error here,
so a workflow that grows a construct this model does not know fails its test instead of passing
silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))"
)
STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")


class ExpressionError(ValueError):
    """An expression this model cannot evaluate."""


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    context: Mapping[str, Any]
    status: Mapping[str, bool]
    position: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise ExpressionError("the expression ends too early")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse_or(self) -> Any:
        left = self.parse_and()
        while self.peek() == "||":
            self.take()
            right = self.parse_and()
            left = left if _truthy(left) else right
        return left

    def parse_and(self) -> Any:
        left = self.parse_compare()
        while self.peek() == "&&":
            self.take()
            right = self.parse_compare()
            left = right if _truthy(left) else left
        return left

    def parse_compare(self) -> Any:
        left = self.parse_unary()
        while self.peek() in ("==", "!="):
            operator = self.take()[1]
            right = self.parse_unary()
            equal = _loose(left) == _loose(right)
            left = equal if operator == "==" else not equal
        return left

    def parse_unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not _truthy(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Any:
        kind, value = self.take()
        if value == "(":
            inner = self.parse_or()
            if self.take()[1] != ")":
                raise ExpressionError("missing ')'")
            return inner
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value)
        if kind == "name":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self.peek() == "(":
                self.take()
                if self.take()[1] != ")" or value not in STATUS_FUNCTIONS:
                    raise ExpressionError(f"unknown function {value}()")
                return self.status[value]
            return _lookup(self.context, value)
        raise ExpressionError(f"unexpected {value!r}")


def _lookup(context: Mapping[str, Any], dotted: str) -> Any:
    head, *rest = dotted.split(".")
    if head not in context:
        raise ExpressionError(f"unknown context {head!r}")
    value: Any = context[head]
    for part in rest:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _truthy(value: Any) -> bool:
    return value not in (None, "", 0, 0.0, False)


def _loose(value: Any) -> Any:
    # GitHub compares strings case-insensitively and treats null like ''.
    if value is None:
        return ""
    return value.lower() if isinstance(value, str) else value


def evaluate(expression: str, context: Mapping[str, Any], status: Mapping[str, bool]) -> Any:
    """Evaluate one expression (with or without `${{ }}`) against `context`."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    parser = _Parser(_tokens(text), context, status)
    value = parser.parse_or()
    if parser.position != len(parser.tokens):
        raise ExpressionError(f"trailing tokens in {expression!r}")
    return value


def condition_holds(condition: Any, context: Mapping[str, Any], status: Mapping[str, bool]) -> bool:
    """Whether a step with this `if:` runs; no status function means `success() && (…)`."""
    if condition is None:
        return status["success"]
    if isinstance(condition, bool):
        return condition and status["success"]
    text = str(condition)
    result = _truthy(evaluate(text, context, status))
    if not any(re.search(rf"\b{name}\(\)", text) for name in STATUS_FUNCTIONS):
        result = result and status["success"]
    return result


@dataclass
class JobRun:
    """What happened to each step of one simulated job run."""

    outcomes: dict[str, str] = field(default_factory=dict)
    """Step id (or name) → success, failure or skipped."""
    ran: list[str] = field(default_factory=list)
    failed: bool = False

    def did_run(self, step: str) -> bool:
        """True when the step ran."""
        return step in self.ran


def step_key(step: Mapping[str, Any]) -> str:
    """A step's id, or its name when it has none."""
    return str(step.get("id") or step.get("name"))


def run_job(
    job: Mapping[str, Any],
    *,
    inputs: Mapping[str, Any],
    failing: set[str] = frozenset(),  # type: ignore[assignment]
    outputs: Mapping[str, Mapping[str, str]] | None = None,
) -> JobRun:
    """Simulate a job: steps in `failing` fail, the others succeed and set `outputs[step]`."""
    produced = dict(outputs or {})
    run = JobRun()
    steps_context: dict[str, dict[str, Any]] = {}
    context: dict[str, Any] = {"steps": steps_context, "inputs": dict(inputs), "env": {}, "vars": {}, "matrix": {}}
    for step in job["steps"]:
        key = step_key(step)
        status = {"success": not run.failed, "failure": run.failed, "always": True, "cancelled": False}
        if not condition_holds(step.get("if"), context, status):
            run.outcomes[key] = "skipped"
            steps_context[key] = {"outcome": "skipped", "conclusion": "skipped", "outputs": {}}
            continue
        run.ran.append(key)
        outcome = "failure" if key in failing else "success"
        run.outcomes[key] = outcome
        steps_context[key] = {
            "outcome": outcome,
            "conclusion": "success" if step.get("continue-on-error") else outcome,
            "outputs": dict(produced.get(key, {})) if outcome == "success" else {},
        }
        if outcome == "failure" and not step.get("continue-on-error"):
            run.failed = True
    return run
