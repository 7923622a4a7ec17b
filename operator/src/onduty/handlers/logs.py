"""The operator's log: one format, and an ERROR line only for what a person must look at.

While CRDs settle (an install applies them and starts onduty at once) the API
server answers 429 "storage is (re)initializing" for a moment, and Kopf logs
each request it will retry at ERROR. A request that will be retried is no
error; the last attempt (Kopf: "escalating") still is. So those lines are
WARNING here, and a fresh install starts without ERROR lines.

Lines about an object name it as ``Kind namespace/name`` (the timeline's lines:
:mod:`onduty.handlers.events`); Kopf's handler logs carry ``[namespace/name]``.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What Kopf's request retries say (kopf/_cogs/clients/api.py): "Request attempt N failed; will retry: …"
# and "…; will re-authenticate: …" — both followed by another attempt.
_RETRIED = ("; will retry:", "; will re-authenticate:")


class RetriesAreWarnings(logging.Filter):
    """Kopf's ERROR for a request it is about to retry becomes a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.name.startswith("kopf."):
            message = record.getMessage()
            if message.startswith("Request attempt") and any(marker in message for marker in _RETRIED):
                record.levelno = logging.WARNING
                record.levelname = logging.getLevelName(logging.WARNING)
        return True


def configure(level: int | str) -> None:
    """The log of ``onduty run`` / ``onduty bridge``: to stderr, in :data:`FORMAT`, retries as warnings."""
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RetriesAreWarnings) for f in handler.filters):
            handler.addFilter(RetriesAreWarnings())
