"""Actions a human must approve, and actions that only ran as a dry run.

An approval request parks the step (not terminal); a human's decision either
returns it to Pending or ends it as Denied; an unanswered request expires. A
dry run is a final outcome: nothing changed, so the incident escalates to a human.
"""

from __future__ import annotations

import copy
import re
import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty import cli
from onduty.adapters.kube import NotFound
from onduty.domain import incidents
from onduty.domain.guardrails import Verdict, read_recorded
from onduty.domain.runbooks import RunbookSpec, parse_runbook
from onduty.domain.workloads import Workload

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)  # Saturday noon
UID = "3f0c9a52-7d1e-4b8a-9c6f-2e5d4a1b0c97"  # as the API server makes them
WEB = Workload("Deployment", "web", "shop")
SPEC: RunbookSpec = parse_runbook(
    {
        "match": {"alertnames": ["KubePodCrashLooping"]},
        "remediation": {"steps": [{"name": "restart-web", "action": "rolloutRestart"}]},
    }
)
VERDICTS = [
    Verdict("Pause", True, "NotPaused", "no pause annotation"),
    Verdict("Policy", True, "PoliciesInScope", "in scope: prod-guardrails"),
]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _incident() -> tuple[dict[str, Any], dict[str, Any]]:
    """An open incident with a matched runbook, and the new (unrecorded) action of its only step."""
    status: dict[str, Any] = {}
    incidents.open_incident(status, now=T0, title="Pod is crash looping.", workload=WEB)
    status["runbook"] = {"namespace": "shop", "name": "restart-web"}
    status["phase"] = "Remediating"
    nxt = incidents.next_step(SPEC, status, UID)
    assert nxt is not None
    return status, incidents.new_action(nxt, WEB, now=at(1))


def _awaiting() -> tuple[dict[str, Any], dict[str, Any]]:
    status, action = _incident()
    incidents.request_approval(
        status, action, VERDICTS, now=at(1), ttl=timedelta(minutes=30), policies="prod-guardrails"
    )
    stored = incidents.find_action(status, action["id"])
    assert stored is not None
    return status, stored


def _reasons(status: dict[str, Any]) -> list[str]:
    return [entry["reason"] for entry in status.get("timeline", [])]


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


# --- asking --------------------------------------------------------------------------------------


def test_requesting_approval_parks_the_action_with_an_expiry_and_says_how_to_approve() -> None:
    status, action = _incident()

    entries = incidents.request_approval(
        status, action, VERDICTS, now=at(1), ttl=timedelta(minutes=30), policies="prod-guardrails"
    )

    stored = incidents.find_action(status, action["id"])
    assert stored is not None
    assert (stored["state"], stored["reason"]) == ("AwaitingApproval", "ApprovalRequired")
    assert stored["approval"] == {"requestedAt": "2026-11-28T12:01:00Z", "expiresAt": "2026-11-28T12:31:00Z"}
    assert stored["message"] == "policy prod-guardrails requires approval; expires 2026-11-28T12:31:00Z"
    assert read_recorded(stored) == [v.to_dict() for v in VERDICTS if v.allowed] + [
        v.to_dict() for v in VERDICTS if not v.allowed
    ]
    assert "finishedAt" not in stored
    assert [(e.reason, e.type) for e in entries] == [("ApprovalRequired", "Warning")]
    assert f"`onduty approve -n shop {UID}.restart-web`" in entries[0].message
    assert f"`onduty reject -n shop {UID}.restart-web`" in entries[0].message
    assert status["lastAction"] == "rolloutRestart AwaitingApproval"


