"""A responder's controls reaching the operator: resolve by hand, retry a step, run a dry run for real.

The decisions are :mod:`onduty.domain.controls`; this module reads the
request from the incident, writes the status edit (with its timeline entries,
posted as Events) and, for a retry or a run-for-real, removes the request.

A retry or run-for-real is removed *before* it is recorded: a request is
acted on at most once. An operator that dies between the two writes loses the
request (the timeline shows no ``StepRetried``; asking again works), rather
than counting one request twice against the step's retry limit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime
from typing import Any

from onduty.adapters.kube import ApiRejected, Cluster, Conflict, NotFound
from onduty.domain import controls, timeline
from onduty.domain.annotations import (
    APPROVE_ANNOTATION,
    REJECT_ANNOTATION,
    RETRIED_BY_ANNOTATION,
    RETRY_ANNOTATION,
    RUN_FOR_REAL_ANNOTATION,
)
from onduty.domain.timeline import Entry
from onduty.services.diagnostics import Emit

log = logging.getLogger(__name__)

# The admission policy (and binding) that makes approvals carry their real name;
# a run-for-real is an approval, so without it the request is refused.
APPROVAL_ADMISSION_POLICY = "onduty-approval"


def _now() -> datetime:
    return datetime.now(UTC)


async def resolve(cluster: Cluster, namespace: str, name: str, emit: Emit) -> None:
    """Resolve the incident if its ``onduty.dev/resolve`` annotation asks for it (idempotent)."""

    def mutate(status: dict[str, Any], obj: dict[str, Any]) -> list[Entry]:
        request = controls.resolve_request(obj)
        if request is None:
            return []
        return controls.resolve_by_hand(status, now=_now(), reason=request.step, by=request.by)

    obj, entries = await asyncio.to_thread(cluster.update_status, "incidents", namespace, name, mutate)
    emit(obj, entries)


async def take_request(cluster: Cluster, namespace: str, name: str, emit: Emit) -> bool:
    """Act on the retry or run-for-real waiting on the incident; True when a step is to be decided again."""
    while True:
        try:
            obj = await asyncio.to_thread(cluster.get, "incidents", namespace, name)
        except NotFound:
            return False
        retry, for_real = controls.retry_request(obj), controls.for_real_request(obj)
        if retry is None and for_real is None:
            return False
        removal: dict[str, Any] = {"resourceVersion": obj["metadata"]["resourceVersion"], "annotations": {}}
        annotations = obj["metadata"].get("annotations") or {}
        if retry is not None:
            removal["annotations"].update({RETRY_ANNOTATION: None, RETRIED_BY_ANNOTATION: None})
            # An earlier approval or rejection of this step must not decide the retried one: it is asked anew.
            for key in (APPROVE_ANNOTATION, REJECT_ANNOTATION):
                named = str(annotations.get(key) or "")  # the step, or its action id (<uid>.<step>)
                if named == retry.step or named.endswith(f".{retry.step}"):
                    removal["annotations"][key] = None
        if for_real is not None:
            removal["annotations"][RUN_FOR_REAL_ANNOTATION] = None
        try:
            await asyncio.to_thread(cluster.merge_patch, "incidents", namespace, name, {"metadata": removal})
        except Conflict:
            continue  # the incident changed (maybe a new request): read it again
        unprotected = await asyncio.to_thread(_approval_unprotected, cluster) if for_real is not None else None
        reopened: list[bool] = []
        mutate = functools.partial(_record, retry=retry, for_real=for_real, unprotected=unprotected, reopened=reopened)
        obj, entries = await asyncio.to_thread(cluster.update_status, "incidents", namespace, name, mutate)
        emit(obj, entries)
        return bool(reopened)


def _record(
    status: dict[str, Any],
    _: dict[str, Any],
    *,
    retry: controls.Request | None,
    for_real: controls.Request | None,
    unprotected: str | None,
    reopened: list[bool],
) -> list[Entry]:
    """Record the requests (a step reopened, or why not) in ``status``; ``reopened`` says whether one was."""
    reopened.clear()
    entries: list[Entry] = []
    now = _now()
    for request, kind, apply in (
        (retry, "RetryRefused", controls.retry_step),
        (for_real, "RunForRealRefused", controls.run_for_real),
    ):
        if request is None:
            continue
        try:
            if kind == "RunForRealRefused" and unprotected:
                raise controls.ControlRefused(unprotected)
            entries += apply(status, request.step, now=now, by=request.by)
            reopened.append(True)
        except controls.ControlRefused as refusal:
            verb = "retry" if kind == "RetryRefused" else "run for real"
            why = f"the incident {refusal}" if str(refusal).startswith(("is ", "has ")) else str(refusal)
            entry = Entry(kind, f"{request.by} asked to {verb} step {request.step}; refused: {why}", "Warning")
            timeline.append(status, entry, now)
            entries.append(entry)
    return entries


def _approval_unprotected(cluster: Cluster) -> str:
    """Why an approval cannot be trusted here ("" when the admission policy guards it)."""
    for kind, plural in (
        ("ValidatingAdmissionPolicy", "validatingadmissionpolicies"),
        ("ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings"),
    ):
        try:
            cluster.get_admission(plural, APPROVAL_ADMISSION_POLICY)
        except (NotFound, ApiRejected) as error:
            return (
                f"cannot trust who approved it: the {kind} {APPROVAL_ADMISSION_POLICY} is not installed or not"
                f" readable ({error.status} {error.reason or 'error'}); install the chart's admission policies"
            )
    return ""
