"""Diagnostics as data: specs, what each finding says, size bounds that cut with a note, trends, the digest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain import diagnostics as d
from onduty.domain.runbooks import RunbookError, parse_runbook

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def _runbook(*diagnostics: dict[str, Any]) -> Any:
    return parse_runbook({"match": {"alertnames": ["X"]}, "diagnostics": list(diagnostics)})


# --- specs -------------------------------------------------------------------------------


def test_a_runbook_without_diagnostics_has_none() -> None:
    assert parse_runbook({"match": {"alertnames": ["X"]}}).diagnostics == ()


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"name": "logs", "type": "podLogs"},
            {"tail_lines": 50, "previous": False, "max_pods": 3, "container": None, "timeout_seconds": 10},
        ),
        ({"name": "ev", "type": "events"}, {"limit": 20, "target": None}),
        ({"name": "rs", "type": "rolloutHistory"}, {"limit": 10}),
        ({"name": "helm", "type": "helmHistory"}, {"release": None, "limit": 10}),
        ({"name": "argo", "type": "argoHistory", "application": "shop"}, {"namespace": "argocd", "limit": 10}),
        ({"name": "cfg", "type": "configChanges"}, {"within_minutes": 60}),
        ({"name": "q", "type": "promql", "expr": "up"}, {"window": None, "step": None}),
        ({"name": "http", "type": "httpCheck", "service": "web"}, {"port": None, "path": "/"}),
    ],
)
def test_each_type_gets_its_documented_defaults(item: dict[str, Any], expected: dict[str, Any]) -> None:
    [spec] = _runbook(item).diagnostics

    assert spec.type == item["type"]
    assert {k: getattr(spec, k) for k in expected} == expected


def test_fields_of_another_type_are_ignored_not_fatal() -> None:
    [spec] = _runbook({"name": "logs", "type": "podLogs", "expr": "up", "service": "web"}).diagnostics

    assert isinstance(spec, d.PodLogs)


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"name": "q", "type": "promql"}], "spec.diagnostics[0].promql.expr"),
        ([{"name": "h", "type": "httpCheck"}], "spec.diagnostics[0].httpCheck.service"),
        ([{"name": "a", "type": "argoHistory"}], "spec.diagnostics[0].argoHistory.application"),
        ([{"name": "l", "type": "podLogs", "tailLines": 501}], "spec.diagnostics[0].podLogs.tailLines"),
        ([{"name": "l", "type": "podLogs", "timeoutSeconds": 61}], "spec.diagnostics[0].podLogs.timeoutSeconds"),
        ([{"name": "Bad_Name", "type": "events"}], "spec.diagnostics[0].events.name"),
        ([{"name": "x", "type": "shell"}], "spec.diagnostics[0]"),
        ([{"name": "q", "type": "promql", "expr": "up", "range": "169h"}], "spec.diagnostics[0].promql.range"),
        ([{"name": "q", "type": "promql", "expr": "up", "range": "soon"}], "spec.diagnostics[0].promql.range"),
        ([{"name": "h", "type": "httpCheck", "service": "w", "path": "health"}], "spec.diagnostics[0].httpCheck.path"),
        ([{"name": "a", "type": "events"}, {"name": "a", "type": "podStatus"}], "names must be unique"),
        ([{"name": f"d{i}", "type": "events"} for i in range(21)], "at most 20 items"),
    ],
)
def test_invalid_diagnostics_are_refused_naming_the_field(items: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(RunbookError) as raised:
        _runbook(*items)

    assert field in str(raised.value)


@pytest.mark.parametrize(
    ("window", "step", "seconds"),
    [
        ("15m", None, 15.0),  # 60 steps over the window
        ("1h", None, 60.0),
        ("30s", None, 1.0),  # never below one second
        ("15m", "5s", 5.0),
        ("168h", "1s", 604.8),  # Prometheus's point limit: at most 1000 points
    ],
)
def test_the_range_query_step_keeps_the_points_bounded(window: str, step: str | None, seconds: float) -> None:
    spec = d.PromQL(name="q", type="promql", expr="up", window=window, step=step)

    assert spec.step_seconds == pytest.approx(seconds)


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


# --- rollout, Helm and Argo CD history ----------------------------------------------------


def _replicaset(name: str, revision: int, image: str, *, owner: str = "dep-uid", cause: str | None = None) -> dict:
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": _at(10 * (5 - revision)),
            "annotations": annotations,
            "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": True}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"replicas": 2 if revision == 3 else 0},
    }


def test_rollout_history_is_the_deployments_own_replicasets_newest_first() -> None:
    deployment = {"metadata": {"uid": "dep-uid", "annotations": {"deployment.kubernetes.io/revision": "3"}}}
    replicasets = [
        _replicaset("web-a", 1, "app:1.0"),
        _replicaset("web-c", 3, "app:1.2", cause="bump to 1.2"),
        _replicaset("web-b", 2, "app:1.1"),
        _replicaset("other-x", 9, "other:1", owner="someone-else"),
    ]

    result = d.rollout_history_result(d.RolloutHistory(name="r", type="rolloutHistory"), deployment, replicasets, NOW)

    assert [r["revision"] for r in result.details["revisions"]] == [3, 2, 1]
    assert result.details["revisions"][0] == {
        "revision": 3,
        "replicaSet": "web-c",
        "createdAt": _at(20),
        "images": ["app:1.2"],
        "replicas": 2,
        "changeCause": "bump to 1.2",
        "current": True,
    }
    assert result.summary == (
        "3 revisions; current revision 3 created 20m ago (app:1.2) change-cause 'bump to 1.2';"
        " revision 2 created 30m ago (app:1.1)"
    )


def _helm_record(version: int, status: str, description: str, chart_version: str) -> dict[str, Any]:
    return {
        "name": "shop",
        "version": version,
        "info": {"status": status, "description": description, "last_deployed": _at(60 - version)},
        "chart": {"metadata": {"name": "web", "version": chart_version, "appVersion": "1.0"}},
        "config": {"password": "hunter2"},
        "manifest": "apiVersion: v1\nkind: Secret\n",
    }


def test_helm_history_reports_revisions_and_never_values_or_manifests() -> None:
    records = [
        _helm_record(1, "superseded", "Install complete", "0.1.0"),
        _helm_record(3, "deployed", "Upgrade complete", "0.3.0"),
        _helm_record(2, "failed", "Upgrade failed: timed out", "0.2.0"),
    ]

    result = d.helm_history_result(d.HelmHistory(name="h", type="helmHistory"), "shop", records, NOW)

    assert result.details["revisions"][0] == {
        "revision": 3,
        "status": "deployed",
        "updated": _at(57),
        "chart": "web-0.3.0",
        "appVersion": "1.0",
        "description": "Upgrade complete",
    }
    assert "hunter2" not in json.dumps(result.to_dict())
    assert "kind: Secret" not in json.dumps(result.to_dict())
    assert result.summary == (
        "release shop: revision 3 deployed 57m ago (web-0.3.0, 'Upgrade complete');"
        " before it revision 2 failed (web-0.2.0); failed revisions: 2"
    )


@pytest.mark.parametrize(
    ("release", "metadata", "expected"),
    [
        ("given", {"labels": {"app.kubernetes.io/instance": "label"}}, ("given", None)),
        (
            None,
            {
                "labels": {"app.kubernetes.io/instance": "label"},
                "annotations": {"meta.helm.sh/release-name": "annotated", "meta.helm.sh/release-namespace": "apps"},
            },
            ("annotated", "apps"),
        ),
        (None, {"labels": {"app.kubernetes.io/instance": "label"}}, ("label", None)),
        (None, {}, (None, None)),
    ],
)
def test_the_helm_release_of_a_workload(
    release: str | None, metadata: dict[str, Any], expected: tuple[str | None, str | None]
) -> None:
    spec = d.HelmHistory(name="h", type="helmHistory", release=release)

    assert d.helm_release_of(spec, {"metadata": metadata}) == expected


def test_argo_history_newest_first_with_sync_health_and_operation() -> None:
    sha = "a" * 40
    app = {
        "status": {
            "sync": {"status": "OutOfSync", "revision": sha},
            "health": {"status": "Degraded", "message": "Deployment web exceeded its progress deadline"},
            "history": [
                {"id": 1, "revision": "b" * 40, "deployedAt": _at(120), "source": {"repoURL": "https://git/x"}},
                {"id": 2, "revision": sha, "deployedAt": _at(5), "initiatedBy": {"automated": True}},
            ],
            "operationState": {
                "phase": "Failed",
                "message": "one or more objects failed to apply",
                "startedAt": _at(5),
                "finishedAt": _at(4),
                "syncResult": {"revision": sha},
            },
        }
    }

    result = d.argo_history_result(d.ArgoHistory(name="a", type="argoHistory", application="shop"), app, NOW)

    assert [h["id"] for h in result.details["history"]] == [2, 1]
    assert result.details["history"][0]["initiatedBy"] == "automated"
    assert result.details["operationState"]["phase"] == "Failed"
    assert result.summary == (
        "OutOfSync at aaaaaaa, Degraded; last deploy #2 5m ago (aaaaaaa);"
        " operation Failed: one or more objects failed to apply"
    )


# --- config changes ----------------------------------------------------------------------


def test_config_referenced_by_volumes_env_and_env_from() -> None:
    pod_spec = {
        "volumes": [
            {"name": "a", "configMap": {"name": "cm-volume"}},
            {"name": "b", "secret": {"secretName": "secret-volume"}},
            {
                "name": "c",
                "projected": {"sources": [{"configMap": {"name": "cm-projected"}}, {"secret": {"name": "s-proj"}}]},
            },
            {"name": "d", "emptyDir": {}},
        ],
        "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "s-init"}}]}],
        "containers": [
            {
                "name": "app",
                "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "b"}}},
                    {"name": "C", "value": "plain"},
                ],
                "envFrom": [{"configMapRef": {"name": "cm-volume"}}],
            }
        ],
    }

    assert d.referenced_config(pod_spec) == (
        ["cm-env", "cm-projected", "cm-volume"],
        ["s-env", "s-init", "s-proj", "secret-volume"],
    )


def test_config_changed_within_the_window_by_its_newest_managed_fields_time() -> None:
    found = {
        ("ConfigMap", "web-config"): {
            "creationTimestamp": _at(600),
            "managedFields": [
                {"manager": "kubectl-client-side-apply", "time": _at(600)},
                {"manager": "kubectl-patch", "time": _at(3)},
            ],
        },
        ("Secret", "db"): {"creationTimestamp": _at(20)},  # no managedFields: its creation counts
        ("ConfigMap", "old"): {"creationTimestamp": _at(900), "managedFields": [{"manager": "helm", "time": _at(900)}]},
        ("Secret", "gone"): None,
    }

    result = d.config_changes_result(d.ConfigChanges(name="c", type="configChanges"), found, NOW)

    assert result.details["changed"] == [
        {"kind": "ConfigMap", "name": "web-config", "changedAt": _at(3), "manager": "kubectl-patch"},
        {"kind": "Secret", "name": "db", "changedAt": _at(20)},
    ]
    assert result.details["unchanged"] == ["ConfigMap/old"]
    assert result.details["missing"] == ["Secret/gone"]
    assert result.summary == (
        "2 of 4 referenced ConfigMaps/Secrets changed in the last 60m:"
        " ConfigMap/web-config 3m ago by kubectl-patch, Secret/db 20m ago; missing: Secret/gone"
    )


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


# --- HTTP checks -------------------------------------------------------------------------


SERVICE = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 9}]}}


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(None, ("http", 80)), ("admin", ("admin", 9)), (9, ("admin", 9)), ("80", ("http", 80))],
)
def test_the_service_port_by_number_or_name(wanted: int | str | None, expected: tuple[str, int]) -> None:
    assert d.service_port(SERVICE, wanted) == expected


def test_an_unknown_service_port_is_an_error_listing_the_ports() -> None:
    with pytest.raises(d.ServicePortError, match=r"Service web has no port 8080 \(it has http/80, admin/9\)"):
        d.service_port(SERVICE, 8080)


def test_only_ready_endpoints_on_the_matching_port_are_probed_at_most_ten() -> None:
    slices = [
        {
            "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9000}],
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "targetRef": {"name": "web-1"}},
                {"addresses": ["10.0.0.2"], "conditions": {}},  # unset means ready
                {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
                {"addresses": ["10.0.0.4"], "conditions": {"ready": True, "terminating": True}},
            ],
        },
        {"ports": [{"name": "other", "port": 1}], "endpoints": [{"addresses": ["10.9.9.9"]}]},
        {"ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": [f"10.1.0.{i}"]} for i in range(12)]},
    ]

    plan = d.endpoints_to_probe(slices, "http")

    assert len(plan.probe) == 10
    assert plan.probe[0] == d.Endpoint("10.0.0.1", 8080, "web-1")
    assert (plan.not_ready, plan.not_probed) == (2, 4)
    assert d.Endpoint("fd00::1", 80).url_host == "[fd00::1]"


def test_http_check_summary_counts_healthy_endpoints_and_names_the_failing_ones() -> None:
    spec = d.HttpCheck(name="h", type="httpCheck", service="web", path="/healthz")
    a, b, c = d.Endpoint("10.0.0.1", 8080, "web-1"), d.Endpoint("10.0.0.2", 8080), d.Endpoint("10.0.0.3", 8080)
    probes = [
        d.Probe(a, "http://10.0.0.1:8080/healthz", status=200, latency_ms=12.34),
        d.Probe(b, "http://10.0.0.2:8080/healthz", status=503, latency_ms=3.0, body="overloaded"),
        d.Probe(c, "http://10.0.0.3:8080/healthz", error="timed out after 2s"),
    ]

    result = d.http_check_result(spec, ("http", 80), d.EndpointPlan([a, b, c], 1, 0), probes)

    assert result.summary == (
        "Service web: 1/3 endpoints answer GET /healthz with 2xx/3xx (median 12 ms);"
        " 10.0.0.2:8080 503; 10.0.0.3:8080 timed out after 2s; 1 not ready"
    )
    assert result.details["endpoints"][-1] == {
        "url": "http://10.0.0.1:8080/healthz",
        "pod": "web-1",
        "status": 200,
        "latencyMs": 12.3,
    }
    assert result.details["endpoints"][0]["body"] == "overloaded"


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


def test_the_sample_runbook_parses_with_every_diagnostic_type_but_argo() -> None:
    import yaml

    from kit import REPO

    sample = yaml.safe_load((REPO / "manifests/samples/runbook-diagnostics.yaml").read_text())

    spec = parse_runbook(sample["spec"])

    assert {s.type for s in spec.diagnostics} == set(d.TYPES) - {"argoHistory"}
    [promql] = [s for s in spec.diagnostics if isinstance(s, d.PromQL)]
    assert (promql.window, promql.step_seconds) == ("30m", 30.0)