class _Incidents:
    """The incidents of a namespace, as ``Cluster.get`` and ``Cluster.list`` give them."""

    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = items

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        found = [i for i in self.items if i["metadata"]["name"] == name]
        if not found:
            raise NotFound(f"incidents {name!r} not found", status=404)
        return found[0]

    def list(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        return list(self.items)


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_the_commands_the_approval_request_prints_name_this_incident_and_step(verb: str) -> None:
    """Each is a command line ``onduty`` takes as it is, naming the action asked about.

    tests/integration/test_printed_commands.py runs them against a real API server.
    """
    status, action = _incident()
    [entry] = incidents.request_approval(
        status, action, VERDICTS, now=at(1), ttl=timedelta(minutes=30), policies="prod-guardrails"
    )
    [command] = [c for c in re.findall(r"`([^`]*)`", entry.message) if c.startswith(f"onduty {verb} ")]
    waiting = {"metadata": {"name": "kubepodcrashlooping-1f2e3d4c-x7k9p", "uid": UID}, "status": status}
    other = {"metadata": {"name": "other", "uid": "0b6a3c1d-2e4f-4a5b-8c7d-9e0f1a2b3c4d"}, "status": {}}

    args = cli.build_parser().parse_args(shlex.split(command)[1:])
    found, step = cli._find_incident(_Incidents(other, waiting), args.incident_namespace, args.incident)

    assert (args.command, args.incident_namespace) == (verb, "shop")
    assert (found, step) == (waiting, "restart-web")


def test_an_action_awaiting_approval_is_not_finished_so_the_step_stays_next() -> None:
    status, _ = _awaiting()

    nxt = incidents.next_step(SPEC, status, UID)

    assert nxt is not None and nxt.action is not None
    assert nxt.action["state"] == "AwaitingApproval"


def test_requesting_approval_again_changes_nothing_and_keeps_the_first_expiry() -> None:
    status, stored = _awaiting()
    before = copy.deepcopy(status)

    entries = incidents.request_approval(status, stored, VERDICTS, now=at(20), ttl=timedelta(hours=1), policies="other")

    assert entries == []
    assert status == before


# --- a human decides -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approved", "state", "reason", "message", "entry", "entry_type", "finished"),
    [
        pytest.param(
            True, "Pending", "Approved", "approved by alice", "ApprovalGranted", "Normal", False, id="approved"
        ),
        pytest.param(
            False,
            "Denied",
            "ApprovalRejected",
            "rejected by alice",
            "RemediationSkipped",
            "Warning",
            True,
            id="rejected",
        ),
    ],
)
def test_a_human_decision_records_who_decided_and_moves_the_action_on(
    approved: bool, state: str, reason: str, message: str, entry: str, entry_type: str, finished: bool
) -> None:
    status, stored = _awaiting()

    entries = incidents.decide_approval(status, stored, now=at(5), approved=approved, by="alice")

    decided = incidents.find_action(status, stored["id"])
    assert decided is not None
    assert (decided["state"], decided["reason"], decided["message"]) == (state, reason, message)
    assert decided["approval"] == {
        "requestedAt": "2026-11-28T12:01:00Z",
        "expiresAt": "2026-11-28T12:31:00Z",
        "decidedAt": "2026-11-28T12:05:00Z",
        "decidedBy": "alice",
        "approved": approved,
    }
    assert ("finishedAt" in decided) is finished
    assert [(e.reason, e.type) for e in entries] == [(entry, entry_type)]
    assert "alice" in entries[0].message
    assert _reasons(status)[-1] == entry
    assert len(status["actions"]) == 1  # the decision replaced the record, it did not add one


@pytest.mark.parametrize(
    ("approved", "step_still_next"),
    [pytest.param(True, True, id="approved-step-runs-next"), pytest.param(False, False, id="rejected-step-is-done")],
)
def test_an_approved_step_runs_next_and_a_rejected_one_is_final(approved: bool, step_still_next: bool) -> None:
    status, stored = _awaiting()

    incidents.decide_approval(status, stored, now=at(5), approved=approved, by="alice")

    assert (incidents.next_step(SPEC, status, UID) is not None) is step_still_next


def test_a_rejected_approval_concludes_with_a_human_needed_and_names_the_rejection() -> None:
    status, stored = _awaiting()
    incidents.decide_approval(status, stored, now=at(5), approved=False, by="alice")

    entries = incidents.conclude(status, now=at(6))

    assert [e.reason for e in entries] == ["EscalationRequired"]
    escalation = _condition(status, incidents.COND_ESCALATION)
    assert (escalation["status"], escalation["reason"]) == ("True", "NoRemediationApplied")
    assert "ApprovalRejected" in escalation["message"]
    assert incidents.phase(status) == "Escalated"


# --- nobody decides ------------------------------------------------------------------------------


