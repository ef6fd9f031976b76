"""The small Actions model the pipeline tests rely on behaves like GitHub where the workflows need it."""

from __future__ import annotations

import pytest

from harness.actions_model import ExpressionError, condition_holds, evaluate, run_job

OK = {"success": True, "failure": False, "always": True, "cancelled": False}
FAILED = {"success": False, "failure": True, "always": True, "cancelled": False}
CONTEXT = {"steps": {"a": {"outcome": "failure", "outputs": {"tag": "v1"}}}, "inputs": {"tag": "V1"}, "env": {}}


def test_comparisons_ignore_case_and_missing_values_read_as_empty() -> None:
    assert evaluate("${{ steps.a.outputs.tag == inputs.tag }}", CONTEXT, OK) is True
    assert evaluate("steps.b.outputs.tag == ''", CONTEXT, OK) is True
    assert evaluate("steps.a.outcome != 'failure' || inputs.tag", CONTEXT, OK) == "V1"


def test_a_condition_without_a_status_function_means_success_and_it() -> None:
    assert condition_holds("steps.a.outcome == 'failure'", CONTEXT, OK) is True
    assert condition_holds("steps.a.outcome == 'failure'", CONTEXT, FAILED) is False
    assert condition_holds("failure() && steps.a.outcome == 'failure'", CONTEXT, FAILED) is True
    assert condition_holds("always()", CONTEXT, FAILED) is True
    assert condition_holds(None, CONTEXT, FAILED) is False


@pytest.mark.parametrize("expression", ["contains(inputs.tag, 'v')", "inputs.tag ==", "unknown.context", "a ? b"])
def test_what_the_model_cannot_read_is_an_error_not_a_guess(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, CONTEXT, OK)


def test_a_failed_step_fails_the_job_unless_it_may_continue() -> None:
    job = {
        "steps": [
            {"id": "one"},
            {"id": "two", "continue-on-error": True},
            {"id": "three"},
            {"id": "four", "if": "failure()"},
        ]
    }
    run = run_job(job, inputs={}, failing={"two"})
    assert not run.failed and run.ran == ["one", "two", "three"]
    run = run_job(job, inputs={}, failing={"one"})
    assert run.failed and run.ran == ["one", "four"] and run.outcomes["three"] == "skipped"
