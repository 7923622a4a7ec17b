"""What a workload's pods, their logs and status, and its events say, as diagnostic results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from onduty.domain import diagnostics as d

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


# --- pods, logs, status ------------------------------------------------------------------


def _pod(
    name: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    created: float = 10,
    containers: tuple[str, ...] = ("app",),
    last_terminated: dict[str, Any] | None = None,
    waiting: str | None = None,
) -> dict[str, Any]:
    statuses = []
    for container in containers:
        status: dict[str, Any] = {
            "name": container,
            "ready": ready,
            "restartCount": restarts,
            "state": {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": _at(1)}},
            "lastState": {"terminated": last_terminated} if last_terminated else {},
        }
        statuses.append(status)
    return {
        "metadata": {"name": name, "creationTimestamp": _at(created)},
        "spec": {"containers": [{"name": c} for c in containers], "nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": statuses,
        },
    }


def test_selector_of_a_workload_as_a_query_parameter() -> None:
    selector = {
        "matchLabels": {"app": "web", "tier": "front"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "staging"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "NotIn", "values": ["a"]},
            {"key": "team", "operator": "Exists"},
        ],
    }

    assert d.selector_string(selector) == "app=web,tier=front,env in (prod,staging),!canary,zone notin (a),team"


def test_the_most_interesting_pods_come_first() -> None:
    pods = [
        _pod("healthy-old", created=60),
        _pod("healthy-new", created=1),
        _pod("crashing", ready=False, restarts=7),
        _pod("flaky", restarts=2),
    ]

    assert [p["metadata"]["name"] for p in d.rank_pods(pods)] == ["crashing", "flaky", "healthy-new", "healthy-old"]


def test_previous_logs_are_read_only_where_a_container_terminated_before() -> None:
    spec = d.PodLogs(name="l", type="podLogs", previous=True, max_pods=2)
    pods = [
        _pod("ok", containers=("app", "sidecar")),
        _pod("crashing", ready=False, restarts=3, last_terminated={"reason": "Error", "exitCode": 1}),
        _pod("third"),
    ]

    assert d.log_requests(pods, spec) == [
        d.LogRequest("crashing", "app"),
        d.LogRequest("crashing", "app", previous=True),
        d.LogRequest("ok", "app"),
        d.LogRequest("ok", "sidecar"),
    ]


def test_log_streams_are_capped_and_a_named_container_is_the_only_one_read() -> None:
    many = [_pod(f"p{i}", containers=("app", "proxy", "agent")) for i in range(10)]

    assert len(d.log_requests(many, d.PodLogs(name="l", type="podLogs", max_pods=10))) == d.MAX_LOG_STREAMS
    only = d.log_requests(many, d.PodLogs(name="l", type="podLogs", container="proxy"))
    assert {r.container for r in only} == {"proxy"}


def test_logs_summary_names_the_last_line_and_keeps_each_stream_bounded() -> None:
    spec = d.PodLogs(name="logs", type="podLogs")
    noisy = "".join(f"debug {i}\n" for i in range(2000)) + "panic: nil map\n"
    streams = [
        d.LogStream(d.LogRequest("web-1", "app"), text=noisy),
        d.LogStream(d.LogRequest("web-2", "app"), error="GET .../log: 500 : connection refused"),
    ]

    result = d.pod_logs_result(spec, streams, pods=2)

    assert result.ok
    assert result.summary.startswith("1 of 2 log streams read, 2001 lines; last line of web-1/app: panic: nil map")
    assert result.summary.endswith("1 failed")
    first, second = result.details["streams"]
    assert first["text"].endswith("panic: nil map")
    assert first["text"].startswith("[… ")
    assert second["error"] == "GET .../log: 500 : connection refused"
    assert d.size_of(d.bound(result).to_dict()) <= d.RESULT_LIMIT


def test_logs_that_cannot_be_read_anywhere_fail_with_the_reason() -> None:
    spec = d.PodLogs(name="logs", type="podLogs")
    error = 'GET /api/v1/namespaces/n/pods/web-1/log: 500 : Get "https://127.0.0.1:10250/...": connection refused'

    result = d.pod_logs_result(spec, [d.LogStream(d.LogRequest("web-1", "app"), error=error)], pods=1)

    assert not result.ok
    assert result.error is not None
    assert "no log stream could be read" in result.error
    assert "connection refused" in result.error
    assert result.details["streams"] == [{"pod": "web-1", "container": "app", "error": error}]


def test_no_pods_is_a_finding_not_a_failure() -> None:
    result = d.pod_logs_result(d.PodLogs(name="logs", type="podLogs"), [], pods=0)

    assert result.ok
    assert result.summary == "no log streams: 0 pod(s)"


def test_pod_status_names_crash_loops_and_oom_kills() -> None:
    pods = [
        _pod("web-1"),
        _pod(
            "web-2",
            ready=False,
            restarts=12,
            waiting="CrashLoopBackOff",
            last_terminated={"reason": "OOMKilled", "exitCode": 137, "finishedAt": _at(1)},
        ),
    ]

    result = d.pod_status_result(d.PodStatus(name="st", type="podStatus"), pods)

    assert (
        result.summary
        == "1/2 pods ready, 12 restarts; web-2/app: CrashLoopBackOff (last terminated OOMKilled, exit 137)"
    )
    first = result.details["pods"][0]
    assert (first["name"], first["ready"], first["restarts"]) == ("web-2", False, 12)
    assert first["containers"][0] == {
        "name": "app",
        "ready": False,
        "restarts": 12,
        "state": "waiting",
        "reason": "CrashLoopBackOff",
        "lastTerminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": _at(1)},
    }


# --- events ------------------------------------------------------------------------------


def _event(uid: str, reason: str, minutes_ago: float, type_: str = "Normal", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid},
        "involvedObject": {"kind": "Pod", "name": "web-1"},
        "reason": reason,
        "type": type_,
        "message": f"{reason} happened",
        "lastTimestamp": _at(minutes_ago),
        **extra,
    }


def test_events_newest_first_with_the_latest_warning_in_the_summary() -> None:
    events = [
        _event("1", "Scheduled", 30),
        _event("2", "BackOff", 2, "Warning", count=5),
        _event("3", "Pulled", 1),
        _event("3", "Pulled", 1),  # the same event listed twice
        {**_event("4", "Killing", 0), "lastTimestamp": None, "eventTime": _at(0.5)},
    ]

    result = d.events_result(d.Events(name="ev", type="events", limit=3), events, NOW)

    assert [e["reason"] for e in result.details["events"]] == ["Killing", "Pulled", "BackOff"]
    assert result.details["total"] == 4
    assert result.summary == (
        "4 events (1 Warning), newest 3 kept; latest Warning BackOff on Pod/web-1 2m ago: BackOff happened (x5)"
    )


def test_no_events_is_said_plainly() -> None:
    assert d.events_result(d.Events(name="ev", type="events"), [], NOW).summary == "no recent events"
