"""Linear: one issue per incident, a comment per change, a workflow state at the end.

Everything is a GraphQL mutation posted to ``https://api.linear.app/graphql``
with the key as it is (``Authorization: lin_api_…``; only OAuth tokens take
``Bearer``)::

    first notice   issueCreate(input: {teamId, title, description, priority})  → issue.id
    later notices  commentCreate(input: {issueId, body})
    RESOLVED       commentCreate, then issueUpdate(id, input: {stateId: resolvedStateId})

Text travels only in GraphQL variables: the query documents are constants,
so an alert's title can never become part of a query. Descriptions and
comments are Markdown, the ticket story of :mod:`onduty.domain.notify.tickets`.

GraphQL reports failure in the body, usually with HTTP 200: ``errors: [...]``
with ``extensions.code``, or a mutation answering ``success: false``. A
``RATELIMITED`` error is retried whatever the HTTP status (Linear sends it
with 400); any other error fails. Remembered: the issue id (``linearIssueId``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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
from onduty.domain.notify.http import Wording, base_url, classify, clip, json_object
from onduty.domain.notify.tickets import markdown, story, title, update_story
from onduty.domain.notify.view import IncidentView
from onduty.domain.severity import LEVELS
from onduty.domain.specs import shown

KIND = "linear"
DEFAULT_URL = "https://api.linear.app/graphql"
ISSUE_REF = "linearIssueId"
# Linear's priorities: 0 none, 1 urgent, 2 high, 3 medium, 4 low. Severity maps
# one to one, so a critical incident sorts above everything a team planned.
DEFAULT_PRIORITY_BY_SEVERITY: Mapping[str, int] = {"critical": 1, "error": 2, "warning": 3, "info": 4}
PRIORITIES = range(5)
# Linear keeps descriptions and comments far longer; this keeps one incident's
# ticket readable and the request small.
BODY_CHARS = 60000

# Linear's ids are UUIDs; this admits any id-shaped token.
ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,64}$")

ISSUE_CREATE = (
    "mutation OndutyIssueCreate($input: IssueCreateInput!) "
    "{ issueCreate(input: $input) { success issue { id identifier url } } }"
)
COMMENT_CREATE = (
    "mutation OndutyCommentCreate($input: CommentCreateInput!) "
    "{ commentCreate(input: $input) { success comment { id } } }"
)
ISSUE_UPDATE = (
    "mutation OndutyIssueUpdate($id: String!, $input: IssueUpdateInput!) "
    "{ issueUpdate(id: $id, input: $input) { success issue { id } } }"
)
# The operation name → the mutation field its answer comes under.
_FIELDS = {
    "OndutyIssueCreate": "issueCreate",
    "OndutyCommentCreate": "commentCreate",
    "OndutyIssueUpdate": "issueUpdate",
}
WORDING = Wording.api("Linear")


class LinearChannel:
    """Linear's GraphQL API: issues, comments and a resolved workflow state."""

    kind = KIND

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = base_url(settings.get("url"), kind=KIND, default=DEFAULT_URL)
        self._team = _id(settings.get("teamId"), "teamId")
        self._resolved_state = _id(settings.get("resolvedStateId"), "resolvedStateId")
        self._priority = _priorities(settings.get("priority"))
        self._key = credentials.get("apiKey")

    def __repr__(self) -> str:
        return f"LinearChannel(url={self._url!r}, team={self._team!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        issue_id = refs.get(ISSUE_REF, "")
        if not issue_id:
            # The new issue tells everything so far; it stands in for this notice's comment (step 0),
            # and a state change after it is asked for again once its id is known.
            return [self._create(notice, view)] if index == 0 else []
        if not ID_PATTERN.match(issue_id):
            return []
        body = self._text(markdown(update_story(notice, view)))
        steps = [self._mutation("OndutyCommentCreate", COMMENT_CREATE, {"input": {"issueId": issue_id, "body": body}})]
        if notice.kind is Kind.RESOLVED:
            variables = {"id": issue_id, "input": {"stateId": self._resolved_state}}
            steps.append(self._mutation("OndutyIssueUpdate", ISSUE_UPDATE, variables))
        return steps[index:]

    def _create(self, notice: Notice, view: IncidentView) -> Request:
        issue = {
            "teamId": self._team,
            "title": self._text(title(view)),
            "description": self._text(markdown(story(notice, view))),
            "priority": self._priority.get(view.severity, self._priority["warning"]),
        }
        return self._mutation("OndutyIssueCreate", ISSUE_CREATE, {"input": issue})

    def _text(self, text: str) -> str:
        return redact(clip(text, BODY_CHARS), (self._key,))

    def _mutation(self, operation: str, query: str, variables: Mapping[str, Any]) -> Request:
        return Request(
            method="POST",
            url=self._url,
            headers={"Authorization": self._key, "Content-Type": "application/json", "Accept": "application/json"},
            json={"operationName": operation, "query": query, "variables": dict(variables)},
            secret_values=(self._key,),
        )

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        data = json_object(reply.body)
        errors = data.get("errors")
        errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        said = redact(_errors_text(errors), request.secret_values)
        # GraphQL answers in the body: RATELIMITED is retried whatever the status (Linear sends it with 400),
        # and any other error is a refusal even under a 200.
        limited = any(_code(e) == "RATELIMITED" for e in errors)
        if errors and not limited and 200 <= reply.status < 300:
            return Verdict(Outcome.FAILED, f"Linear refused the request ({reply.status}){said}.")
        return classify(reply, WORDING, lambda: _mutated(request, reply, data), said=said, rate_limited=limited)


