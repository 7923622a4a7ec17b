"""Prometheus queries, through prometheus-api-client, behind our own error.

    prom = Prometheus("http://prometheus:9090")
    prom.vector('sum(rate(http_requests_total{code="500"}[1m]))')   # [0.42]
    prom.query_series("rate(x[1m])")                                 # [Series(labels, ((t, v),)), ...]
    prom.range_series("rate(x[1m])", minutes=15, step="30s")          # [Series(labels, samples), ...]

Synchronous; async callers run it in a worker thread. Network errors,
timeouts and PromQL errors come out as :class:`PrometheusUnavailable`, chained
to the cause, so a caller can say "unknown" rather than "no".

Credentials in the URL (``http://user:secret@prometheus:9090``) authenticate
every request (HTTP basic auth) and appear nowhere else: ``url`` and every
error message carry the URL without them, since both end up in incident
status, Events and logs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from onduty.domain.diagnostics import Series
from onduty.domain.redaction import basic_authorization, split_credentials

# A condition is evaluated in front of an action: five seconds is long for
# Prometheus and short for a responder waiting on the action.
DEFAULT_TIMEOUT = 5.0


class PrometheusUnavailable(Exception):
    """Prometheus could not answer the query (unreachable, timed out, or rejected it)."""


class Prometheus:
    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        base, credentials = split_credentials(url.rstrip("/"))
        self.url = base  # without credentials: it is shown in links and errors
        self.timeout = timeout
        # The client's own default retries three times with 1-2-4 s back-off on
        # connection errors and 5xx, and waits forever for an answer: both would
        # blow the caller's time budget. One quick retry for a dropped connection
        # or a restarting Prometheus, and every request bounded by ``timeout``.
        self._client = PrometheusConnect(
            url=self.url,
            headers={"Authorization": basic_authorization(credentials)} if credentials else None,
            disable_ssl=False,
            timeout=timeout,
            retry=Retry(total=1, backoff_factor=0, status_forcelist=(502, 503, 504)),
        )

    def _query(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, params={"timeout": f"{self.timeout:g}s"}, **kwargs)
        except (requests.RequestException, PrometheusApiClientException, ValueError) as error:
            raise PrometheusUnavailable(f"{self.url}: {error}") from error

    def vector(self, expr: str) -> list[float]:
        """One value per series of an instant query (a scalar result is one value)."""
        return [series.samples[-1][1] for series in self.query_series(expr) if series.samples]

    def query_series(self, expr: str) -> list[Series]:
        """Every series of an instant query with its labels; a scalar is one series without labels."""
        result = self._query(self._client.custom_query, query=expr)
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            return [Series({}, ((float(result[0]), float(result[1])),))]
        return [
            Series(dict(item.get("metric") or {}), ((float(item["value"][0]), float(item["value"][1])),))
            for item in result or []
            if isinstance(item, dict) and "value" in item
        ]

    def range_series(self, expr: str, *, minutes: float, step: str = "30s") -> list[Series]:
        """Every series of a range query over the last ``minutes``, with its labels."""
        end = datetime.now(UTC)
        result = self._query(
            self._client.custom_query_range,
            query=expr,
            start_time=end - timedelta(minutes=minutes),
            end_time=end,
            step=step,
        )
        return [
            Series(dict(item.get("metric") or {}), tuple((float(t), float(v)) for t, v in item.get("values") or []))
            for item in result or []
            if isinstance(item, dict)
        ]
