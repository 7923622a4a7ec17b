"""Every annotation, label and finalizer of onduty's (``onduty.dev/…``): what it means, who writes it.

One list, so a key is spelled once and a reader finds everything onduty puts
on, or reads from, an object in one place. Keys that belong to other systems
(``deployment.kubernetes.io/revision``, Helm's ``meta.helm.sh/…``) live with
the code that speaks that system's language.

The ``onduty`` CLI (``onduty approve``, ``onduty reject``) writes the approval
keys below; the chart's ValidatingAdmissionPolicy checks who may write them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onduty import GROUP

# --- on the objects an action changes ---------------------------------------------------------------

# The id of the action that made a change, written by onduty in the same write as
# the change: on a workload's pod template (rolloutRestart), an HPA, a Node, a Job,
# an Argo CD Application (annotation) and Helm's new release Secret (label). A
# restarted operator that finds it there knows the action happened.
ACTION_ID = f"{GROUP}/action-id"
# The same id as an item name of an Argo CD Application's ``operation.info``
# (written by onduty): Argo copies the operation into ``status.operationState``,
# so the rollback stays findable after the controller cleared ``operation``.
ARGO_OPERATION_INFO = ACTION_ID
# On an action's target: the times of the last actions of any kind (a JSON list,
# oldest first), written by onduty with every action; policy rate limits read it.
ACTION_HISTORY_ANNOTATION = f"{GROUP}/action-history"


def last_action_annotation(action: str) -> str:
    """On an action's target: the record of the last ``action`` (JSON: at, actionId, incident, details).

    Written by onduty with the action; cooldowns read it, and a restarted
    operator finds there what verification and a revert need.
    """
    return f"{GROUP}/last-{action}"


# On a runJob's Job: the step that made it (label) and the incident it serves,
# as ``namespace/name`` (annotation); written by onduty, read by people.
STEP_LABEL = f"{GROUP}/step"
INCIDENT_ANNOTATION = f"{GROUP}/incident"

# --- written by people, read by onduty ------------------------------------------------------------

# "true" on an incident, a namespace or onduty's own namespace (cluster-wide):
# automation holds there until it is removed. Written by the on-call engineer.
PAUSED_ANNOTATION = f"{GROUP}/paused"
# On an incident: the step name or action id a human approves, or rejects
# (``onduty approve`` / ``kubectl annotate``), and who that human is; the
# chart's admission policy lets only someone with the ``approve`` verb write
# them, and only under their own name.
APPROVE_ANNOTATION = f"{GROUP}/approve"
REJECT_ANNOTATION = f"{GROUP}/reject"
APPROVED_BY_ANNOTATION = f"{GROUP}/approved-by"
# Written by onduty only (the admission policy lets nobody else: the custom verb
# approve-on-behalf), when a person approved with a Slack button: who that person
# is in Kubernetes (after a SubjectAccessReview said they may approve there), and
# the channel. The approver on record is then this person; approved-by says onduty.
APPROVED_FOR_ANNOTATION = f"{GROUP}/approved-for"
APPROVED_VIA_ANNOTATION = f"{GROUP}/approved-via"

# On an incident: someone owns it, escalation stops (``onduty ack``, a Slack button,
# PagerDuty or Opsgenie). The value is any text but "false" (``onduty ack`` writes the
# time, so acknowledging again is a new acknowledgement); the onduty-acknowledgement
# admission policy makes acknowledged-by the requesting user, and lets only onduty
# (acknowledge-on-behalf) name the person it acknowledged for.
ACKNOWLEDGE_ANNOTATION = f"{GROUP}/acknowledge"
ACKNOWLEDGED_BY_ANNOTATION = f"{GROUP}/acknowledged-by"
ACKNOWLEDGED_FOR_ANNOTATION = f"{GROUP}/acknowledged-for"
# kubectl, onduty, slack, pagerduty, opsgenie: informational, checked by nobody.
ACKNOWLEDGED_VIA_ANNOTATION = f"{GROUP}/acknowledged-via"

# A responder's controls (``onduty resolve``, ``onduty retry``, ``onduty approve
# --for-real``; see onduty.domain.controls). On an incident: resolve it by hand (the
# value is the reason), decide a step again (the value is the step), run a step's dry
# run for real (the step). Each carries its writer's own name (resolved-by,
# retried-by, approved-by), which the admission policies check: resolve and retry
# need the custom verbs of the same names (onduty-acknowledgement), run-for-real
# the approve verb (onduty-approval). onduty removes a retry or run-for-real once
# it has recorded it, so the next request is a new one.
RESOLVE_ANNOTATION = f"{GROUP}/resolve"
RESOLVED_BY_ANNOTATION = f"{GROUP}/resolved-by"
RETRY_ANNOTATION = f"{GROUP}/retry"
RETRIED_BY_ANNOTATION = f"{GROUP}/retried-by"
RUN_FOR_REAL_ANNOTATION = f"{GROUP}/run-for-real"

# --- on Alerts and Incidents, written by the bridge and the operator --------------------------------

# On an Alert: its Alertmanager fingerprint (bridge), so all episodes of one
# alert are listed with one selector.
FINGERPRINT_LABEL = f"{GROUP}/fingerprint"
# On an Alert and an Incident: the alert name, as a label value (bridge, operator),
# for ``kubectl get -l``.
ALERTNAME_LABEL = f"{GROUP}/alertname"
# On an Incident: the hash of its grouping key (operator), so alerts of one group find their open incident.
GROUP_LABEL = f"{GROUP}/group"
# On an Alert: the incident it joined (operator). On a post-mortem ConfigMap: its incident (the uid if the name
# is longer than a label value may be).
INCIDENT_LABEL = f"{GROUP}/incident"

# --- Kopf's bookkeeping --------------------------------------------------------------------------

# Kopf's finalizer, where Kopf puts one, named ``<group>/finalizer`` as the API conventions ask.
FINALIZER = f"{GROUP}/finalizer"
# Kopf's progress and last-handled annotations are ``kopf.onduty.dev/<…>``, not Kopf's default prefix.
KOPF_PREFIX = f"kopf.{GROUP}"


def is_true(value: str | None) -> bool:
    """An annotation meant as a yes (``true``, ``yes``, ``1``, any case): how a person writes ``paused``."""
    return (value or "").strip().lower() in ("true", "yes", "1")


def is_paused(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` (an incident or a namespace) carries ``onduty.dev/paused`` set to a yes."""
    return is_true(((obj.get("metadata") or {}).get("annotations") or {}).get(PAUSED_ANNOTATION))
