"""The operator's log: Kopf's retried requests are warnings; its final failure stays an error."""

from __future__ import annotations

import logging

import pytest

from onduty.handlers.logs import RetriesAreWarnings


def _record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    ("name", "message", "level"),
    [
        pytest.param(
            "kopf._cogs.clients.watching",
            "Request attempt #1/9 failed; will retry: GET …/incidents -> APITooManyRequestsError('storage is"
            " (re)initializing')",
            "WARNING",
            id="retried",
        ),
        pytest.param(
            "kopf._cogs.clients.api",
            "Request attempt #2/9 failed; TCP closed; will re-authenticate: GET …",
            "WARNING",
            id="re-authenticated",
        ),
        pytest.param(
            "kopf._cogs.clients.api",
            "Request attempt #9/9 failed; escalating: GET … -> 500",
            "ERROR",
            id="last-attempt",
        ),
        pytest.param("onduty.handlers.alerts", "Request attempt #1 failed; will retry: ours", "ERROR", id="not-kopf"),
    ],
)
def test_only_a_request_kopf_will_retry_is_demoted_to_a_warning(name: str, message: str, level: str) -> None:
    record = _record(name, logging.ERROR, message)

    assert RetriesAreWarnings().filter(record) is True  # never dropped
    assert record.levelname == level
    assert record.levelno == logging.getLevelName(level)
