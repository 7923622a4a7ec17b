"""Status pages (Statuspage, Cachet) and tickets (Jira, GitHub Issues, Linear): wire formats and verdicts.

Each channel is pure, so its requests are checked as values against the
vendor's documented contract (the receivers' ``check``), its verdicts are
table-tested by status code, and one flow per vendor sends the built
requests over loopback to a stand-in that answers like the vendor.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from notify_fixtures import received, reply
from onduty.domain.notify import cachet, github, jira, linear, statuspage, tickets
from onduty.domain.notify.channel import (
    Channel,
    Credentials,
    InvalidConfig,
    Kind,
    MissingCredential,
    Notice,
    Outcome,
    Reply,
    Request,
)
from onduty.domain.notify.view import ActionLine, IncidentView, Link
from receivers import Answer, ContractViolation, Received, Receiver
from receivers import cachet as cachet_receiver
from receivers import github as github_receiver
from receivers import jira as jira_receiver
from receivers import linear as linear_receiver
from receivers import statuspage as statuspage_receiver

TEAM = "5a8c2b0e-1f3d-4c8a-9b7e-2d4f6a8c0e1b"
DONE_STATE = "b1f0c3d2-7e6a-4b5c-8d9e-0f1a2b3c4d5e"
LINEAR_ISSUE = "9cfb482a-81e3-4154-b5b9-2c805e70a02d"
SECRETS = {
    "statuspage": {"apiKey": "sp-secret-key-0042"},
    "cachet": {"apiToken": "cachet-secret-token-0042"},
    "jira": {"email": "oncall@example.com", "apiToken": "jira-secret-token-0042"},
    "github": {"token": "ghp_secrettoken0042"},
    "linear": {"apiKey": "lin_api_secretkey0042"},
}
SETTINGS: dict[str, dict[str, Any]] = {
    "statuspage": {"pageId": "kctbh9vrtdwd", "componentIds": ["8kbf7d35c070", "vtnh60py4yd7"]},
    "cachet": {"url": "https://status.example.com", "componentId": 7},
    "jira": {
        "url": "https://acme.atlassian.net",
        "projectKey": "OPS",
        "labels": ["onduty", "incident"],
        "resolveTransitionId": "31",
        "acknowledgeTransitionId": "21",
    },
    "github": {"owner": "acme", "repo": "incidents", "labels": ["incident", "onduty"]},
    "linear": {"teamId": TEAM, "resolvedStateId": DONE_STATE},
}
CHANNELS: dict[str, Callable[[Mapping[str, Any], Credentials], Channel]] = {
    "statuspage": statuspage.StatuspageChannel,
    "cachet": cachet.CachetChannel,
    "jira": jira.JiraChannel,
    "github": github.GitHubChannel,
    "linear": linear.LinearChannel,
}
CHECKS: dict[str, Callable[[Received], None]] = {
    "statuspage": statuspage_receiver.check,
    "cachet": cachet_receiver.check,
    "jira": jira_receiver.check,
    "github": github_receiver.check,
    "linear": linear_receiver.check,
}
# What each vendor's first delivery leaves behind.
CREATED_REFS: dict[str, dict[str, str]] = {
    "statuspage": {statuspage.INCIDENT_REF: "p31zjtct2jer", statuspage.STATUS_REF: "investigating"},
    "cachet": {cachet.INCIDENT_REF: "42", cachet.STATUS_REF: "investigating"},
    "jira": {jira.KEY_REF: "OPS-7"},
    "github": {github.NUMBER_REF: "1347"},
    "linear": {linear.ISSUE_REF: LINEAR_ISSUE},
}
VENDORS = tuple(CHANNELS)
STATUS_PAGES = ("statuspage", "cachet")
TICKETS = ("jira", "github", "linear")

OPENED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OPEN = IncidentView(
    name="web-crashloop-7f3a",
    namespace="shop",
    uid="0b5c9d2e-3f41-4a6b-8c7d-9e0f1a2b3c4d",
    title="Pod is crash looping on shop/web",
    severity="critical",
    phase="Open",
    state="triggered",
    opened_at=OPENED_AT,
    alertname="KubePodCrashLooping",
    workload="Deployment/web",
    firing_alerts=3,
    total_alerts=4,
    truncated_alerts=2,
    labels={"alertname": "KubePodCrashLooping", "pod": "web-7d4b9c8f6d-x2x9k", "container": "web"},
    links=(Link("Runbook", "https://runbooks.example.com/crashloop"),),
    public=True,
)
IDENTIFIED = dataclasses.replace(
    OPEN,
    phase="Remediating",
    state="acknowledged",
    acknowledged_by="alice",
    acknowledged_at=datetime(2024, 5, 1, 12, 3, tzinfo=UTC),
    actions=(ActionLine("restartPods", "Applied", "Deployment/web", "restarted 3 pods"),),
    diagnostics="**CrashLoopBackOff**: container `web` exit code 137 (OOMKilled)",
)
MONITORING = dataclasses.replace(
    IDENTIFIED,
    phase="Mitigated",
    actions=(ActionLine("restartPods", "Succeeded", "Deployment/web", "error rate back under 1%"),),
)
RESOLVED = dataclasses.replace(
    MONITORING, phase="Resolved", state="resolved", resolved_at=datetime(2024, 5, 1, 12, 20, tzinfo=UTC)
)
AWAITING_APPROVAL = dataclasses.replace(
    IDENTIFIED,
    actions=(ActionLine("rollbackDeployment", "AwaitingApproval", "Deployment/web", "needs an approver"),),
    pending_approval="web-crashloop-7f3a-rollback-1",
)


def notice(kind: Kind, message: str = "") -> Notice:
    return Notice(kind, f"{OPEN.uid}/{kind.value}/0", message or f"The incident was {kind.value}.")


def channel(vendor: str, **overrides: Any) -> Channel:
    return CHANNELS[vendor]({**SETTINGS[vendor], **overrides}, Credentials(SECRETS[vendor]))


def secrets_of(vendor: str) -> list[str]:
    values = [v for k, v in SECRETS[vendor].items() if k != "email"]
    if vendor == "jira":
        values.append(base64.b64encode(b"oncall@example.com:jira-secret-token-0042").decode())
    return values


# -- settings and credentials -------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "overrides", "field", "value"),
    [
        ("statuspage", {"pageId": "../admin"}, "pageId", "../admin"),
        ("statuspage", {"componentIds": "8kbf7d35c070"}, "componentIds", "8kbf7d35c070"),
        ("statuspage", {"componentIds": ["ok1", "a/b"]}, "componentIds", "a/b"),
        ("statuspage", {"componentStatusBySeverity": {"critical": "on_fire"}}, "componentStatusBySeverity", "on_fire"),
        ("statuspage", {"componentStatusBySeverity": {"sev1": "major_outage"}}, "componentStatusBySeverity", "sev1"),
        ("statuspage", {"url": "http://api.statuspage.io/v1"}, "url", "http://api.statuspage.io/v1"),
        ("statuspage", {"url": "https://me:pw@api.statuspage.io/v1"}, "url", "https://me:pw@api.statuspage.io/v1"),
        ("statuspage", {"deliverNotifications": "yes"}, "deliverNotifications", "yes"),
        ("cachet", {"url": None}, "url", "None"),
        ("cachet", {"componentId": "7/../../users"}, "componentId", "7/../../users"),
        ("cachet", {"componentId": True}, "componentId", "True"),
        ("cachet", {"componentStatusBySeverity": {"critical": 5}}, "componentStatusBySeverity", "5"),
        ("jira", {"url": "http://acme.atlassian.net"}, "url", "http://acme.atlassian.net"),
        ("jira", {"projectKey": "ops"}, "projectKey", "ops"),
        ("jira", {"labels": ["needs space"]}, "labels", "needs space"),
        ("jira", {"resolveTransitionId": "close"}, "resolveTransitionId", "close"),
        ("jira", {"resolveTransitionId": None}, "resolveTransitionId", "None"),
        ("jira", {"acknowledgeTransitionId": "21a"}, "acknowledgeTransitionId", "21a"),
        ("github", {"owner": "acme/evil"}, "owner", "acme/evil"),
        ("github", {"repo": ".."}, "repo", ".."),
        ("github", {"labels": [""]}, "labels", "''"),
        ("github", {"url": "ftp://github.example.com"}, "url", "ftp://github.example.com"),
        ("linear", {"teamId": "team one"}, "teamId", "team one"),
        ("linear", {"resolvedStateId": None}, "resolvedStateId", "None"),
        ("linear", {"priority": {"critical": 9}}, "priority", "9"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_and_the_value(
    vendor: str, overrides: dict[str, Any], field: str, value: str
) -> None:
    with pytest.raises(InvalidConfig) as refused:
        channel(vendor, **overrides)

    message = str(refused.value)
    assert message.startswith(f"{vendor} setting {field}")
    assert value in message


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_missing_credential_is_refused_when_the_channel_is_built(vendor: str) -> None:
    with pytest.raises(MissingCredential):
        CHANNELS[vendor](SETTINGS[vendor], Credentials({}))


@pytest.mark.parametrize(
    ("vendor", "settings", "expected"),
    [
        ("statuspage", {"pageId": "kctbh9vrtdwd"}, "https://api.statuspage.io/v1/pages/kctbh9vrtdwd/incidents"),
        (
            "github",
            {"owner": "acme", "repo": "ops.incidents"},
            "https://api.github.com/repos/acme/ops.incidents/issues",
        ),
        (
            "github",
            {"owner": "acme", "repo": "r", "url": "https://ghe.example.com/api/v3/"},
            "https://ghe.example.com/api/v3/repos/acme/r/issues",
        ),
        ("linear", {"teamId": TEAM, "resolvedStateId": DONE_STATE}, "https://api.linear.app/graphql"),
        (
            "jira",
            {"url": "https://acme.atlassian.net/", "projectKey": "OPS", "resolveTransitionId": 31},
            "https://acme.atlassian.net/rest/api/3/issue",
        ),
        ("cachet", {"url": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080/api/v1/incidents"),
    ],
)
def test_defaults_and_overridable_base_urls(vendor: str, settings: dict[str, Any], expected: str) -> None:
    built = CHANNELS[vendor](settings, Credentials(SECRETS[vendor]))

    (request,) = built.requests(notice(Kind.OPENED), OPEN, {}, 0)

    assert request.url == expected


# -- every request meets the vendor's contract -----------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("created", [False, True], ids=["first-notice", "later-notice"])
@pytest.mark.parametrize("view", [OPEN, IDENTIFIED, MONITORING, RESOLVED, AWAITING_APPROVAL])
def test_every_request_meets_the_vendors_documented_contract(
    vendor: str, kind: Kind, created: bool, view: IncidentView
) -> None:
    built = channel(vendor)
    refs = dict(CREATED_REFS[vendor]) if created else {}
    index, sent = 0, 0
    while pending := built.requests(notice(kind), view, refs, index):
        CHECKS[vendor](received(pending[0]))
        # Only the first delivery creates; later steps run with what it left.
        refs = refs or dict(CREATED_REFS[vendor])
        index, sent = index + 1, sent + 1

    assert sent <= 2


# -- status pages -------------------------------------------------------------------


def test_statuspage_opens_a_public_incident_with_its_components() -> None:
    (request,) = channel("statuspage").requests(notice(Kind.OPENED), OPEN, {}, 0)

    assert request.method == "POST"
    assert request.url == "https://api.statuspage.io/v1/pages/kctbh9vrtdwd/incidents"
    assert request.headers["Authorization"] == "OAuth sp-secret-key-0042"
    assert request.json == {
        "incident": {
            "name": "Pod is crash looping",
            "status": "investigating",
            "body": "We are investigating a major outage. We will post an update as soon as we know more.",
            "impact_override": "critical",
            "component_ids": ["8kbf7d35c070", "vtnh60py4yd7"],
            "components": {"8kbf7d35c070": "major_outage", "vtnh60py4yd7": "major_outage"},
            "deliver_notifications": True,
        }
    }


@pytest.mark.parametrize(
    ("severity", "overrides", "component_status", "impact"),
    [
        ("critical", None, "major_outage", "critical"),
        ("error", None, "partial_outage", "major"),
        ("warning", None, "degraded_performance", "minor"),
        ("info", None, "operational", "none"),
        ("warning", {"warning": "partial_outage"}, "partial_outage", "minor"),
    ],
)
def test_statuspage_component_status_follows_severity(
    severity: str, overrides: dict[str, str] | None, component_status: str, impact: str
) -> None:
    built = channel("statuspage", componentStatusBySeverity=overrides)

    (request,) = built.requests(notice(Kind.OPENED), dataclasses.replace(OPEN, severity=severity), {}, 0)

    assert set(request.json["incident"]["components"].values()) == {component_status}
    assert request.json["incident"]["impact_override"] == impact


@pytest.mark.parametrize(
    ("kind", "view", "previous", "status", "components"),
    [
        (Kind.REMEDIATION, IDENTIFIED, "investigating", "identified", "major_outage"),
        (Kind.PAGE, dataclasses.replace(OPEN, diagnostics="OOMKilled"), "investigating", "identified", "major_outage"),
        (Kind.APPROVAL_NEEDED, AWAITING_APPROVAL, "investigating", "identified", "major_outage"),
        (Kind.REMEDIATION, MONITORING, "identified", "monitoring", "major_outage"),
        (Kind.REMEDIATION, MONITORING, "investigating", "monitoring", "major_outage"),
        (Kind.RESOLVED, RESOLVED, "monitoring", "resolved", "operational"),
        (Kind.RESOLVED, OPEN, "investigating", "resolved", "operational"),
    ],
)
def test_statuspage_status_follows_ours_investigating_identified_monitoring_resolved(
    kind: Kind, view: IncidentView, previous: str, status: str, components: str
) -> None:
    refs = {statuspage.INCIDENT_REF: "p31zjtct2jer", statuspage.STATUS_REF: previous}

    (request,) = channel("statuspage").requests(notice(kind), view, refs, 0)

    assert request.method == "PATCH"
    assert request.url == "https://api.statuspage.io/v1/pages/kctbh9vrtdwd/incidents/p31zjtct2jer"
    assert request.json["incident"]["status"] == status
    assert set(request.json["incident"]["components"].values()) == {components}


@pytest.mark.parametrize(
    ("kind", "view", "previous", "status", "requests_sent"),
    [
        (Kind.REMEDIATION, IDENTIFIED, "investigating", 2, [("POST", "/api/v1/incidents/42/updates")]),
        (Kind.REMEDIATION, MONITORING, "identified", 3, [("POST", "/api/v1/incidents/42/updates")]),
        (
            Kind.RESOLVED,
            RESOLVED,
            "monitoring",
            4,
            [("POST", "/api/v1/incidents/42/updates"), ("PUT", "/api/v1/components/7")],
        ),
    ],
)
def test_cachet_status_follows_ours_and_resolving_restores_the_component(
    kind: Kind, view: IncidentView, previous: str, status: int, requests_sent: list[tuple[str, str]]
) -> None:
    refs = {cachet.INCIDENT_REF: "42", cachet.STATUS_REF: previous}

    built = channel("cachet").requests(notice(kind), view, refs, 0)

    assert [(r.method, urlsplit(r.url).path) for r in built] == requests_sent
    assert built[0].json["status"] == status
    assert built[0].json["message"]
    if kind is Kind.RESOLVED:
        assert built[1].json == {"status": 1}


def test_cachet_opens_an_incident_that_sets_its_component() -> None:
    (request,) = channel("cachet").requests(notice(Kind.OPENED), dataclasses.replace(OPEN, severity="error"), {}, 0)

    assert request.url == "https://status.example.com/api/v1/incidents"
    assert request.headers["X-Cachet-Token"] == "cachet-secret-token-0042"
    assert request.json == {
        "name": "Pod is crash looping",
        "message": "We are investigating a partial outage. We will post an update as soon as we know more.",
        "status": 1,
        "visible": True,
        "notify": True,
        "component_id": 7,
        "component_status": 3,
    }


def test_cachet_without_a_component_touches_none() -> None:
    settings = {k: v for k, v in SETTINGS["cachet"].items() if k != "componentId"}
    built = CHANNELS["cachet"](settings, Credentials(SECRETS["cachet"]))

    (create,) = built.requests(notice(Kind.OPENED), OPEN, {}, 0)
    resolve = built.requests(notice(Kind.RESOLVED), RESOLVED, CREATED_REFS["cachet"], 0)

    assert "component_id" not in create.json
    assert [r.method for r in resolve] == ["POST"]


@pytest.mark.parametrize("vendor", STATUS_PAGES)
@pytest.mark.parametrize("kind", [Kind.PAGE, Kind.ACKNOWLEDGED, Kind.UNACKNOWLEDGED, Kind.ESCALATED])
def test_a_notice_that_does_not_move_the_public_status_sends_nothing(vendor: str, kind: Kind) -> None:
    assert channel(vendor).requests(notice(kind), OPEN, CREATED_REFS[vendor], 0) == []


@pytest.mark.parametrize("vendor", STATUS_PAGES)
@pytest.mark.parametrize("kind", list(Kind))
def test_private_incidents_never_reach_a_status_page(vendor: str, kind: Kind) -> None:
    private = dataclasses.replace(IDENTIFIED, public=False)

    assert channel(vendor).requests(notice(kind), private, {}, 0) == []


@pytest.mark.parametrize("vendor", STATUS_PAGES)
def test_a_status_page_never_opens_an_incident_that_is_already_over(vendor: str) -> None:
    assert channel(vendor).requests(notice(Kind.RESOLVED), RESOLVED, {}, 0) == []


@pytest.mark.parametrize("vendor", STATUS_PAGES)
def test_an_incident_on_the_page_is_followed_to_the_end_even_if_no_longer_public(vendor: str) -> None:
    private = dataclasses.replace(RESOLVED, public=False)

    built = channel(vendor).requests(notice(Kind.RESOLVED), private, CREATED_REFS[vendor], 0)

    assert built
    assert "resolved" in json.dumps(built[0].json) or built[0].json.get("status") == 4


@pytest.mark.parametrize("vendor", STATUS_PAGES)
def test_public_text_carries_no_internals(vendor: str) -> None:
    """A status page is public: no namespace, workload, pod, alert name, command or diagnostic."""
    built = channel(vendor)
    stages = [(Kind.OPENED, OPEN, {}), (Kind.REMEDIATION, IDENTIFIED, CREATED_REFS[vendor])]
    stages += [(Kind.REMEDIATION, MONITORING, CREATED_REFS[vendor]), (Kind.RESOLVED, RESOLVED, CREATED_REFS[vendor])]

    text = json.dumps([r.json for kind, view, refs in stages for r in built.requests(notice(kind), view, refs, 0)])

    for internal in ("shop", "web", "Deployment", "KubePodCrashLooping", "x2x9k", "crashloop-7f3a", "kubectl"):
        assert internal not in text
    for internal in ("onduty", "restartPods", "OOMKilled", "alice", "runbooks.example.com", "The incident was"):
        assert internal not in text


@pytest.mark.parametrize(
    ("title", "view_changes", "setting", "expected"),
    [
        ("Pod is crash looping on shop/web", {}, "", "Pod is crash looping"),
        ("Latency above 2s at 10.0.3.7:8080", {}, "", "Latency above 2s"),
        ("Checkout API is slow", {"workload": "Deployment/checkout-api"}, "", "Checkout API is slow"),
        ("KubePodCrashLooping", {}, "", "Major service outage"),
        ("web-7d4b9c8f6d-x2x9k OOMKilled in shop", {"severity": "warning"}, "", "Degraded performance"),
        ("Error budget burn {{ $labels.job }}", {}, "", "Error budget burn"),
        ("Pod is crash looping on shop/web", {}, "Checkout degraded", "Checkout degraded"),
    ],
)
def test_the_public_name_drops_every_internal_word(
    title: str, view_changes: dict[str, Any], setting: str, expected: str
) -> None:
    view = dataclasses.replace(OPEN, title=title, **view_changes)

    (request,) = channel("statuspage", incidentName=setting).requests(notice(Kind.OPENED), view, {}, 0)

    assert request.json["incident"]["name"] == expected


# -- tickets ---------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", TICKETS)
@pytest.mark.parametrize("kind", list(Kind))
def test_the_first_notice_of_any_kind_creates_the_ticket(vendor: str, kind: Kind) -> None:
    built = channel(vendor)

    (create,) = built.requests(notice(kind), OPEN, {}, 0)

    assert create.method == "POST"
    assert not built.requests(notice(kind), OPEN, {}, 1), "later steps wait for the new ticket's reference"


@pytest.mark.parametrize(
    ("vendor", "kind", "steps"),
    [
        ("jira", Kind.PAGE, ["/rest/api/3/issue/OPS-7/comment"]),
        ("jira", Kind.ACKNOWLEDGED, ["/rest/api/3/issue/OPS-7/comment", "/rest/api/3/issue/OPS-7/transitions"]),
        ("jira", Kind.RESOLVED, ["/rest/api/3/issue/OPS-7/comment", "/rest/api/3/issue/OPS-7/transitions"]),
        ("github", Kind.REMEDIATION, ["POST /repos/acme/incidents/issues/1347/comments"]),
        (
            "github",
            Kind.RESOLVED,
            ["POST /repos/acme/incidents/issues/1347/comments", "PATCH /repos/acme/incidents/issues/1347"],
        ),
        ("linear", Kind.ESCALATED, ["OndutyCommentCreate"]),
        ("linear", Kind.RESOLVED, ["OndutyCommentCreate", "OndutyIssueUpdate"]),
    ],
)
def test_later_notices_comment_and_the_end_closes_the_ticket(vendor: str, kind: Kind, steps: list[str]) -> None:
    built = channel(vendor).requests(notice(kind), RESOLVED, CREATED_REFS[vendor], 0)

    if vendor == "jira":
        assert [urlsplit(r.url).path for r in built] == steps
    elif vendor == "github":
        assert [f"{r.method} {urlsplit(r.url).path}" for r in built] == steps
    else:
        assert [r.json["operationName"] for r in built] == steps


@pytest.mark.parametrize(
    ("kind", "settings", "transition"),
    [
        (Kind.RESOLVED, {}, "31"),
        (Kind.ACKNOWLEDGED, {}, "21"),
        (Kind.ACKNOWLEDGED, {"acknowledgeTransitionId": None}, None),
        (Kind.RESOLVED, {"resolveTransitionId": 41}, "41"),
    ],
)
def test_jira_transitions_by_the_configured_id(kind: Kind, settings: dict[str, Any], transition: str | None) -> None:
    built = channel("jira", **settings).requests(notice(kind), RESOLVED, CREATED_REFS["jira"], 0)

    assert built[0].json["body"]["type"] == "doc"
    if transition is None:
        assert len(built) == 1
    else:
        assert built[1].json == {"transition": {"id": transition}}


@pytest.mark.parametrize(("issue_type", "expected"), [(None, "Task"), ("Incident", "Incident")])
def test_jira_creates_an_issue_with_an_adf_description(issue_type: str | None, expected: str) -> None:
    (request,) = channel("jira", issueType=issue_type).requests(notice(Kind.OPENED), IDENTIFIED, {}, 0)

    fields = request.json["fields"]
    assert request.url == "https://acme.atlassian.net/rest/api/3/issue"
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(b"oncall@example.com:jira-secret-token-0042").decode()
    )
    assert fields["project"] == {"key": "OPS"}
    assert fields["summary"] == "[critical] Pod is crash looping on shop/web"
    assert fields["issuetype"] == {"name": expected}
    assert fields["labels"] == ["onduty", "incident"]
    jira_receiver.check_adf(fields["description"])
    nodes = _adf_nodes(fields["description"])
    assert {"paragraph", "heading", "bulletList", "listItem", "codeBlock"} <= {n["type"] for n in nodes}
    code = [n["text"] for n in nodes if n["type"] == "text" and {"type": "code"} in n.get("marks", [])]
    assert IDENTIFIED.describe_command in code
    assert IDENTIFIED.pause_command in code
    links = [m["attrs"]["href"] for n in nodes for m in n.get("marks", []) if m["type"] == "link"]
    assert links == ["https://runbooks.example.com/crashloop"]


def _adf_nodes(node: Any) -> list[dict[str, Any]]:
    found = [node] if isinstance(node, dict) and "type" in node else []
    for child in node.get("content", []) if isinstance(node, dict) else []:
        found += _adf_nodes(child)
    return found


def test_github_creates_an_issue_with_a_markdown_body_and_labels() -> None:
    (request,) = channel("github").requests(notice(Kind.OPENED), IDENTIFIED, {}, 0)

    assert request.url == "https://api.github.com/repos/acme/incidents/issues"
    assert request.headers == {
        "Authorization": "Bearer ghp_secrettoken0042",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "onduty",
        "Content-Type": "application/json",
    }
    assert request.json["title"] == "[critical] Pod is crash looping on shop/web"
    assert request.json["labels"] == ["incident", "onduty"]
    assert "### What onduty did" in request.json["body"]


def test_github_closes_a_resolved_issue_as_completed() -> None:
    built = channel("github").requests(notice(Kind.RESOLVED), RESOLVED, CREATED_REFS["github"], 0)

    assert built[1].json == {"state": "closed", "state_reason": "completed"}


@pytest.mark.parametrize(
    ("severity", "priorities", "expected"),
    [("critical", None, 1), ("error", None, 2), ("warning", None, 3), ("info", None, 4), ("info", {"info": 0}, 0)],
)
def test_linear_creates_an_issue_through_variables_with_a_priority_by_severity(
    severity: str, priorities: dict[str, int] | None, expected: int
) -> None:
    view = dataclasses.replace(OPEN, severity=severity)

    (request,) = channel("linear", priority=priorities).requests(notice(Kind.OPENED), view, {}, 0)

    assert request.headers["Authorization"] == "lin_api_secretkey0042"
    assert request.json["query"] == linear.ISSUE_CREATE
    issue = request.json["variables"]["input"]
    assert issue["teamId"] == TEAM
    assert issue["title"] == f"[{severity}] Pod is crash looping on shop/web"
    assert issue["priority"] == expected
    assert "### Take over" in issue["description"]


def test_linear_resolves_by_moving_the_issue_to_the_resolved_state() -> None:
    _, update = channel("linear").requests(notice(Kind.RESOLVED), RESOLVED, CREATED_REFS["linear"], 0)

    assert update.json["query"] == linear.ISSUE_UPDATE
    assert update.json["variables"] == {"id": LINEAR_ISSUE, "input": {"stateId": DONE_STATE}}


def _ticket_text(vendor: str, request: Request) -> str:
    if vendor == "jira":
        nodes = _adf_nodes(request.json["fields"]["description"])
        hrefs = [m["attrs"]["href"] for n in nodes for m in n.get("marks", []) if m["type"] == "link"]
        return " ".join([n.get("text", "") for n in nodes] + hrefs)
    if vendor == "github":
        return str(request.json["body"])
    return str(request.json["variables"]["input"]["description"])


@pytest.mark.parametrize("vendor", TICKETS)
def test_the_ticket_tells_the_whole_incident(vendor: str) -> None:
    view = dataclasses.replace(
        AWAITING_APPROVAL,
        actions=(ActionLine("restartPods", "Failed", "Deployment/web", "pods still crash"), *AWAITING_APPROVAL.actions),
    )

    (request,) = channel(vendor).requests(notice(Kind.APPROVAL_NEEDED, "A rollback waits for approval."), view, {}, 0)
    text = _ticket_text(vendor, request).replace("\\", "")

    for expected in (
        "A rollback waits for approval.",
        "critical",
        "shop",
        "Deployment/web",
        "KubePodCrashLooping",
        "3 firing of 4 (2 more left out by Alertmanager)",
        "restartPods",
        "Failed: pods still crash",
        "rollbackDeployment",
        "AwaitingApproval",
        "OOMKilled",
        "https://runbooks.example.com/crashloop",
        "acknowledged (phase Remediating)",
        "by alice at 2024-05-01T12:03:00Z",
        view.describe_command,
        view.approve_command,
        view.pause_command,
    ):
        assert expected in text, expected


@pytest.mark.parametrize("vendor", TICKETS)
def test_a_comment_says_what_changed(vendor: str) -> None:
    paged = Notice(Kind.PAGE, "k", "Paging the secondary.", level=1, responders=("bob", "carol"))

    (comment,) = channel(vendor).requests(paged, OPEN, CREATED_REFS[vendor], 0)
    if vendor == "jira":
        text = " ".join(n.get("text", "") for n in _adf_nodes(comment.json["body"]))
    elif vendor == "github":
        text = comment.json["body"]
    else:
        text = comment.json["variables"]["input"]["body"]

    for expected in (
        "Paged",
        "Paging the secondary.",
        "bob, carol (level 2)",
        "triggered (phase Open)",
        OPEN.ack_command,
    ):
        assert expected in text


def test_markdown_escapes_what_an_alert_wrote() -> None:
    view = dataclasses.replace(OPEN, title="x", diagnostics="", links=())
    hostile = "<img src=x onerror=alert(1)> [click](https://evil.example) **loud** | col"

    body = tickets.markdown(tickets.story(notice(Kind.OPENED, hostile), view))
    command = tickets.markdown((tickets.Paragraph((tickets.Span("echo `id`", code=True),)),))

    assert not re.search(r"(?<!\\)<img", body)
    assert "\\<img src=x onerror=alert(1)\\>" in body
    assert "\\[click\\](https://evil.example)" in body
    assert "\\*\\*loud\\*\\* \\| col" in body
    assert command == "``echo `id```" or command == "`` echo `id` ``"


def test_an_unbalanced_code_fence_in_diagnostics_is_closed() -> None:
    body = tickets.markdown((tickets.Digest("```\nlog line cut"), tickets.Heading("Take over")))

    assert body.count("```") == 2
    assert body.endswith("### Take over")


# -- the steps after creation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "created", "then"),
    [
        ("jira", jira_receiver.issue_created("OPS-9"), "/rest/api/3/issue/OPS-9/transitions"),
        ("github", github_receiver.issue_created(77), "/repos/acme/incidents/issues/77"),
        ("linear", linear_receiver.issue_created(LINEAR_ISSUE), "OndutyIssueUpdate"),
    ],
)
def test_a_first_notice_that_resolves_creates_then_closes_with_the_new_reference(
    vendor: str, created: Answer, then: str
) -> None:
    built = channel(vendor)
    (create,) = built.requests(notice(Kind.RESOLVED), RESOLVED, {}, 0)

    verdict = built.verdict(create, reply(created.status, created.body))
    (close,) = built.requests(notice(Kind.RESOLVED), RESOLVED, verdict.refs, 1)

    assert verdict.outcome is Outcome.DELIVERED
    assert then in (close.json.get("operationName", "") if vendor == "linear" else urlsplit(close.url).path)
    assert built.requests(notice(Kind.RESOLVED), RESOLVED, verdict.refs, 2) == []


# -- verdicts ---------------------------------------------------------------------------

LINEAR_COMMENTED = {"data": {"commentCreate": {"success": True, "comment": {"id": "c1"}}}}
# status → outcome, per vendor; a 420 is a rate limit only on Statuspage.
D, R, F = Outcome.DELIVERED, Outcome.RETRY, Outcome.FAILED
VERDICTS = {
    "statuspage": {200: D, 201: D, 204: D, 400: F, 401: F, 404: F, 420: R, 429: R, 500: R},
    "cachet": {200: D, 201: D, 204: D, 400: F, 401: F, 404: F, 420: F, 429: R, 500: R},
    "jira": {200: D, 201: D, 204: D, 400: F, 401: F, 404: F, 420: F, 429: R, 500: R},
    "github": {200: D, 201: D, 204: D, 400: F, 401: F, 404: F, 420: F, 429: R, 500: R},
    "linear": {200: D, 201: D, 204: D, 400: F, 401: F, 404: F, 420: F, 429: R, 500: R},
}


@pytest.mark.parametrize(
    ("vendor", "status", "outcome"),
    [(vendor, status, outcome) for vendor, table in VERDICTS.items() for status, outcome in table.items()],
)
def test_verdicts_follow_each_vendors_documented_status_codes(vendor: str, status: int, outcome: Outcome) -> None:
    built = channel(vendor)
    (update, *_) = built.requests(notice(Kind.RESOLVED), RESOLVED, {**CREATED_REFS[vendor], "statuspageStatus": "x"}, 0)
    body: Any = LINEAR_COMMENTED if vendor == "linear" and status < 300 else {"message": "nope"}

    verdict = built.verdict(update, reply(status, body, {"Retry-After": "7"}))

    assert verdict.outcome is outcome
    assert verdict.retry_after == (7.0 if outcome is Outcome.RETRY else None)
    assert verdict.reason


@pytest.mark.parametrize(
    ("headers", "outcome", "wait"),
    [
        (
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1714564860", "Date": "Wed, 01 May 2024 12:00:00 GMT"},
            Outcome.RETRY,
            60.0,
        ),
        ({"retry-after": "30"}, Outcome.RETRY, 30.0),
        ({"x-ratelimit-remaining": "0"}, Outcome.RETRY, github.SECONDARY_RATE_LIMIT_SECONDS),
        ({"x-ratelimit-remaining": "12"}, Outcome.FAILED, None),
    ],
)
def test_github_403_is_a_rate_limit_only_when_github_says_so(
    headers: dict[str, str], outcome: Outcome, wait: float | None
) -> None:
    built = channel("github")
    (create,) = built.requests(notice(Kind.OPENED), OPEN, {}, 0)

    verdict = built.verdict(create, reply(403, {"message": "API rate limit exceeded"}, headers))

    assert verdict.outcome is outcome
    assert verdict.retry_after == wait


@pytest.mark.parametrize(
    ("answer", "outcome", "said"),
    [
        (linear_receiver.rate_limited(), Outcome.RETRY, "Rate limit exceeded"),
        (linear_receiver.graphql_error("Rate limit exceeded", "RATELIMITED"), Outcome.RETRY, "Rate limit"),
        (linear_receiver.graphql_error("Entity not found: Team"), Outcome.FAILED, "Entity not found: Team"),
        (linear_receiver.graphql_error("Authentication required", "AUTHENTICATION_ERROR"), Outcome.FAILED, "Auth"),
        (Answer(200, {"data": {"commentCreate": {"success": False}}}), Outcome.FAILED, "did not confirm"),
        (Answer(200, b"<html>proxy</html>"), Outcome.FAILED, "did not confirm"),
    ],
)
def test_linear_reads_graphql_errors_from_the_body_whatever_the_http_status(
    answer: Answer, outcome: Outcome, said: str
) -> None:
    built = channel("linear")
    (comment,) = built.requests(notice(Kind.PAGE), OPEN, CREATED_REFS["linear"], 0)
    body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()

    verdict = built.verdict(comment, Reply(answer.status, {}, body))

    assert verdict.outcome is outcome
    assert said in verdict.reason


@pytest.mark.parametrize(
    ("vendor", "answer", "said"),
    [
        ("jira", jira_receiver.refused(400, summary="You must specify a summary of the issue."), "summary: You must"),
        ("jira", jira_receiver.refused(404), "Issue does not exist"),
        (
            "github",
            Answer(422, {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing"}]}),
            "title missing",
        ),
        ("statuspage", Answer(401, {"error": "Could not authenticate"}), "Could not authenticate"),
        ("cachet", Answer(400, {"errors": [{"meta": {"details": ["The name field is required."]}}]}), "name field"),
    ],
)
def test_refusals_are_summarised_from_the_vendors_error_body(vendor: str, answer: Answer, said: str) -> None:
    built = channel(vendor)
    (create,) = built.requests(notice(Kind.OPENED), OPEN, {}, 0)

    verdict = built.verdict(create, reply(answer.status, answer.body))

    assert verdict.outcome is Outcome.FAILED
    assert said in verdict.reason


@pytest.mark.parametrize(
    ("vendor", "answer", "refs"),
    [
        (
            "statuspage",
            statuspage_receiver.created("p31zjtct2jer"),
            {statuspage.INCIDENT_REF: "p31zjtct2jer", statuspage.STATUS_REF: "investigating"},
        ),
        ("cachet", cachet_receiver.created(42), {cachet.INCIDENT_REF: "42", cachet.STATUS_REF: "investigating"}),
        ("jira", jira_receiver.issue_created("OPS-7"), {jira.KEY_REF: "OPS-7"}),
        ("github", github_receiver.issue_created(1347), {github.NUMBER_REF: "1347"}),
        ("linear", linear_receiver.issue_created(LINEAR_ISSUE), {linear.ISSUE_REF: LINEAR_ISSUE}),
    ],
)
def test_creation_remembers_the_vendors_reference_and_later_requests_use_it(
    vendor: str, answer: Answer, refs: dict[str, str]
) -> None:
    built = channel(vendor)
    (create,) = built.requests(notice(Kind.OPENED), OPEN, {}, 0)

    verdict = built.verdict(create, reply(answer.status, answer.body))
    (later, *_) = built.requests(notice(Kind.RESOLVED), RESOLVED, verdict.refs, 0)

    assert verdict.outcome is Outcome.DELIVERED
    assert dict(verdict.refs) == refs
    reference = next(iter(refs.values()))
    assert reference in later.url or reference in json.dumps(later.json)


@pytest.mark.parametrize(
    ("vendor", "body"),
    [
        ("statuspage", {"id": "../../pages/other/incidents"}),
        ("statuspage", {"id": 123}),
        ("statuspage", {}),
        ("cachet", {"data": {"id": "1/../2"}}),
        ("cachet", {"data": {"id": True}}),
        ("cachet", {"data": []}),
        ("jira", {"id": "1", "key": "OPS-1/../../../rest/api/3/project"}),
        ("jira", {"id": "1", "key": "ops-1"}),
        ("github", {"number": "12"}),
        ("github", {"number": 0}),
        ("github", {"number": True}),
        ("linear", {"data": {"issueCreate": {"success": True, "issue": {"id": "a b/c"}}}}),
        ("linear", {"data": {"issueCreate": {"success": True, "issue": None}}}),
    ],
)
def test_a_created_reference_that_does_not_validate_is_a_failure_never_a_path(vendor: str, body: Any) -> None:
    built = channel(vendor)
    (create,) = built.requests(notice(Kind.OPENED), OPEN, {}, 0)

    verdict = built.verdict(create, reply(201 if vendor != "linear" else 200, body))

    assert verdict.outcome is Outcome.FAILED
    assert not verdict.refs


@pytest.mark.parametrize(
    ("vendor", "refs"),
    [
        ("statuspage", {statuspage.INCIDENT_REF: "../../pages/x", statuspage.STATUS_REF: "investigating"}),
        ("cachet", {cachet.INCIDENT_REF: "1/../2", cachet.STATUS_REF: "investigating"}),
        ("jira", {jira.KEY_REF: "OPS-1/../x"}),
        ("github", {github.NUMBER_REF: "1/../../x"}),
        ("linear", {linear.ISSUE_REF: "a b"}),
    ],
)
def test_a_remembered_reference_that_does_not_validate_is_never_sent(vendor: str, refs: dict[str, str]) -> None:
    assert channel(vendor).requests(notice(Kind.RESOLVED), RESOLVED, refs, 0) == []


# -- secrets ---------------------------------------------------------------------------


# A refusal that quotes the credential back, in each vendor's error shape.
ECHOED: dict[str, Callable[[str], Any]] = {
    "statuspage": lambda secret: {"error": f"Could not authenticate with {secret}"},
    "cachet": lambda secret: {"errors": [{"detail": f"Bad token {secret}"}]},
    "jira": lambda secret: {"errorMessages": [f"Bad token {secret}"], "errors": {}},
    "github": lambda secret: {"message": f"Bad credentials {secret}"},
    "linear": lambda secret: {
        "errors": [{"message": f"Bad key {secret}", "extensions": {"code": "AUTHENTICATION_ERROR"}}]
    },
}


@pytest.mark.parametrize("vendor", VENDORS)
def test_secrets_stay_out_of_reprs_bodies_and_reasons(vendor: str) -> None:
    secrets = secrets_of(vendor)
    leaky = dataclasses.replace(IDENTIFIED, diagnostics=f"env dump: TOKEN={secrets[0]}")
    built = channel(vendor)
    sent = [
        *built.requests(notice(Kind.OPENED), leaky, {}, 0),
        *built.requests(
            notice(Kind.RESOLVED), dataclasses.replace(RESOLVED, diagnostics=leaky.diagnostics), CREATED_REFS[vendor], 0
        ),
    ]
    echoed = ECHOED[vendor](secrets[0])
    reasons = [built.verdict(r, reply(401, echoed)).reason for r in sent]

    for secret in secrets:
        assert secret not in repr(built)
        for request in sent:
            assert secret not in repr(request)
            assert secret not in json.dumps(request.json)
            assert secret in request.secret_values
        for reason in reasons:
            assert secret not in reason
    assert all("[redacted]" in reason for reason in reasons)


# -- receivers refuse what the vendor would -------------------------------------------


def _broken(vendor: str, change: Callable[[dict[str, Any]], None], headers: dict[str, str] | None = None) -> Received:
    (request, *_) = channel(vendor).requests(notice(Kind.RESOLVED), RESOLVED, CREATED_REFS[vendor], 0)
    body = json.loads(json.dumps(request.json))
    change(body)
    got = received(dataclasses.replace(request, json=body))
    return dataclasses.replace(got, headers={**got.headers, **(headers or {})})


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _interpolate_body(body: dict[str, Any]) -> None:
    body["variables"]["input"]["body"] = "Resolved at noon"
    body["query"] = body["query"].replace(
        "$input: CommentCreateInput!", '$input: CommentCreateInput! = "Resolved at noon"'
    )


@pytest.mark.parametrize(
    ("vendor", "got", "rule"),
    [
        ("statuspage", _broken("statuspage", _set("incident.status", "fixed")), "status 'fixed'"),
        ("statuspage", _broken("statuspage", _set("incident.components.8kbf7d35c070", "down")), "component"),
        ("statuspage", _broken("statuspage", lambda b: None, {"authorization": "Bearer k"}), "OAuth"),
        ("cachet", _broken("cachet", _set("status", 7)), "status 7"),
        ("cachet", _broken("cachet", lambda b: None, {"x-cachet-token": ""}), "X-Cachet-Token"),
        ("jira", _broken("jira", _set("body.version", 2)), "version 1"),
        ("jira", _broken("jira", _set("body.content.0.content.0.text", "")), "non-empty text"),
        (
            "jira",
            _broken("jira", _set("body.content.0.content.0.marks", [{"type": "code"}, {"type": "strong"}])),
            "code mark",
        ),
        ("jira", _broken("jira", _set("body.content.1.content", [])), "at least one listItem"),
        ("jira", _broken("jira", lambda b: None, {"authorization": "Bearer x"}), "basic auth"),
        ("github", _broken("github", lambda b: None, {"x-github-api-version": "2021-01-01"}), "X-GitHub-Api-Version"),
        ("github", _broken("github", _set("body", "")), "non-empty"),
        ("linear", _broken("linear", lambda b: None, {"authorization": "Bearer lin_api_x"}), "without 'Bearer'"),
        ("linear", _broken("linear", _set("variables.input.body", "")), "needs body"),
        ("linear", _broken("linear", _interpolate_body), "interpolated"),
    ],
)
def test_the_receivers_refuse_what_the_vendor_would(vendor: str, got: Received, rule: str) -> None:
    with pytest.raises(ContractViolation, match=rule):
        CHECKS[vendor](got)


def test_the_jira_receiver_refuses_a_transition_id_that_is_not_a_string() -> None:
    (_, transition) = channel("jira").requests(notice(Kind.RESOLVED), RESOLVED, CREATED_REFS["jira"], 0)
    got = received(dataclasses.replace(transition, json={"transition": {"id": 31}}))

    with pytest.raises(ContractViolation, match="string"):
        jira_receiver.check(got)


# -- flows over loopback ------------------------------------------------------------------

FLOW = [
    (notice(Kind.OPENED), OPEN),
    (notice(Kind.PAGE), OPEN),
    (notice(Kind.REMEDIATION), IDENTIFIED),
    (notice(Kind.REMEDIATION), MONITORING),
    (notice(Kind.RESOLVED), RESOLVED),
]


def send(built: Channel, flow: list[tuple[Notice, IncidentView]]) -> tuple[dict[str, str], list[str]]:
    """Deliver every notice as the adapter does: each request in turn, refs fed back, retries resent."""
    refs: dict[str, str] = {}
    reasons: list[str] = []
    with requests.Session() as session:
        for sent_notice, view in flow:
            index = 0
            while pending := built.requests(sent_notice, view, refs, index):
                request = pending[0]
                for _ in range(3):
                    answer = session.request(
                        request.method, request.url, headers=dict(request.headers), json=request.json, timeout=10
                    )
                    got = Reply(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content)
                    verdict = built.verdict(request, got)
                    reasons.append(verdict.reason)
                    if verdict.outcome is not Outcome.RETRY:
                        break
                assert verdict.outcome is Outcome.DELIVERED, verdict.reason
                refs.update(verdict.refs)
                index += 1
    return refs, reasons


def test_statuspage_flow_over_loopback() -> None:
    fake = statuspage_receiver.StatuspageFake()
    with Receiver(
        check=lambda got: statuspage_receiver.check(got, api_key="sp-secret-key-0042"), respond=fake.respond
    ) as vendor:
        vendor.script(statuspage_receiver.rate_limited(420, retry_after=1))
        built = channel("statuspage", url=f"{vendor.url}/v1")

        refs, reasons = send(built, FLOW)

        vendor.assert_clean()
    (incident_id,) = fake.incidents
    assert fake.statuses(incident_id) == ["investigating", "identified", "monitoring", "resolved"]
    assert [(r.method, r.path) for r in vendor.requests][:2] == [("POST", "/v1/pages/kctbh9vrtdwd/incidents")] * 2
    assert len(vendor.requests) == 5  # the rate-limited POST, its retry, three updates; the page sent nothing
    assert fake.incidents[incident_id][-1]["components"] == {
        "8kbf7d35c070": "operational",
        "vtnh60py4yd7": "operational",
    }
    assert refs == {statuspage.INCIDENT_REF: incident_id, statuspage.STATUS_REF: "resolved"}
    assert reasons[0] == "Statuspage is rate limiting (420)."


def test_cachet_flow_over_loopback() -> None:
    fake = cachet_receiver.CachetFake()
    with Receiver(
        check=lambda got: cachet_receiver.check(got, token="cachet-secret-token-0042"), respond=fake.respond
    ) as vendor:
        built = channel("cachet", url=vendor.url)

        refs, _ = send(built, FLOW)

        vendor.assert_clean()
    assert fake.incidents == {1: [1, 2, 3, 4]}
    assert fake.components == {7: 1}
    assert [r.method for r in vendor.requests] == ["POST", "POST", "POST", "POST", "PUT"]
    assert refs == {cachet.INCIDENT_REF: "1", cachet.STATUS_REF: "resolved"}


def test_jira_flow_over_loopback() -> None:
    fake = jira_receiver.JiraFake()
    credentials = SECRETS["jira"]
    with Receiver(
        check=lambda got: jira_receiver.check(got, email=credentials["email"], token=credentials["apiToken"]),
        respond=fake.respond,
    ) as vendor:
        built = channel("jira", url=vendor.url)

        refs, _ = send(built, [*FLOW[:3], (notice(Kind.ACKNOWLEDGED), IDENTIFIED), *FLOW[3:]])

        vendor.assert_clean()
    assert refs == {jira.KEY_REF: "OPS-1"}
    issue = fake.issues["OPS-1"]
    assert len(issue["comments"]) == 5
    assert issue["transitions"] == ["21", "31"]


def test_github_flow_over_loopback() -> None:
    fake = github_receiver.GitHubFake()
    with Receiver(
        check=lambda got: github_receiver.check(got, token="ghp_secrettoken0042"), respond=fake.respond
    ) as vendor:
        built = channel("github", url=vendor.url)

        refs, _ = send(built, FLOW)

        vendor.assert_clean()
    assert refs == {github.NUMBER_REF: "1"}
    issue = fake.issues[1]
    assert issue["title"] == "[critical] Pod is crash looping on shop/web"
    assert len(issue["comments"]) == 4
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")


def test_linear_flow_over_loopback() -> None:
    fake = linear_receiver.LinearFake()
    with Receiver(
        check=lambda got: linear_receiver.check(got, api_key="lin_api_secretkey0042"), respond=fake.respond
    ) as vendor:
        vendor.script(linear_receiver.rate_limited())
        built = channel("linear", url=f"{vendor.url}/graphql")

        refs, reasons = send(built, FLOW)

        vendor.assert_clean()
    (issue_id,) = fake.issues
    assert refs == {linear.ISSUE_REF: issue_id}
    assert fake.issues[issue_id]["teamId"] == TEAM
    assert len(fake.issues[issue_id]["comments"]) == 4
    assert fake.issues[issue_id]["stateId"] == DONE_STATE
    assert reasons[0].startswith("Linear is rate limiting (400)")
