"""Acknowledging (and, from Slack, approving) from Slack, PagerDuty and Opsgenie: signed callbacks, mapped
people, checked rights.

``POST /integrations/{slack|pagerduty|opsgenie}/{notifier}`` receives a
vendor's callback for a Notifier in onduty's own namespace — two-way
integrations are the platform's: the signing secret and the people mapping
decide who may act, so a namespace's Notifier cannot receive them. Each
request must prove itself:

* Slack: ``X-Slack-Signature`` (``v0`` HMAC-SHA256 over
  ``v0:{timestamp}:{body}`` with the Secret's ``signingSecret``) and a
  timestamp within five minutes;
* PagerDuty: ``X-PagerDuty-Signature`` (``v1=`` HMAC-SHA256 with the Secret's
  ``webhookSecret``);
* Opsgenie: the ``X-Onduty-Token`` header equal to the Secret's ``webhookToken``.

Then the vendor's user is mapped to a Kubernetes identity
(:mod:`onduty.domain.responders`), the API server is asked whether that
identity may ``acknowledge`` (or ``approve``) incidents in the incident's
namespace (a SubjectAccessReview), and only then onduty writes the
acknowledgement or approval — recorded as made by onduty (``acknowledged-by``
/ ``approved-by``, what the admission policies check) for that person
(``acknowledged-for`` / ``approved-for``, which only onduty may write), via
that vendor.

Answers: 401 for a bad signature, 403 for an unmapped or unauthorised person,
404 for an incident onduty does not know, 200 otherwise (vendors retry
non-2xx; an event onduty deliberately ignores is still a 200).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from onduty.adapters.kube import Cluster, KubeError, NotFound
from onduty.adapters.notifiers import read_configmap, read_secret
from onduty.domain import annotations as keys
from onduty.domain import trust
from onduty.domain.notify import opsgenie, pagerduty, slack
from onduty.domain.responders import CONFIGMAP, KEY, InvalidResponders, Responder, parse_responders
from onduty.domain.times import rfc3339

log = logging.getLogger(__name__)

PATH = "/integrations/{vendor}/{notifier}"
# Slack, PagerDuty and Opsgenie callbacks are a few KiB.
MAX_BODY = 256 * 1024


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    """What the vendor asks for, once verified: acknowledge ``incident`` for the vendor's ``user``."""

    vendor: str
    user: str  # the vendor's user id or name
    action: str  # "ack", "unack" or "approve"
    namespace: str = ""  # known (Slack's button carries it) ...
    name: str = ""
    uid: str = ""  # ... or found by the dedup key (the incident's uid)
    action_id: str = ""  # for "approve": the waiting action (<incident uid>.<step>)


