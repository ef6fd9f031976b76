"""gunicorn's access log as one JSON object per request (the real-process test checks it end to end)."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from app.access_log import JsonAccessLogger


def _logger(accesslog: str | None) -> JsonAccessLogger:
    config = Config()
    config.set("accesslog", accesslog)
    config.set("errorlog", "-")
    return JsonAccessLogger(config)


def _response(status: int, request_id: str | None) -> SimpleNamespace:
    # The three attributes gunicorn's http.wsgi.Response hands a logger.
    headers = [("Content-Type", "text/plain")]
    if request_id is not None:
        headers.append(("X-Request-ID", request_id))
    return SimpleNamespace(headers=headers, status_code=status, sent=42)


ENVIRON = {"REQUEST_METHOD": "GET", "PATH_INFO": "/version", "REMOTE_ADDR": "127.0.0.1"}


def test_one_json_line_per_request(capsys: pytest.CaptureFixture[str]) -> None:
    _logger("-").access(_response(200, "abc"), None, ENVIRON, timedelta(milliseconds=12.3456))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {k: record[k] for k in ("method", "path", "status", "duration_ms", "request_id", "remote", "bytes")} == {
        "method": "GET",
        "path": "/version",
        "status": 200,
        "duration_ms": 12.346,
        "request_id": "abc",
        "remote": "127.0.0.1",
        "bytes": 42,
    }
    assert record["time"][:2] == "20"


def test_request_id_is_empty_when_the_response_has_none(capsys: pytest.CaptureFixture[str]) -> None:
    _logger("-").access(_response(404, None), None, ENVIRON, timedelta(0))
    assert json.loads(capsys.readouterr().out)["request_id"] == ""


def test_nothing_is_written_when_access_logging_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    _logger(None).access(_response(200, "abc"), None, ENVIRON, timedelta(0))
    assert capsys.readouterr().out == ""


def test_a_line_that_cannot_be_written_never_fails_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    broken = _response(200, "abc")
    broken.status_code = object()  # not JSON-serialisable
    _logger("-").access(broken, None, ENVIRON, timedelta(0))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "failed to write access log line" in captured.err