def _mutated(request: Request, reply: Reply, data: dict[str, Any]) -> Verdict:
    """A 2xx without errors: whether the mutation says ``success``, and a new issue's id to remember."""
    operation = str((request.json or {}).get("operationName", ""))
    field = _FIELDS.get(operation, "")
    result = data.get("data")
    answer = result.get(field) if isinstance(result, dict) else None
    if not isinstance(answer, dict) or answer.get("success") is not True:
        return Verdict(Outcome.FAILED, f"Linear did not confirm {field or 'the mutation'} ({reply.status}).")
    if field == "commentCreate":
        return Verdict(Outcome.DELIVERED, "Linear issue commented.")
    if field == "issueUpdate":
        return Verdict(Outcome.DELIVERED, "Linear issue moved to the resolved state.")
    issue = answer.get("issue")
    issue_id = issue.get("id") if isinstance(issue, dict) else None
    if not isinstance(issue_id, str) or not ID_PATTERN.match(issue_id):
        # Retrying would open a second issue; a human has to look.
        return Verdict(Outcome.FAILED, f"Linear answered without a usable issue id ({shown(issue_id)}).")
    return Verdict(Outcome.DELIVERED, f"Linear issue {issue_id} opened.", refs={ISSUE_REF: issue_id})


def _code(error: Mapping[str, Any]) -> str:
    extensions = error.get("extensions")
    return str(extensions.get("code", "")) if isinstance(extensions, dict) else ""


def _errors_text(errors: list[dict[str, Any]]) -> str:
    said = []
    for error in errors:
        extensions = error.get("extensions")
        friendly = extensions.get("userPresentableMessage") if isinstance(extensions, dict) else None
        said.append(str(friendly or error.get("message") or _code(error)))
    text = " ".join("; ".join(s for s in said if s).split())
    return f": {text[:200]}" if text else ""


def _id(value: object, field: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidConfig(f"linear setting {field} must be a Linear id (a UUID), not {shown(value)}.")
    return value


def _priorities(value: object) -> Mapping[str, int]:
    if value is None:
        return DEFAULT_PRIORITY_BY_SEVERITY
    if not isinstance(value, Mapping):
        raise InvalidConfig(f"linear setting priority must map severities to priorities 0-4, not {shown(value)}.")
    merged = dict(DEFAULT_PRIORITY_BY_SEVERITY)
    for severity, priority in value.items():
        if severity not in LEVELS:
            raise InvalidConfig(
                f"linear setting priority has {shown(severity)}, which is not one of {', '.join(LEVELS)}."
            )
        if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
            raise InvalidConfig(
                f"linear setting priority.{severity} is {shown(priority)}, which is not a Linear priority "
                "(0 none, 1 urgent, 2 high, 3 medium, 4 low)."
            )
        merged[severity] = priority
    return merged
