"""The ticket an incident becomes, written once for every ticketing channel.

:func:`story` (the body of a new ticket) and :func:`update_story` (a comment
on it) tell the incident as :class:`~onduty.domain.notify.view.IncidentView`
has it, as a small document: headings, paragraphs, bullet lists of facts,
commands as code, and the diagnostics digest. :func:`markdown` renders that
document for GitHub Issues and Linear, escaping everything that came from an
alert; :mod:`onduty.domain.notify.jira` renders the same document as
Atlassian Document Format. :func:`title` is the ticket's one-line title.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from onduty.domain.notify.channel import Kind, Notice
from onduty.domain.notify.http import clip
from onduty.domain.notify.view import IncidentView
from onduty.domain.times import rfc3339

# GitHub refuses longer titles (422); Jira cuts them to its own limit.
TITLE_CHARS = 256


# -- the ticket, as a small document ---------------------------------------------


@dataclass(frozen=True)
class Span:
    """A run of text: plain, bold, a command (``code``) or a link."""

    text: str
    code: bool = False
    strong: bool = False
    href: str = ""


Line = tuple[Span, ...]


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    spans: Line


@dataclass(frozen=True)
class Bullets:
    items: tuple[Line, ...]


@dataclass(frozen=True)
class Digest:
    """onduty's own bounded Markdown (the diagnostics summary), shown as it is where Markdown renders."""

    markdown: str


Block = Heading | Paragraph | Bullets | Digest

_HEADLINE = {
    Kind.OPENED: "Opened",
    Kind.PAGE: "Paged",
    Kind.ACKNOWLEDGED: "Acknowledged",
    Kind.UNACKNOWLEDGED: "Acknowledgement withdrawn",
    Kind.APPROVAL_NEEDED: "Approval needed",
    Kind.REMEDIATION: "Remediation",
    Kind.ESCALATED: "Escalated",
    Kind.RESOLVED: "Resolved",
}


def title(view: IncidentView) -> str:
    """``[critical] Pod is crash looping.`` on one line, within GitHub's (and Linear's) limit."""
    return clip(" ".join(f"[{view.severity}] {view.title}".split()), TITLE_CHARS)


def story(notice: Notice, view: IncidentView) -> tuple[Block, ...]:
    """The whole incident, for the body of a new ticket."""
    blocks: list[Block] = []
    if notice.message:
        blocks.append(Paragraph((Span(notice.message),)))
    blocks.append(Bullets(tuple(_facts(view))))
    blocks.append(Heading("What onduty did"))
    if view.actions:
        blocks.append(Bullets(tuple(_action(a.action, a.target, a.state, a.message) for a in view.actions)))
    else:
        blocks.append(Paragraph((Span("No action yet."),)))
    if view.diagnostics:
        blocks += [Heading("Diagnostics"), Digest(view.diagnostics)]
    if view.links:
        blocks += [Heading("Links"), Bullets(tuple((Span(link.title, href=link.url),) for link in view.links))]
    blocks += [Heading("Take over"), Bullets(tuple(_commands(view)))]
    return tuple(blocks)


def update_story(notice: Notice, view: IncidentView) -> tuple[Block, ...]:
    """What changed, for a comment on an existing ticket."""
    headline: list[Span] = [Span(_HEADLINE[notice.kind], strong=True)]
    if notice.message:
        headline.append(Span(f": {notice.message}"))
    blocks: list[Block] = [Paragraph(tuple(headline))]
    facts: list[Line] = []
    if notice.kind is Kind.PAGE and notice.responders:
        level = f" (level {notice.level + 1})" if notice.level is not None else ""
        facts.append(_fact("Responders", ", ".join(notice.responders) + level))
    facts.append(_fact("State", _state(view)))
    facts.append(_fact("Alerts", view.alerts_summary))
    if view.actions and notice.kind in (Kind.REMEDIATION, Kind.ESCALATED, Kind.RESOLVED):
        latest = view.actions[-1]
        facts.append(
            (Span("Latest action: ", strong=True), *_action(latest.action, latest.target, latest.state, latest.message))
        )
    if notice.kind is Kind.RESOLVED and view.resolved_at:
        facts.append(_fact("Resolved", rfc3339(view.resolved_at)))
    if notice.kind is Kind.APPROVAL_NEEDED and view.approve_command:
        facts.append((Span("Approve: ", strong=True), Span(view.approve_command, code=True)))
    if notice.kind in (Kind.PAGE, Kind.UNACKNOWLEDGED, Kind.ESCALATED) and view.state == "triggered":
        facts.append((Span("Acknowledge: ", strong=True), Span(view.ack_command, code=True)))
    blocks.append(Bullets(tuple(facts)))
    return tuple(blocks)