def test_an_unanswered_request_expires_as_a_denial() -> None:
    status, stored = _awaiting()

    entries = incidents.expire_approval(status, stored, now=at(31))

    expired = incidents.find_action(status, stored["id"])
    assert expired is not None
    assert (expired["state"], expired["reason"]) == ("Denied", "ApprovalExpired")
    assert expired["finishedAt"] == "2026-11-28T12:31:00Z"
    assert expired["approval"]["expiresAt"] == "2026-11-28T12:31:00Z"  # the request is kept for the record
    assert [(e.reason, e.type) for e in entries] == [("RemediationSkipped", "Warning")]
    assert "approval request expired" in entries[0].message
    assert incidents.next_step(SPEC, status, UID) is None


# --- dry runs ------------------------------------------------------------------------------------


def _dry_run(status: dict[str, Any], action: dict[str, Any], minute: int = 2) -> list[Any]:
    return incidents.dry_run_action(
        status,
        action,
        VERDICTS,
        now=at(minute),
        diff="spec.template.metadata.annotations.restartedAt: added",
        why="no RemediationPolicy covers the target",
    )


def test_a_dry_run_records_what_would_have_changed_as_a_final_outcome() -> None:
    status, action = _incident()

    entries = _dry_run(status, action)

    stored = incidents.find_action(status, action["id"])
    assert stored is not None
    assert (stored["state"], stored["reason"], stored["message"]) == (
        "DryRun",
        "DryRun",
        "no RemediationPolicy covers the target",
    )
    assert stored["diff"] == "spec.template.metadata.annotations.restartedAt: added"
    assert (stored["startedAt"], stored["finishedAt"]) == ("2026-11-28T12:02:00Z", "2026-11-28T12:02:00Z")
    assert read_recorded(stored) == [v.to_dict() for v in VERDICTS if v.allowed] + [
        v.to_dict() for v in VERDICTS if not v.allowed
    ]
    assert "DryRun" in incidents.TERMINAL
    assert incidents.next_step(SPEC, status, UID) is None
    assert [(e.reason, e.type) for e in entries] == [("RemediationDryRun", "Normal")]
    assert "would change: spec.template.metadata.annotations.restartedAt" in entries[0].message


def test_a_dry_run_keeps_the_start_time_of_an_action_that_had_started() -> None:
    status, action = _incident()
    action["startedAt"] = "2026-11-28T12:01:30Z"

    _dry_run(status, action, minute=3)

    stored = incidents.find_action(status, action["id"])
    assert stored is not None
    assert (stored["startedAt"], stored["finishedAt"]) == ("2026-11-28T12:01:30Z", "2026-11-28T12:03:00Z")


def test_a_dry_run_timeline_entry_shows_at_most_300_characters_of_the_diff() -> None:
    status, action = _incident()

    entries = incidents.dry_run_action(status, action, VERDICTS, now=at(2), diff="x" * 1000, why="dryRun")

    assert entries[0].message.endswith("would change: " + "x" * 300)
    stored = incidents.find_action(status, action["id"])
    assert stored is not None and stored["diff"] == "x" * 1000  # the record keeps all of it


def test_after_only_dry_runs_the_incident_escalates_with_dry_run_only() -> None:
    status, action = _incident()
    _dry_run(status, action)

    entries = incidents.conclude(status, now=at(3))

    assert [(e.reason, e.type) for e in entries] == [("EscalationRequired", "Warning")]
    escalation = _condition(status, incidents.COND_ESCALATION)
    assert (escalation["status"], escalation["reason"]) == ("True", "DryRunOnly")
    assert "dry run only" in escalation["message"]
    assert incidents.phase(status) == "Escalated"
    assert incidents.conclude(status, now=at(4)) == []  # concluding twice escalates once


def test_a_succeeded_step_beside_a_dry_run_mitigates_instead_of_escalating() -> None:
    status, action = _incident()
    _dry_run(status, action)
    incidents.put_action(status, {"id": f"{UID}.other", "action": "scale", "state": "Succeeded", "createdAt": "z"})

    entries = incidents.conclude(status, now=at(3))

    assert [e.reason for e in entries] == ["IncidentMitigated"]
    assert incidents.phase(status) == "Mitigated"