class Integrations:
    def __init__(self, cluster: Cluster, *, global_namespace: str, namespaces: tuple[str, ...] = ()) -> None:
        self.cluster = cluster
        self.global_namespace = global_namespace
        self.namespaces = namespaces
        self._me: str | None = None

    # -- verification, per vendor -------------------------------------------------------------
    def _secret(self, notifier: str, vendor: str) -> dict[str, str]:
        name = trust.name(notifier, field="notifier")
        try:
            obj = self.cluster.get("notifiers", self.global_namespace, name)
        except NotFound as e:
            raise Refused(404, f"no Notifier {name} in {self.global_namespace}") from e
        spec = obj.get("spec") or {}
        if spec.get("type") != vendor:
            raise Refused(404, f"Notifier {name} is not a {vendor} Notifier")
        return read_secret(self.cluster, self.global_namespace, str((spec.get("secretRef") or {}).get("name")))

    def verify(self, vendor: str, notifier: str, headers: dict[str, str], body: bytes, now: datetime) -> Request:
        secret = self._secret(notifier, vendor)
        if vendor == "slack":
            signing = secret.get("signingSecret", "")
            if not signing or not slack.verify_signature(
                signing,
                headers.get("x-slack-request-timestamp", ""),
                body,
                headers.get("x-slack-signature", ""),
                now,
            ):
                raise Refused(401, "the Slack signature does not verify (or is older than five minutes)")
            try:
                interaction = slack.parse_interaction(body)
            except slack.InvalidInteraction as e:
                raise Refused(400, str(e)) from e
            return Request(
                "slack",
                interaction.slack_user_id,
                interaction.action,
                interaction.namespace,
                interaction.name,
                action_id=interaction.action_id,
            )
        if vendor == "pagerduty":
            key = secret.get("webhookSecret", "")
            if not key or not pagerduty.verify_pagerduty_signature(key, body, headers.get("x-pagerduty-signature", "")):
                raise Refused(401, "the PagerDuty signature does not verify")
            try:
                event = pagerduty.parse_webhook_v3(body)
            except pagerduty.InvalidWebhook as e:
                raise Refused(400, str(e)) from e
            actions = {"incident.acknowledged": "ack", "incident.unacknowledged": "unack"}
            return Request("pagerduty", event.agent, actions.get(event.event_type, ""), uid=event.dedup_key)
        if vendor == "opsgenie":
            if not opsgenie.verify_opsgenie_token(secret.get("webhookToken", ""), headers.get("x-onduty-token")):
                raise Refused(401, "the X-Onduty-Token header does not match the Notifier's webhookToken")
            try:
                action = opsgenie.parse_opsgenie_webhook(body)
            except opsgenie.InvalidWebhook as e:
                raise Refused(400, str(e)) from e
            actions = {"Acknowledge": "ack", "UnAcknowledge": "unack"}
            return Request("opsgenie", action.username, actions.get(action.action, ""), uid=action.alias)
        raise Refused(404, f"no integration for {vendor!r}")

    # -- acting -------------------------------------------------------------------------------------
    def act(self, request: Request, now: datetime) -> str:
        if not request.action:
            return "ignored: not an acknowledgement"
        incident = self._incident(request)
        meta = incident["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        responder = self._responder(request)
        verb = "approve" if request.action == "approve" else "acknowledge"
        if not self._may(responder, namespace, verb):
            raise Refused(
                403,
                f"{responder.user} (mapped from {request.vendor} user {request.user}) may not {verb} incidents in "
                f"{namespace}",
            )
        patch: dict[str, Any]
        if request.action == "approve":
            waiting = [
                a for a in (incident.get("status") or {}).get("actions") or [] if a.get("state") == "AwaitingApproval"
            ]
            if not any(a.get("id") == request.action_id for a in waiting):
                raise Refused(409, f"action {request.action_id} of {namespace}/{name} is not waiting for approval")
            patch = {
                keys.APPROVE_ANNOTATION: request.action_id,
                keys.APPROVED_BY_ANNOTATION: self._whoami(),
                keys.APPROVED_FOR_ANNOTATION: responder.user,
                keys.APPROVED_VIA_ANNOTATION: request.vendor,
            }
            self.cluster.merge_patch("incidents", namespace, name, {"metadata": {"annotations": patch}})
            return (
                f"approved {request.action_id} of incident {namespace}/{name} for {responder.user} via {request.vendor}"
            )
        if request.action == "ack":
            patch = {
                keys.ACKNOWLEDGE_ANNOTATION: rfc3339(now),
                keys.ACKNOWLEDGED_BY_ANNOTATION: self._whoami(),
                keys.ACKNOWLEDGED_FOR_ANNOTATION: responder.user,
                keys.ACKNOWLEDGED_VIA_ANNOTATION: request.vendor,
            }
        else:
            patch = {
                keys.ACKNOWLEDGE_ANNOTATION: None,
                keys.ACKNOWLEDGED_BY_ANNOTATION: None,
                keys.ACKNOWLEDGED_FOR_ANNOTATION: None,
                keys.ACKNOWLEDGED_VIA_ANNOTATION: None,
            }
        self.cluster.merge_patch("incidents", namespace, name, {"metadata": {"annotations": patch}})
        what = "acknowledged" if request.action == "ack" else "unacknowledged"
        return f"{what} incident {namespace}/{name} for {responder.user} via {request.vendor}"

    def _incident(self, request: Request) -> dict[str, Any]:
        if request.name:
            try:
                return self.cluster.get("incidents", request.namespace, request.name)
            except NotFound as e:
                raise Refused(404, f"no incident {request.namespace}/{request.name}") from e
        if not request.uid:
            raise Refused(400, "the event names no incident (no dedup key / alias)")
        scopes: tuple[str | None, ...] = self.namespaces or (None,)
        for scope in scopes:
            for incident in self.cluster.list("incidents", scope):
                if incident["metadata"].get("uid") == request.uid:
                    return incident
        raise Refused(404, f"no incident has uid {request.uid[:64]!r}")

    def _responder(self, request: Request) -> Responder:
        try:
            data = read_configmap(self.cluster, self.global_namespace, CONFIGMAP)
        except NotFound as e:
            raise Refused(
                403, f"no ConfigMap {CONFIGMAP} in {self.global_namespace} maps {request.vendor} users"
            ) from e
        try:
            responders = parse_responders(data.get(KEY))
        except InvalidResponders as e:
            raise Refused(403, str(e)) from e
        found = responders.find(request.vendor, request.user)
        if found is None:
            raise Refused(403, f"{request.vendor} user {request.user[:80]!r} is not mapped to anyone in {CONFIGMAP}")
        return found

    def _may(self, responder: Responder, namespace: str, verb: str) -> bool:
        review = self.cluster.request(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": responder.user,
                    "groups": list(responder.groups),
                    "resourceAttributes": {
                        "group": "onduty.dev",
                        "resource": "incidents",
                        "namespace": namespace,
                        "verb": verb,
                    },
                },
            },
        )
        return bool((review.get("status") or {}).get("allowed"))

    def _whoami(self) -> str:
        if self._me is None:
            review = self.cluster.request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
            self._me = str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "")
        return self._me


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def handler(integrations: Integrations, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Handler:
    async def receive(request: web.Request) -> web.Response:
        vendor = request.match_info["vendor"]
        notifier = request.match_info["notifier"]
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _answer(413, f"the body is larger than {MAX_BODY} bytes")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _answer(413, f"the body is larger than {MAX_BODY} bytes")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verified = await asyncio.to_thread(integrations.verify, vendor, notifier, headers, body, now())
            done = await asyncio.to_thread(integrations.act, verified, now())
        except Refused as e:
            log.warning("%s callback for Notifier %s refused (%d): %s", vendor, notifier, e.status, e.message)
            return _answer(e.status, e.message)
        except trust.Untrusted as e:
            return _answer(400, e.message)
        except KubeError as e:
            log.warning("%s callback for Notifier %s: the API server failed: %s", vendor, notifier, e)
            return _answer(503, "the API server is unavailable; retry")
        log.info("%s", done)
        if vendor == "slack":
            # Slack shows the answer to the person who pressed the button.
            return web.json_response({"response_type": "ephemeral", "text": done})
        return _answer(200, done)

    return receive


def _answer(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"status": status, "message": message}), content_type="application/json"
    )
