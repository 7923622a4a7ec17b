"""GitHub Issues: one issue per incident, a comment per change, closed when it resolves.

The first notice (usually OPENED) creates the issue; its body is the whole
incident as :class:`IncidentView` tells it. Every later notice is a comment,
and RESOLVED is a comment followed by closing the issue as completed::

    first notice   POST  /repos/{owner}/{repo}/issues                 → number
    later notices  POST  /repos/{owner}/{repo}/issues/{n}/comments
    RESOLVED       POST  .../issues/{n}/comments, PATCH .../issues/{n} {"state": "closed"}

Remembered: the issue ``number`` (``githubIssueNumber``). Rate limits come
as 429 or as 403 with ``x-ratelimit-remaining: 0`` (primary) or a
``retry-after`` (secondary); both are retried, after ``retry-after``, else
until ``x-ratelimit-reset`` (measured against the reply's own ``Date``, since
the domain never reads the clock), else a minute as GitHub advises.

The issue's title, body and comments are the ticket of
:mod:`onduty.domain.notify.tickets` (:func:`~onduty.domain.notify.tickets.story`
and :func:`~onduty.domain.notify.tickets.update_story`), rendered as Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
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
    retry_after_header,
)
from onduty.domain.notify.http import Wording, base_url, classify, clip, json_object
from onduty.domain.notify.tickets import markdown, story, title, update_story
from onduty.domain.notify.view import IncidentView
from onduty.domain.specs import shown

KIND = "github"
DEFAULT_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
NUMBER_REF = "githubIssueNumber"

# GitHub refuses longer bodies (422; titles: tickets.TITLE_CHARS); labels are capped at 50 characters.
BODY_CHARS = 65536
LABEL_CHARS = 50
# GitHub's advice for a secondary rate limit that names no time: wait at least a minute.
SECONDARY_RATE_LIMIT_SECONDS = 60.0

# GitHub's own rules for account and repository names; nothing else reaches a path.
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
REPO_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
NUMBER_PATTERN = re.compile(r"^[1-9][0-9]{0,9}$")
WORDING = Wording.api("GitHub")


# -- the channel -------------------------------------------------------------------


class GitHubChannel:
    """GitHub's REST API (or GitHub Enterprise Server's, with ``url``): issues and comments."""

    kind = KIND

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = base_url(settings.get("url"), kind=KIND, default=DEFAULT_URL)
        owner, repo = settings.get("owner"), settings.get("repo")
        if not isinstance(owner, str) or not OWNER_PATTERN.match(owner):
            raise InvalidConfig(f"github setting owner must be a GitHub user or organisation name, not {shown(owner)}.")
        if not isinstance(repo, str) or not REPO_PATTERN.match(repo) or repo in (".", ".."):
            raise InvalidConfig(f"github setting repo must be a repository name, not {shown(repo)}.")
        self._repo_path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
        labels = settings.get("labels") or []
        if not isinstance(labels, list | tuple) or not all(
            isinstance(label, str) and 0 < len(label) <= LABEL_CHARS and label.isprintable() for label in labels
        ):
            raise InvalidConfig(
                f"github setting labels must be a list of label names (1-{LABEL_CHARS} characters), "
                f"not {shown(labels)}."
            )
        self._labels = tuple(labels)
        self._token = credentials.get("token")

    def __repr__(self) -> str:
        return f"GitHubChannel(url={self._url!r}, repo={self._repo_path!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        number = refs.get(NUMBER_REF, "")
        if not number:
            # The new issue tells everything so far; it stands in for this notice's comment (step 0),
            # and the steps after it are asked for again once its number is known.
            return [self._create(notice, view)] if index == 0 else []
        if not NUMBER_PATTERN.match(number):
            return []
        issue = f"{self._repo_path}/issues/{number}"
        body = redact(clip(markdown(update_story(notice, view)), BODY_CHARS), (self._token,))
        steps = [self._request("POST", f"{issue}/comments", {"body": body})]
        if notice.kind is Kind.RESOLVED:
            steps.append(self._request("PATCH", issue, {"state": "closed", "state_reason": "completed"}))
        return steps[index:]

    def _create(self, notice: Notice, view: IncidentView) -> Request:
        body = redact(clip(markdown(story(notice, view)), BODY_CHARS), (self._token,))
        issue = {"title": redact(title(view), (self._token,)), "body": body, "labels": list(self._labels)}
        return self._request("POST", f"{self._repo_path}/issues", issue)

    def _request(self, method: str, path: str, body: Mapping[str, Any]) -> Request:
        return Request(
            method=method,
            url=self._url + path,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                # GitHub refuses requests without a User-Agent.
                "User-Agent": "onduty",
                "Content-Type": "application/json",
            },
            json=dict(body),
            secret_values=(self._token,),
        )

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        said = redact(_github_message(reply.body), request.secret_values)
        headers = reply.headers
        # GitHub's limits: 429, or a 403 with its rate-limit headers; waited out by those headers.
        if reply.status == 429 or (
            reply.status == 403 and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)
        ):
            return Verdict(Outcome.RETRY, f"GitHub is rate limiting ({reply.status}){said}.", _rate_limit_wait(headers))
        return classify(reply, WORDING, lambda: _delivered(request, reply), said=said)


def _delivered(request: Request, reply: Reply) -> Verdict:
    """A 2xx to one of the steps: what it did, and the new issue's number to remember."""
    if request.method == "PATCH":
        return Verdict(Outcome.DELIVERED, "GitHub issue closed.")
    if request.url.endswith("/comments"):
        return Verdict(Outcome.DELIVERED, "GitHub issue commented.")
    number = json_object(reply.body).get("number")
    if isinstance(number, bool) or not isinstance(number, int) or not NUMBER_PATTERN.match(str(number)):
        # Retrying would open a second issue; a human has to look.
        return Verdict(
            Outcome.FAILED, f"GitHub answered {reply.status} without a usable issue number ({shown(number)})."
        )
    return Verdict(Outcome.DELIVERED, f"GitHub issue #{number} opened.", refs={NUMBER_REF: str(number)})


def _rate_limit_wait(headers: Mapping[str, str]) -> float:
    after = retry_after_header(headers)
    if after is not None:
        return after
    reset, date = headers.get("x-ratelimit-reset"), headers.get("date")
    if reset and date:
        try:
            return max(0.0, float(reset) - parsedate_to_datetime(date).timestamp())
        except (ValueError, TypeError):
            pass
    return SECONDARY_RATE_LIMIT_SECONDS


def _github_message(body: bytes) -> str:
    """GitHub's ``message`` and its ``errors[]`` (``message`` or ``field``/``code``), as ': <text>', or ''."""
    data = json_object(body)
    said = [str(data["message"])] if data.get("message") else []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            said.append(str(error.get("message") or f"{error.get('field', '')} {error.get('code', '')}".strip()))
        elif isinstance(error, str):
            said.append(error)
    text = " ".join("; ".join(s for s in said if s).split())
    return f": {text[:200]}" if text else ""