def _facts(view: IncidentView) -> list[Line]:
    where: list[Span] = [Span("Where: ", strong=True), Span(view.namespace, code=True)]
    if view.workload:
        where += [Span(" / "), Span(view.workload, code=True)]
    facts: list[Line] = [_fact("Severity", view.severity), tuple(where)]
    if view.alertname:
        facts.append((Span("Alert: ", strong=True), Span(view.alertname, code=True)))
    facts.append(_fact("Alerts", view.alerts_summary))
    facts.append(_fact("State", _state(view)))
    if view.opened_at:
        facts.append(_fact("Opened", rfc3339(view.opened_at)))
    if view.acknowledged_by:
        when = f" at {rfc3339(view.acknowledged_at)}" if view.acknowledged_at else ""
        facts.append(_fact("Acknowledged", f"by {view.acknowledged_by}{when}"))
    if view.resolved_at:
        facts.append(_fact("Resolved", rfc3339(view.resolved_at)))
    facts.append((Span("Incident: ", strong=True), Span(f"{view.namespace}/{view.name}", code=True)))
    return facts


def _commands(view: IncidentView) -> list[Line]:
    commands: list[Line] = [(Span("Describe: ", strong=True), Span(view.describe_command, code=True))]
    if view.state == "triggered":
        commands.append((Span("Acknowledge: ", strong=True), Span(view.ack_command, code=True)))
    if view.approve_command:
        commands.append(
            (Span(f"Approve {view.pending_approval}: ", strong=True), Span(view.approve_command, code=True))
        )
    if view.state != "resolved":
        commands.append((Span("Pause automation: ", strong=True), Span(view.pause_command, code=True)))
    return commands


def _state(view: IncidentView) -> str:
    level = f", escalation level {view.escalation_level + 1}" if view.escalation_level is not None else ""
    return f"{view.state} (phase {view.phase}{level})"


def _fact(label: str, value: str) -> Line:
    return (Span(f"{label}: ", strong=True), Span(value))


def _action(action: str, target: str, state: str, message: str) -> Line:
    spans = [Span(action, code=True)]
    if target:
        spans += [Span(" on "), Span(target, code=True)]
    spans.append(Span(f" \u2014 {state}" + (f": {message}" if message else "")))
    return tuple(spans)


# -- Markdown ------------------------------------------------------------------------

# Characters that would make alert text into Markdown (emphasis, links, HTML, tables, headings).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!&])")
_FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)


def markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured Markdown, with everything that came from an alert escaped."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"### {_escape(block.text)}")
        elif isinstance(block, Paragraph):
            parts.append(_inline(block.spans))
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {_inline(item)}" for item in block.items))
        else:
            digest = block.markdown.strip()
            # An odd number of fences (a log line cut mid-block) would swallow the rest of the ticket.
            if len(_FENCE.findall(digest)) % 2:
                digest += "\n```"
            parts.append(digest)
    return "\n\n".join(p for p in parts if p)


def _inline(spans: Line) -> str:
    out: list[str] = []
    for span in spans:
        if span.code:
            text = _code(span.text)
        else:
            text = _escape(span.text)
            if span.strong and text.strip():
                text = f"**{text.strip()}** " if text.endswith(" ") else f"**{text}**"
        if span.href:
            text = f"[{text}]({quote(span.href, safe=':/?#@!$&*+,;=%~-._')})"
        out.append(text)
    return "".join(out)


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split("\n")))


def _code(text: str) -> str:
    text = " ".join(text.split("\n"))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
