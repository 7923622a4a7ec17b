"""A Jira Cloud stand-in: REST API v3 issues, comments and transitions, with ADF checked node by node.

``check`` refuses what Jira would: no basic auth (``email:apiToken``), an
unknown call, missing ``project.key``/``summary``/``issuetype``, labels with
spaces, a transition without ``{"transition": {"id": "<digits>"}}``, and any
rich text that is not valid Atlassian Document Format (:func:`check_adf`: a
``doc`` of ``version`` 1 whose nodes, attributes and marks are the ones the
ADF schema allows where it allows them). :class:`JiraFake` answers like Jira:
201 ``{"id", "key", "self"}`` for a new issue, 201 for a comment, 204 for a
transition, 404 for an unknown issue.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from receivers import Answer, ContractViolation, Received

_CREATE = "/rest/api/3/issue"
_COMMENT = re.compile(r"^/rest/api/3/issue/(?P<key>[A-Z][A-Z0-9_]+-\d+)/comment$")
_TRANSITION = re.compile(r"^/rest/api/3/issue/(?P<key>[A-Z][A-Z0-9_]+-\d+)/transitions$")

_TOP_BLOCKS = {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule", "blockquote"}
_LIST_ITEM_CHILDREN = {"paragraph", "bulletList", "orderedList", "codeBlock"}
_INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard"}
_MARKS = {"strong", "em", "code", "link", "strike", "underline", "subsup", "textColor"}


def check(got: Received, *, email: str | None = None, token: str | None = None) -> None:
    """Raise :class:`ContractViolation` when ``got`` breaks Jira Cloud's REST v3 contract."""
    _check_auth(got.headers.get("authorization", ""), email, token)
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation(f"Content-Type must be application/json, got {got.headers.get('content-type')!r}")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation(f"body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise ContractViolation("body must be a JSON object")
    if got.method == "POST" and got.path == _CREATE:
        _check_issue(body)
    elif got.method == "POST" and _COMMENT.match(got.path):
        check_adf(body.get("body"), where="comment body")
    elif got.method == "POST" and _TRANSITION.match(got.path):
        transition = body.get("transition")
        if not isinstance(transition, dict) or not re.fullmatch(r"\d+", str(transition.get("id", ""))):
            raise ContractViolation('a transition needs {"transition": {"id": "<digits>"}}')
        if not isinstance(transition["id"], str):
            raise ContractViolation("transition.id must be a string")
    else:
        raise ContractViolation(f"no such Jira call: {got.method} {got.path}")


def _check_auth(auth: str, email: str | None, token: str | None) -> None:
    if not auth.startswith("Basic "):
        raise ContractViolation("Authorization must be basic auth with email:apiToken")
    try:
        user, _, password = base64.b64decode(auth.removeprefix("Basic "), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ContractViolation(f"Authorization is not valid base64: {e}") from e
    if "@" not in user or not password:
        raise ContractViolation("basic auth must be an Atlassian account email and an API token")
    if (email is not None and user != email) or (token is not None and password != token):
        raise ContractViolation("basic auth carries the wrong email or API token")


def _check_issue(body: dict[str, Any]) -> None:
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise ContractViolation("a new issue needs fields")
    project = fields.get("project")
    if not isinstance(project, dict) or not (project.get("key") or project.get("id")):
        raise ContractViolation("fields.project needs a key or id")
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip() or len(summary) > 255 or "\n" in summary:
        raise ContractViolation("fields.summary must be one line of 1-255 characters")
    issue_type = fields.get("issuetype")
    if not isinstance(issue_type, dict) or not (issue_type.get("name") or issue_type.get("id")):
        raise ContractViolation("fields.issuetype needs a name or id")
    labels = fields.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) and x and not re.search(r"\s", x) for x in labels):
        raise ContractViolation("fields.labels must be a list of labels without spaces")
    if "description" in fields:
        check_adf(fields["description"], where="fields.description")


