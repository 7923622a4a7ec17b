"""A Linear GraphQL stand-in: issueCreate, commentCreate and issueUpdate, checked against the schema's inputs.

``check`` refuses what api.linear.app would, and one thing it would not
notice: a string from the variables written into the query document (text
must travel in variables, never be interpolated). It also refuses a
personal key sent as ``Bearer lin_api_…`` (personal keys go bare).
:class:`LinearFake` answers like Linear, errors included: HTTP 200 with
``errors: [...]`` for a refused mutation, 400 with ``extensions.code:
RATELIMITED`` when limiting.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from receivers import Answer, ContractViolation, Received

_DECLARED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*:")
_MUTATIONS = ("issueCreate", "commentCreate", "issueUpdate")


def check(got: Received, *, api_key: str | None = None) -> None:
    """Raise :class:`ContractViolation` when ``got`` breaks Linear's GraphQL contract."""
    if got.method != "POST" or got.path != "/graphql":
        raise ContractViolation(f"Linear's API is POST /graphql, got {got.method} {got.path}")
    auth = got.headers.get("authorization", "")
    if not auth:
        raise ContractViolation("Authorization is missing")
    if auth.startswith("Bearer lin_api_"):
        raise ContractViolation("a personal API key goes without 'Bearer'")
    if api_key is not None and auth != api_key:
        raise ContractViolation("Authorization carries the wrong key")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation(f"Content-Type must be application/json, got {got.headers.get('content-type')!r}")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation(f"body is not JSON: {e}") from e
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise ContractViolation('body must be {"query": "...", "variables": {...}}')
    query, variables = body["query"], body.get("variables") or {}
    if not isinstance(variables, dict):
        raise ContractViolation("variables must be an object")
    if not query.lstrip().startswith("mutation"):
        raise ContractViolation("only mutations are expected from onduty")
    declared = set(_DECLARED.findall(query))
    if declared != set(variables):
        raise ContractViolation(f"declared variables {sorted(declared)} differ from those sent {sorted(variables)}")
    for text in _strings(variables):
        if len(text) >= 8 and text in query:
            raise ContractViolation(f"variable text {text[:30]!r} was interpolated into the query")
    called = [m for m in _MUTATIONS if re.search(rf"\b{m}\s*\(", query)]
    if len(called) != 1:
        raise ContractViolation(f"expected exactly one of {_MUTATIONS}, found {called}")
    _check_input(called[0], variables)


def _check_input(mutation: str, variables: dict[str, Any]) -> None:
    given = variables.get("input")
    if not isinstance(given, dict):
        raise ContractViolation(f"{mutation} needs an input object")
    if mutation == "issueCreate":
        for name in ("teamId", "title"):
            if not isinstance(given.get(name), str) or not given[name].strip():
                raise ContractViolation(f"issueCreate input needs {name}")
        if "description" in given and not isinstance(given["description"], str):
            raise ContractViolation("issueCreate description must be a string (Markdown)")
        priority = given.get("priority", 0)
        if isinstance(priority, bool) or priority not in range(5):
            raise ContractViolation(f"priority must be 0-4, got {priority!r}")
    elif mutation == "commentCreate":
        for name in ("issueId", "body"):
            if not isinstance(given.get(name), str) or not given[name].strip():
                raise ContractViolation(f"commentCreate input needs {name}")
    else:
        if not isinstance(variables.get("id"), str) or not variables["id"]:
            raise ContractViolation("issueUpdate needs the issue id")
        if not given:
            raise ContractViolation("issueUpdate input is empty")
        if "stateId" in given and not isinstance(given["stateId"], str):
            raise ContractViolation("stateId must be a string")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def issue_created(issue_id: str = "9cfb482a-81e3-4154-b5b9-2c805e70a02d") -> Answer:
    """What ``issueCreate`` answers: ``{"data": {"issueCreate": {"success": true, "issue": {"id": ...}}}}``."""
    issue = {"id": issue_id, "identifier": "OPS-1", "url": "https://linear.app/acme/issue/OPS-1"}
    return Answer(200, {"data": {"issueCreate": {"success": True, "issue": issue}}})


def graphql_error(message: str = "Entity not found", code: str = "INVALID_INPUT", status: int = 200) -> Answer:
    """A GraphQL error in Linear's shape: ``errors`` with ``extensions.code``, the HTTP status usually 200."""
    error = {"message": message, "extensions": {"code": code, "userPresentableMessage": message}}
    return Answer(status, {"data": None, "errors": [error]})


def rate_limited() -> Answer:
    """How Linear limits: HTTP 400 with ``extensions.code: RATELIMITED``."""
    return graphql_error("Rate limit exceeded", "RATELIMITED", status=400)


@dataclass
class LinearFake:
    """Answers like Linear and keeps each issue: its input, comments and state."""

    issues: dict[str, dict[str, Any]] = field(default_factory=dict)

    def respond(self, got: Received) -> Answer:
        body = got.json()
        query, variables = body["query"], body["variables"]
        given = variables["input"]
        if "issueCreate" in query:
            issue_id = str(uuid.uuid4())
            self.issues[issue_id] = {**given, "comments": [], "stateId": None}
            return issue_created(issue_id)
        issue_id = given.get("issueId") or variables.get("id")
        issue = self.issues.get(issue_id)
        if issue is None:
            return graphql_error("Entity not found: Issue", "INVALID_INPUT")
        if "commentCreate" in query:
            issue["comments"].append(given["body"])
            comment = {"id": str(uuid.uuid4())}
            return Answer(200, {"data": {"commentCreate": {"success": True, "comment": comment}}})
        issue.update(given)
        return Answer(200, {"data": {"issueUpdate": {"success": True, "issue": {"id": issue_id}}}})
