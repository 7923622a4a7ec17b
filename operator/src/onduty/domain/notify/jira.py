"""Jira Cloud: one issue per incident, a comment per change, a transition at the end.

REST API v3, basic auth with an Atlassian account's email and API token::

    first notice    POST /rest/api/3/issue                      → {"id", "key", "self"}
    later notices   POST /rest/api/3/issue/{key}/comment
    ACKNOWLEDGED    ... comment, then POST .../transitions {"transition": {"id": acknowledgeTransitionId}}
    RESOLVED        ... comment, then POST .../transitions {"transition": {"id": resolveTransitionId}}

Transition ids differ per workflow (``GET /rest/api/3/issue/{key}/transitions``
lists them), so they are settings, never guessed. v3 takes rich text only as
Atlassian Document Format: the ticket story of
:mod:`onduty.domain.notify.tickets` is rendered here as ADF paragraphs,
headings, bullet lists, ``code`` marks for commands and a code block for the
diagnostics digest (ADF has no Markdown). Remembered: the issue key
(``jiraIssueKey``). Jira answers 201 (issue, comment) and 204 (transition);
429 with ``Retry-After`` when limiting; refusals carry ``errorMessages`` and
``errors``, summarised in the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from onduty.domain.notify.channel import (
    Credentials,
    InvalidConfig,
    Kind,
    Notice,
    Outcome,
    Reply,
    Request,
    Verdict,
    redact,
)
from onduty.domain.notify.http import Wording, base_url, classify, json_object
from onduty.domain.notify.tickets import Block, Bullets, Digest, Heading, Line, Paragraph, story, title, update_story
from onduty.domain.notify.view import IncidentView
from onduty.domain.redaction import basic_authorization
from onduty.domain.specs import shown

KIND = "jira"
API_PATH = "/rest/api/3"
KEY_REF = "jiraIssueKey"
# Every Jira project's default scheme has Task; Incident exists only in service
# projects, and an unknown type makes every create a 400.
DEFAULT_ISSUE_TYPE = "Task"
# Jira refuses longer summaries and labels (400).
SUMMARY_CHARS = 255
LABEL_CHARS = 255

PROJECT_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]+$")
KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]+-\d+$")
TRANSITION_PATTERN = re.compile(r"^[0-9]{1,10}$")
WORDING = Wording.api("Jira")


def adf(blocks: Sequence[Block]) -> dict[str, Any]:
    """An Atlassian Document Format document (``type: doc``, ``version: 1``)."""
    content: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Heading):
            content.append({"type": "heading", "attrs": {"level": 3}, "content": [_text(block.text)]})
        elif isinstance(block, Paragraph):
            spans = _inline(block.spans)
            if spans:
                content.append({"type": "paragraph", "content": spans})
        elif isinstance(block, Bullets):
            items = [
                {"type": "listItem", "content": [{"type": "paragraph", "content": spans}]}
                for spans in (_inline(item) for item in block.items)
                if spans
            ]
            if items:  # a bulletList needs at least one item
                content.append({"type": "bulletList", "content": items})
        elif isinstance(block, Digest) and block.markdown.strip():
            # Text in a code block takes no marks; it keeps its line breaks.
            content.append({"type": "codeBlock", "content": [{"type": "text", "text": block.markdown.strip()}]})
    return {"type": "doc", "version": 1, "content": content}


def _inline(spans: Line) -> list[dict[str, Any]]:
    nodes = []
    for span in spans:
        text = " ".join(span.text.split("\n"))
        if not text:  # ADF refuses empty text nodes
            continue
        marks: list[dict[str, Any]] = []
        if span.code:
            marks.append({"type": "code"})  # code combines with link only
        elif span.strong:
            marks.append({"type": "strong"})
        if span.href:
            marks.append({"type": "link", "attrs": {"href": span.href}})
        nodes.append(_text(text, marks))
    return nodes


def _text(text: str, marks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = marks
    return node


class JiraChannel:
    """Jira Cloud's REST API v3: issues, comments and workflow transitions."""

    kind = KIND

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = base_url(settings.get("url"), kind=KIND) + API_PATH
        project = settings.get("projectKey")
        if not isinstance(project, str) or not PROJECT_PATTERN.match(project):
            raise InvalidConfig(
                "jira setting projectKey must be a Jira project key (upper-case letters, digits, '_'), "
                f"not {shown(project)}."
            )
        self._project = project
        issue_type = settings.get("issueType") or DEFAULT_ISSUE_TYPE
        if not isinstance(issue_type, str) or len(issue_type) > 255 or not issue_type.strip():
            raise InvalidConfig(f"jira setting issueType must be an issue type's name, not {shown(issue_type)}.")
        self._issue_type = issue_type
        labels = settings.get("labels") or []
        if not isinstance(labels, list | tuple) or not all(
            isinstance(label, str) and 0 < len(label) <= LABEL_CHARS and not any(c.isspace() for c in label)
            for label in labels
        ):
            raise InvalidConfig(f"jira setting labels must be a list of labels without spaces, not {shown(labels)}.")
        self._labels = tuple(labels)
        self._resolve = _transition(settings.get("resolveTransitionId"), "resolveTransitionId")
        acknowledge = settings.get("acknowledgeTransitionId")
        self._acknowledge = _transition(acknowledge, "acknowledgeTransitionId") if acknowledge is not None else None
        token = credentials.get("apiToken")
        self._authorization = basic_authorization((credentials.get("email"), token))
        # The header's base64 carries the token: redact both forms.
        self._secrets = (token, self._authorization, self._authorization.removeprefix("Basic "))

    def __repr__(self) -> str:
        return f"JiraChannel(url={self._url!r}, project={self._project!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        key = refs.get(KEY_REF, "")
        if not key:
            # The new issue tells everything so far; it stands in for this notice's comment (step 0),
            # and a transition after it is asked for again once its key is known.
            return [self._create(notice, view)] if index == 0 else []
        if not KEY_PATTERN.match(key):
            return []
        issue = f"/issue/{quote(key, safe='')}"
        steps = [self._request("POST", f"{issue}/comment", {"body": adf(update_story(notice, view))})]
        transition = {Kind.RESOLVED: self._resolve, Kind.ACKNOWLEDGED: self._acknowledge}.get(notice.kind)
        if transition:
            steps.append(self._request("POST", f"{issue}/transitions", {"transition": {"id": transition}}))
        return steps[index:]

    def _create(self, notice: Notice, view: IncidentView) -> Request:
        fields = {
            "project": {"key": self._project},
            "summary": title(view)[:SUMMARY_CHARS],
            "issuetype": {"name": self._issue_type},
            "description": adf(story(notice, view)),
            "labels": list(self._labels),
        }
        return self._request("POST", "/issue", {"fields": fields})

    def _request(self, method: str, path: str, body: Mapping[str, Any]) -> Request:
        return Request(
            method=method,
            url=self._url + path,
            headers={
                "Authorization": self._authorization,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            json=_scrub(dict(body), self._secrets),
            secret_values=self._secrets,
        )

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        said = redact(_jira_message(reply.body), request.secret_values)
        return classify(reply, WORDING, lambda: _delivered(request, reply), said=said)


def _delivered(request: Request, reply: Reply) -> Verdict:
    """A 2xx to one of the steps: what it did, and the new issue's key to remember."""
    if request.url.endswith("/transitions"):
        return Verdict(Outcome.DELIVERED, "Jira issue transitioned.")
    if request.url.endswith("/comment"):
        return Verdict(Outcome.DELIVERED, "Jira issue commented.")
    key = json_object(reply.body).get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        # Retrying would open a second issue; a human has to look.
        return Verdict(Outcome.FAILED, f"Jira answered {reply.status} without a usable issue key ({shown(key)}).")
    return Verdict(Outcome.DELIVERED, f"Jira issue {key} opened.", refs={KEY_REF: key})


def _transition(value: object, field: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not TRANSITION_PATTERN.match(text):
        raise InvalidConfig(f"jira setting {field} must be a transition id (digits), not {shown(value)}.")
    return text


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """Every string in a JSON value, redacted (a diagnostics digest could quote anything)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def _jira_message(body: bytes) -> str:
    """Jira's ``errorMessages`` and ``errors`` (field → message), as ': <text>', or ''."""
    data = json_object(body)
    said = [str(m) for m in data.get("errorMessages") or [] if m]
    errors = data.get("errors")
    if isinstance(errors, dict):
        said += [f"{field}: {message}" for field, message in errors.items()]
    text = " ".join("; ".join(said).split())
    return f": {text[:300]}" if text else ""
