"""PromQL diagnostics: the trend of range samples, and what a query's series say."""

from __future__ import annotations

import json

import pytest

from onduty.domain import diagnostics as d

# --- trend -------------------------------------------------------------------------------


def _samples(*values: float) -> list[tuple[float, float]]:
    return [(1_700_000_000.0 + 15 * i, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((0.01, 0.02, 0.1, 0.3, 0.5), "up"),
        ((0.5, 0.4, 0.2, 0.05, 0.01), "down"),
        ((0.3, 0.31, 0.29, 0.3, 0.3), "flat"),  # noise
        ((100, 102, 99, 101, 104), "flat"),  # under 10% of the magnitude
        ((0, 0, 0, 0), "flat"),
        ((0.2,), "flat"),
        ((), "flat"),
        ((float("nan"), 1, 2, 3, float("nan")), "up"),  # NaN samples are ignored
        ((5, 5, 5, 5, 50), "up"),  # a jump at the end
    ],
)
def test_trend_of_range_samples(values: tuple[float, ...], expected: str) -> None:
    assert d.trend(_samples(*values)) == expected


# --- PromQL ------------------------------------------------------------------------------


def test_a_range_query_is_summarised_with_min_max_trend_and_a_graph_link() -> None:
    spec = d.PromQL(name="err", type="promql", expr='sum(rate(x{code="500"}[1m]))', window="15m")
    link = d.graph_link("http://prom:9090/", spec.expr, spec.window)

    result = d.promql_result(spec, [d.Series({}, tuple(_samples(0.01, 0.05, 0.2, 0.42)))], link)

    assert (
        link == "http://prom:9090/graph?g0.expr=sum%28rate%28x%7Bcode%3D%22500%22%7D%5B1m%5D%29%29&g0.range_input=15m"
    )
    assert result.summary == "0.42 (min 0.01, max 0.42 over 15m, trend up)"
    assert result.details["series"] == [
        {"labels": {}, "last": 0.42, "min": 0.01, "max": 0.42, "trend": "up", "samples": 4}
    ]
    assert result.details["link"] == link
    assert result.details["step"] == "15s"


def test_several_series_are_ordered_by_their_last_value() -> None:
    spec = d.PromQL(name="err", type="promql", expr="rate(x[1m])")
    series = [d.Series({"pod": "a"}, ((1.0, 0.1),)), d.Series({"pod": "b"}, ((1.0, 0.7),)), d.Series({}, ())]

    result = d.promql_result(spec, series, "link")

    assert [s["labels"]["pod"] for s in result.details["series"]] == ["b", "a"]
    assert result.summary == '2 series; highest {pod="b"}: 0.7'


def test_no_data_and_not_a_number_are_reported_as_such() -> None:
    spec = d.PromQL(name="err", type="promql", expr="absent_metric")

    assert d.promql_result(spec, [], "link").summary == "no data for absent_metric"
    nan = d.promql_result(spec, [d.Series({}, ((1.0, float("nan")),))], "link")
    assert nan.summary == "nan"
    json.dumps(nan.to_dict(), allow_nan=False)  # still valid JSON for the API server