def check_adf(doc: Any, *, where: str = "document") -> None:
    """Raise :class:`ContractViolation` unless ``doc`` is a valid ADF document (the subset Jira renders)."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        raise ContractViolation(f"{where} must be an ADF doc with version 1")
    if set(doc) != {"type", "version", "content"} or not isinstance(doc["content"], list):
        raise ContractViolation(f"{where}: a doc has exactly type, version and content")
    for node in doc["content"]:
        _block(node, _TOP_BLOCKS, where)


def _block(node: Any, allowed: set[str], where: str) -> None:
    kind = node.get("type") if isinstance(node, dict) else None
    if kind not in allowed:
        raise ContractViolation(f"{where}: {kind!r} is not allowed here (allowed: {sorted(allowed)})")
    _keys(node, {"type", "content", "attrs"}, where)
    content = node.get("content", [])
    if not isinstance(content, list):
        raise ContractViolation(f"{where}: {kind}.content must be a list")
    if kind == "paragraph":
        _inline_nodes(content, where, marks=True)
    elif kind == "heading":
        level = (node.get("attrs") or {}).get("level")
        if isinstance(level, bool) or level not in range(1, 7):
            raise ContractViolation(f"{where}: heading.attrs.level must be 1-6, got {level!r}")
        _inline_nodes(content, where, marks=True)
    elif kind in ("bulletList", "orderedList"):
        if not content:
            raise ContractViolation(f"{where}: a {kind} needs at least one listItem")
        for item in content:
            _list_item(item, where)
    elif kind == "codeBlock":
        attrs = node.get("attrs", {})
        if not isinstance(attrs, dict) or set(attrs) - {"language"}:
            raise ContractViolation(f"{where}: codeBlock.attrs may only hold language")
        _inline_nodes(content, where, marks=False, only_text=True)
    elif kind == "blockquote":
        for child in content:
            _block(child, {"paragraph", "bulletList", "orderedList", "codeBlock"}, where)
    elif kind == "rule" and content:
        raise ContractViolation(f"{where}: a rule has no content")


def _list_item(item: Any, where: str) -> None:
    if not isinstance(item, dict) or item.get("type") != "listItem":
        raise ContractViolation(f"{where}: a list holds only listItem nodes")
    _keys(item, {"type", "content", "attrs"}, where)
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise ContractViolation(f"{where}: a listItem needs content")
    if content[0].get("type") != "paragraph":
        raise ContractViolation(f"{where}: a listItem starts with a paragraph")
    for child in content:
        _block(child, _LIST_ITEM_CHILDREN, where)


def _inline_nodes(content: list[Any], where: str, *, marks: bool, only_text: bool = False) -> None:
    for node in content:
        kind = node.get("type") if isinstance(node, dict) else None
        if kind not in ({"text"} if only_text else _INLINE):
            raise ContractViolation(f"{where}: {kind!r} is not an inline node allowed here")
        if kind != "text":
            continue
        _keys(node, {"type", "text", "marks"}, where)
        if not isinstance(node.get("text"), str) or not node["text"]:
            raise ContractViolation(f"{where}: a text node needs non-empty text")
        if "marks" in node:
            if not marks:
                raise ContractViolation(f"{where}: text in a codeBlock takes no marks")
            _marks(node["marks"], where)


def _marks(marks: Any, where: str) -> None:
    if not isinstance(marks, list) or not marks:
        raise ContractViolation(f"{where}: marks must be a non-empty list")
    kinds = [m.get("type") if isinstance(m, dict) else None for m in marks]
    for mark, kind in zip(marks, kinds, strict=True):
        if kind not in _MARKS:
            raise ContractViolation(f"{where}: unknown mark {kind!r}")
        if kind == "link":
            href = (mark.get("attrs") or {}).get("href")
            if not isinstance(href, str) or not href:
                raise ContractViolation(f"{where}: a link mark needs attrs.href")
    if len(set(kinds)) != len(kinds):
        raise ContractViolation(f"{where}: a mark appears twice on one text node")
    if "code" in kinds and set(kinds) - {"code", "link"}:
        raise ContractViolation(f"{where}: the code mark combines only with link, got {kinds}")


def _keys(node: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = set(node) - allowed
    if extra:
        raise ContractViolation(f"{where}: {node.get('type')} has unknown keys {sorted(extra)}")


def issue_created(key: str = "OPS-1", issue_id: str = "10001", base: str = "https://example.atlassian.net") -> Answer:
    """201 ``{"id", "key", "self"}``, as ``POST /rest/api/3/issue`` answers."""
    return Answer(201, {"id": issue_id, "key": key, "self": f"{base}/rest/api/3/issue/{issue_id}"})


def refused(status: int = 400, **errors: str) -> Answer:
    """A refusal in Jira's shape: ``errorMessages`` and ``errors`` by field."""
    return Answer(status, {"errorMessages": [] if errors else ["Issue does not exist"], "errors": errors})


@dataclass
class JiraFake:
    """Answers like Jira Cloud and keeps each issue's comments and transitions."""

    project: str = "OPS"
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def respond(self, got: Received) -> Answer:
        body = got.json()
        if got.path == _CREATE:
            number = next(self._numbers)
            key = f"{body['fields']['project']['key']}-{number}"
            self.issues[key] = {"fields": body["fields"], "comments": [], "transitions": []}
            return issue_created(key, str(10000 + number))
        found = _COMMENT.match(got.path) or _TRANSITION.match(got.path)
        assert found is not None
        issue = self.issues.get(found["key"])
        if issue is None:
            return refused(404)
        if got.path.endswith("/comment"):
            issue["comments"].append(body["body"])
            return Answer(201, {"id": str(len(issue["comments"])), "body": body["body"]})
        issue["transitions"].append(body["transition"]["id"])
        return Answer(204)
