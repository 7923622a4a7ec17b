"""A GitHub REST stand-in: issues, issue comments and closing, checked against the documented contract.

``check`` refuses what api.github.com would: no ``Authorization: Bearer``,
no ``User-Agent``, the wrong ``Accept`` or ``X-GitHub-Api-Version``, an
unknown call, an issue without a title, a body over 65,536 characters,
labels that are not strings, a ``state``/``state_reason`` outside the enums.
:class:`GitHubFake` answers like GitHub: 201 with ``number`` for a new issue,
201 for a comment, 200 for an update, 404 for an unknown issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from receivers import Answer, ContractViolation, Received

API_VERSION = "2022-11-28"
BODY_CHARS = 65536
_ISSUES = re.compile(r"^/repos/(?P<owner>[A-Za-z0-9-]+)/(?P<repo>[A-Za-z0-9._-]+)/issues$")
_COMMENTS = re.compile(r"^/repos/[A-Za-z0-9-]+/[A-Za-z0-9._-]+/issues/(?P<number>[1-9][0-9]*)/comments$")
_ISSUE = re.compile(r"^/repos/[A-Za-z0-9-]+/[A-Za-z0-9._-]+/issues/(?P<number>[1-9][0-9]*)$")


def check(got: Received, *, token: str | None = None) -> None:
    """Raise :class:`ContractViolation` when ``got`` breaks GitHub's issues API contract."""
    auth = got.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
        raise ContractViolation("Authorization must be 'Bearer <token>'")
    if token is not None and auth != f"Bearer {token}":
        raise ContractViolation("Authorization carries the wrong token")
    if not got.headers.get("user-agent"):
        raise ContractViolation("GitHub refuses requests without a User-Agent")
    if got.headers.get("accept") != "application/vnd.github+json":
        raise ContractViolation(f"Accept must be application/vnd.github+json, got {got.headers.get('accept')!r}")
    if got.headers.get("x-github-api-version") != API_VERSION:
        raise ContractViolation(f"X-GitHub-Api-Version must be {API_VERSION}")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation(f"body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise ContractViolation("body must be a JSON object")
    if got.method == "POST" and _ISSUES.match(got.path):
        if not isinstance(body.get("title"), str | int) or not str(body["title"]).strip():
            raise ContractViolation("a new issue needs a title")
        _text(body, "body", required=False)
        labels = body.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            raise ContractViolation("labels must be a list of label names")
    elif got.method == "POST" and _COMMENTS.match(got.path):
        _text(body, "body", required=True)
    elif got.method == "PATCH" and _ISSUE.match(got.path):
        if body.get("state", "open") not in ("open", "closed"):
            raise ContractViolation(f"state {body.get('state')!r} is not open or closed")
        if body.get("state_reason") not in (None, "completed", "not_planned", "reopened"):
            raise ContractViolation(f"state_reason {body.get('state_reason')!r} is not an allowed reason")
    else:
        raise ContractViolation(f"no such GitHub call: {got.method} {got.path}")


def _text(body: dict[str, Any], name: str, *, required: bool) -> None:
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise ContractViolation(f"{name} must be a non-empty string")
    if len(value) > BODY_CHARS:
        raise ContractViolation(f"{name} is longer than {BODY_CHARS} characters")


def issue_created(number: int = 1347) -> Answer:
    """201 with the new issue, as ``POST /repos/{owner}/{repo}/issues`` answers."""
    return Answer(
        201, {"id": 1, "number": number, "state": "open", "html_url": f"https://github.com/o/r/issues/{number}"}
    )


def rate_limited(reset: int, date: str = "Wed, 01 May 2024 12:00:00 GMT") -> Answer:
    """A primary rate limit: 403 with ``x-ratelimit-remaining: 0`` and the reset as epoch seconds."""
    return Answer(
        403,
        {"message": "API rate limit exceeded for user ID 1."},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset), "Date": date},
    )


@dataclass
class GitHubFake:
    """Answers like GitHub and keeps each issue: title, body, labels, comments, state."""

    issues: dict[int, dict[str, Any]] = field(default_factory=dict)

    def respond(self, got: Received) -> Answer:
        body = got.json()
        if _ISSUES.match(got.path):
            number = len(self.issues) + 1
            self.issues[number] = {**body, "state": "open", "comments": []}
            return issue_created(number)
        found = _COMMENTS.match(got.path) or _ISSUE.match(got.path)
        assert found is not None
        issue = self.issues.get(int(found["number"]))
        if issue is None:
            return Answer(404, {"message": "Not Found"})
        if got.path.endswith("/comments"):
            issue["comments"].append(body["body"])
            return Answer(201, {"id": len(issue["comments"]), "body": body["body"]})
        issue.update(body)
        return Answer(200, {"number": int(found["number"]), "state": issue["state"]})
