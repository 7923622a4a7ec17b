"""The ``promql`` diagnostic: what a query's series say — last value, min/max and trend — and a graph link.

A responder wants the shape of a metric, not its samples: each series is
reduced to a few numbers, the highest first, with a link to the Prometheus
graph for the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from onduty.domain.diagnostics.results import Result, one_line
from onduty.domain.diagnostics.specs import PromQL
from onduty.domain.redaction import redact_url

# Series summarised per PromQL diagnostic: the highest last values first.
MAX_SERIES = 10
# A change of less than 10% of the series' magnitude over the window is noise
# in rates and ratios, not a trend.
TREND_TOLERANCE = 0.1

Trend = Literal["up", "down", "flat"]


def trend(samples: Sequence[tuple[float, float]], tolerance: float = TREND_TOLERANCE) -> Trend:
    """Up, down or flat: the least-squares slope over the window, against the series' magnitude.

    The change the fitted line makes over the window must exceed ``tolerance``
    of the largest absolute value seen; NaN and infinite samples are ignored.
    """
    points = [(t, v) for t, v in samples if math.isfinite(v) and math.isfinite(t)]
    if len(points) < 2:
        return "flat"
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return "flat"
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / spread
    change = slope * (points[-1][0] - points[0][0])
    scale = max(abs(v) for _, v in points)
    if scale == 0 or abs(change) <= tolerance * scale:
        return "flat"
    return "up" if change > 0 else "down"


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    samples: tuple[tuple[float, float], ...]


def graph_link(prometheus_url: str, expr: str, window: str | None) -> str:
    """The Prometheus UI's graph of ``expr`` over ``window`` (1h when none is given), never with credentials."""
    base = redact_url(prometheus_url).rstrip("/")
    return f"{base}/graph?g0.expr={quote(expr, safe='')}&g0.range_input={window or '1h'}"


def _labels_text(labels: Mapping[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else ""


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def promql_result(spec: PromQL, series: Sequence[Series], link: str) -> Result:
    """Last value, min/max and trend of each series (highest last value first), and the graph link."""
    summaries = []
    for s in series:
        values = [v for _, v in s.samples if math.isfinite(v)]
        if not s.samples:
            continue
        item: dict[str, Any] = {"labels": dict(s.labels), "last": _json_number(s.samples[-1][1])}
        if spec.window:
            item.update(
                {
                    "min": _json_number(min(values)) if values else None,
                    "max": _json_number(max(values)) if values else None,
                    "trend": trend(s.samples),
                    "samples": len(s.samples),
                }
            )
        summaries.append(item)
    summaries.sort(key=lambda i: -i["last"] if isinstance(i["last"], float | int) else math.inf)
    details: dict[str, Any] = {"expr": spec.expr, "link": link, "series": summaries[:MAX_SERIES]}
    if spec.window:
        details.update({"range": spec.window, "step": f"{spec.step_seconds:g}s"})
    if len(summaries) > MAX_SERIES:
        details["totalSeries"] = len(summaries)
    if not summaries:
        return Result(spec.name, spec.type, True, f"no data for {one_line(spec.expr, 120)}", details)
    top = summaries[0]
    text = _fmt(top["last"]) if isinstance(top["last"], float | int) else str(top["last"])
    if spec.window:
        text += f" (min {_fmt_opt(top['min'])}, max {_fmt_opt(top['max'])} over {spec.window}, trend {top['trend']})"
    if len(summaries) == 1:
        summary = f"{text}{' ' + _labels_text(top['labels']) if _labels_text(top['labels']) else ''}"
    else:
        summary = f"{len(summaries)} series; highest {_labels_text(top['labels'])}: {text}"
    return Result(spec.name, spec.type, True, one_line(summary), details)


def _json_number(value: float) -> float | str:
    """JSON has no NaN or infinity; Prometheus has both. Keep them readable."""
    return value if math.isfinite(value) else str(value)


def _fmt_opt(value: Any) -> str:
    return _fmt(value) if isinstance(value, float | int) else str(value)
