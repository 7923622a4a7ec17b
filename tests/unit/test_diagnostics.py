"""Diagnostic results as data: size bounds that cut with a note, the digest, the times they read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from onduty.domain import diagnostics as d

# --- cutting text ------------------------------------------------------------------------


def test_text_that_fits_is_left_alone() -> None:
    assert d.cut_text("one\ntwo\n", 100) == ("one\ntwo\n", 0)


def test_a_log_keeps_its_newest_lines_and_says_how_much_was_cut() -> None:
    text = "".join(f"line {i:03d}\n" for i in range(100))  # 900 bytes

    cut, count = d.cut_text(text, 200, keep="tail")

    assert len(cut.encode()) <= 200
    assert cut.endswith("line 099\n")
    assert cut.startswith(f"[… {count} bytes cut …]\nline ")  # starts at a whole line
    assert count == len(text) - len(cut.split("\n", 1)[1])


def test_cutting_a_cut_text_again_adds_to_the_count() -> None:
    text = "x" * 1000
    once, first = d.cut_text(text, 500, keep="tail")

    twice, second = d.cut_text(once, 200, keep="tail")

    assert len(twice.encode()) <= 200
    assert twice.startswith(f"[… {first + second} bytes cut …]\n")
    assert first + second == 1000 - len(twice.split("\n", 1)[1])


def test_head_cut_keeps_the_start() -> None:
    cut, count = d.cut_text("abcdef" * 50, 60, keep="head")

    assert cut.startswith("abcdef")
    assert cut.endswith(f"[… {count} bytes cut …]")
    assert len(cut.encode()) <= 60


def test_multibyte_text_is_never_cut_inside_a_character() -> None:
    cut, _ = d.cut_text("é" * 500, 101, keep="tail")

    assert len(cut.encode()) <= 101
    assert cut.split("\n", 1)[1] == "é" * len(cut.split("\n", 1)[1])


# --- bounding results --------------------------------------------------------------------


def _result(**details: Any) -> d.Result:
    return d.Result("x", "events", True, "a summary", dict(details))


def test_a_small_result_is_unchanged() -> None:
    result = _result(events=[{"reason": "Started"}])

    assert d.bound(result) == result


def test_a_long_log_is_cut_from_its_oldest_end_with_a_note() -> None:
    text = "".join(f"2024-05-01 request {i} failed: upstream timeout\n" for i in range(500))
    result = _result(streams=[{"pod": "web-1", "text": text}])

    bounded = d.bound(result, 4096)

    assert d.size_of(bounded.to_dict()) <= 4096
    kept = bounded.details["streams"][0]["text"]
    assert kept.rstrip().endswith("request 499 failed: upstream timeout")
    assert kept.startswith("[… ")
    assert bounded.truncated is True
    assert bounded.note is not None
    assert "details.streams[0].text cut" in bounded.note
    assert f"cut from {d.size_of(result.to_dict())} to fit 4096 bytes" in bounded.note


def test_a_long_list_keeps_its_first_items_and_counts_the_rest() -> None:
    events = [{"reason": f"Event{i}", "message": "m" * 80} for i in range(100)]

    bounded = d.bound(_result(events=events), 2048)

    kept = bounded.details["events"]
    assert d.size_of(bounded.to_dict()) <= 2048
    assert kept == events[: len(kept)]
    assert bounded.note is not None
    assert f"details.events kept {len(kept)} of 100 items" in bounded.note


@pytest.mark.parametrize("limit", [512, 1024, 4096])
def test_whatever_the_shape_the_bound_holds(limit: int) -> None:
    result = d.Result(
        "x",
        "podStatus",
        True,
        "s" * 1000,
        {"pods": [{"name": f"p{i}", "containers": [{"reason": "r" * 300}] * 5} for i in range(30)], "blob": "b" * 9000},
        error="e" * 5000,
    )

    bounded = d.bound(result, limit)

    assert d.size_of(bounded.to_dict()) <= limit
    assert bounded.truncated
    assert bounded.note
    assert len(bounded.summary) <= d.SUMMARY_LIMIT


def test_all_results_together_stay_within_the_total_and_small_ones_are_untouched() -> None:
    small = d.Result("small", "podStatus", True, "2/2 ready", {"pods": []})
    big = [_result(blob="z" * 20_000) for _ in range(19)]

    bounded = d.bound_all([small, *big], total=16 * 1024)

    assert bounded[0] == small
    assert sum(d.size_of(r.to_dict()) for r in bounded) <= 16 * 1024
    assert all(r.truncated and r.note for r in bounded[1:])


def test_a_result_survives_the_round_trip_through_the_status() -> None:
    result = d.Result("x", "promql", False, "failed: no", {"a": 1}, truncated=True, note="n", error="no", duration_ms=5)

    assert d.Result.from_dict(json.loads(json.dumps(result.to_dict()))) == result


# --- the digest --------------------------------------------------------------------------


def test_the_summary_lists_every_diagnostic_with_log_lines_links_and_failures() -> None:
    results = [
        d.Result("logs", "podLogs", True, "1 of 1 log streams read", {"streams": [{"text": "a\nb\npanic: boom"}]}),
        d.Result("errors", "promql", True, "0.42", {"link": "http://prom/graph?g0.expr=x"}),
        d.failed("argo", "argoHistory", "GET /apis/argoproj.io/...: 404 NotFound"),
        d.Result("ev", "events", True, "3 events", {}, truncated=True, note="cut from 9000 to fit 4096 bytes"),
    ]

    text = d.render_summary(results)

    assert text.splitlines() == [
        "Diagnostics: 3 of 4 gathered, 1 failed (argo)",
        "- `logs` (podLogs): 1 of 1 log streams read",
        "    a",
        "    b",
        "    panic: boom",
        "- `errors` (promql): 0.42",
        "  graph: http://prom/graph?g0.expr=x",
        "- FAILED `argo` (argoHistory): GET /apis/argoproj.io/...: 404 NotFound",
        "- `ev` (events): 3 events",
        "  (truncated: cut from 9000 to fit 4096 bytes)",
    ]


def test_a_long_summary_is_cut_with_a_closing_note() -> None:
    results = [d.Result(f"d{i}", "events", True, "x" * 290) for i in range(20)]

    text = d.render_summary(results, limit=1000)

    assert len(text) <= 1000
    assert text.splitlines()[-1].startswith("… ")
    assert "more lines cut" in text


@pytest.mark.parametrize(
    ("oks", "reason", "type_"),
    [
        ((True, True), "DiagnosticsGathered", "Normal"),
        ((True, False), "DiagnosticsGathered", "Normal"),
        ((False, False), "DiagnosticsFailed", "Warning"),
    ],
)
def test_the_timeline_says_whether_anything_was_gathered(oks: tuple[bool, ...], reason: str, type_: str) -> None:
    results = [
        d.Result(f"d{i}", "events", True, "ok") if ok else d.failed(f"d{i}", "events", "no") for i, ok in enumerate(oks)
    ]

    got_reason, message, got_type = d.conclusion(results)

    assert (got_reason, got_type) == (reason, type_)
    assert message


# --- times -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00.123456789+02:00", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),  # Helm
        ("2024-05-01T12:00:00.5Z", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_times_as_kubernetes_helm_and_argo_write_them(value: Any, expected: datetime | None) -> None:
    assert d.parse_time(value) == expected
