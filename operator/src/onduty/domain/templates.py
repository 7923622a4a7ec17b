"""Runbook templates: one runbook for every incident it matches, each step naming that incident's own values.

A field of a step or a diagnostic may hold ``{{ VARIABLE }}``, the notation of
Helm and Prometheus' alert templates, with one of these variables and nothing
else (no expressions, no filters, no function calls: a template can only be
replaced by a value)::

    {{ namespace }}        the incident's namespace
    {{ workload.name }}    the incident's workload (spec.workload), its name
    {{ workload.kind }}    ... and its kind (Deployment, StatefulSet, DaemonSet)
    {{ labels.NAME }}      the incident's label NAME (an alert label: pod, node, service, ...)

``labels.namespace`` is the incident's namespace too, whatever an alert's label
said: a template never renders another namespace.

The values are the incident's, so they are untrusted (alert labels are
anyone's who ships a metric). Each field says what a value must be once there:

* :func:`render_name` — where it becomes a Kubernetes name, the rendered text
  must be a valid name, else the step is refused (:class:`trust.Untrusted`)
  with the template, the variable and its value — never a request;
* :func:`render_promql` — where it becomes PromQL, the template must sit inside
  a quoted string (``pod="{{ labels.pod }}"``) and the value is escaped as that
  string's content, so it cannot close the string; in a regular-expression
  matcher (``=~``, ``!~``) it is also quoted as a regular expression, so it
  matches itself only.

A variable that is not one of the above is refused when the runbook is read
(:func:`check`, which :mod:`onduty.domain.runbooks` calls, and the CRD's
:data:`TEMPLATE_PATTERN`); a label the incident does not have is refused when
the step runs (``TemplateLabelMissing``), never rendered as an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from onduty.domain import trust

# The grammar, as the CRD's patterns and CEL rules spell it too (Go's RE2 reads these as Python does).
VARIABLE_PATTERN = r"namespace|workload\.name|workload\.kind|labels\.[a-zA-Z_][a-zA-Z0-9_]*"
TEMPLATE_PATTERN = r"\{\{ *(?:" + VARIABLE_PATTERN + r") *\}\}"
# A field that is a name: a literal name, or name characters with at least one template among them.
TEMPLATED_SUBDOMAIN = (
    r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"|[-a-z0-9.]*(?:" + TEMPLATE_PATTERN + r"[-a-z0-9.]*)+)$"
)
TEMPLATED_LABEL = r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?|[-a-z0-9]*(?:" + TEMPLATE_PATTERN + r"[-a-z0-9]*)+)$"
# A free-text field (PromQL): every "{{" begins a known template.
TEMPLATES_ONLY_KNOWN = r"^(?:[^{]|\{[^{]|\{$|" + TEMPLATE_PATTERN + r")*$"
KNOWN = "{{ namespace }}, {{ workload.name }}, {{ workload.kind }} or {{ labels.NAME }}"

_TEMPLATE = re.compile(r"\{\{ *(" + VARIABLE_PATTERN + r") *\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{.*?(\}\}|$)", re.DOTALL)
# What Go's regexp.QuoteMeta escapes: RE2 reads each of them, backslashed, as itself.
_REGEX_META = frozenset("\\.+*?()|[]{}^$")
_SHOWN_MAX = 80


class TemplateError(ValueError):
    """A template onduty does not know (a typo such as ``{{ lables.pod }}``), found when the runbook is read."""


@dataclass(frozen=True)
class IncidentValues:
    """What a template may render: one incident's namespace, workload and labels."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    workload_kind: str | None = None
    workload_name: str | None = None
    # Why the incident's workload cannot be used (an invalid spec.workload), for the refusal.
    workload_problem: str | None = None

    def value(self, variable: str, *, where: str) -> str:
        """The value of ``variable``; raises :class:`trust.Untrusted` when the incident has none."""
        if variable == "namespace" or variable == "labels.namespace":
            return self.namespace
        if variable.startswith("workload."):
            found = self.workload_name if variable == "workload.name" else self.workload_kind
            if found is None:
                why = f" ({self.workload_problem})" if self.workload_problem else ""
                raise trust.Untrusted(
                    "TemplateValueMissing", f"{where}: {{{{ {variable} }}}}: the incident names no workload{why}"
                )
            return found
        label = variable.removeprefix("labels.")
        if label not in self.labels:
            raise trust.Untrusted(
                "TemplateLabelMissing",
                f"{where}: {{{{ {variable} }}}}: the incident has no label {label!r}"
                f" (it has {', '.join(sorted(self.labels)) or 'none'})",
            )
        return str(self.labels[label])


def check(text: str) -> list[str]:
    """The variables ``text`` uses; raises :class:`TemplateError` for a ``{{`` that is no known template."""
    used: list[str] = []
    at = text.find("{{")
    while at >= 0:
        found = _TEMPLATE.match(text, at)
        if found is None:
            bad = _ANY_TEMPLATE.match(text, at)
            raise TemplateError(f"{_shown(bad[0] if bad else text[at:])} is not a template: write {KNOWN}")
        used.append(found[1])
        at = text.find("{{", found.end())
    return used


def has_templates(text: str) -> bool:
    return "{{" in text


def render_text(text: str, values: IncidentValues, *, where: str) -> tuple[str, list[tuple[str, str]]]:
    """``text`` with each template replaced by its value, as is; and which (variable, value) were used."""
    used: list[tuple[str, str]] = []

    def one(found: re.Match[str]) -> str:
        value = values.value(found[1], where=where)
        used.append((found[1], value))
        return value

    check(text)
    return _TEMPLATE.sub(one, text), used


def render_name(
    text: str,
    values: IncidentValues,
    *,
    where: str,
    kind: Literal["subdomain", "label"] = "subdomain",
    max_length: int | None = None,
) -> str:
    """A name field rendered: a valid Kubernetes name, else :class:`trust.Untrusted` ``TemplatedNameInvalid``."""
    if not has_templates(text):
        return text
    rendered, used = render_text(text, values, where=where)
    valid = trust.is_subdomain(rendered) if kind == "subdomain" else trust.is_label(rendered)
    if valid and (max_length is None or len(rendered) <= max_length):
        return rendered
    limit = max_length or (trust.DNS1123_SUBDOMAIN_MAX if kind == "subdomain" else trust.DNS1123_LABEL_MAX)
    chars = "'-' and '.'" if kind == "subdomain" else "'-'"
    from_ = ", ".join(f"{variable} = {_shown(value)}" for variable, value in used)
    raise trust.Untrusted(
        "TemplatedNameInvalid",
        f"{where}: {text!r} renders {_shown(rendered)} ({from_}), which is not a valid Kubernetes name"
        f" (lower-case alphanumerics and {chars}, at most {limit} characters); nothing was sent",
    )


def render_promql(expr: str, values: IncidentValues, *, where: str) -> str:
    """PromQL with each template replaced by its value escaped for the quoted string it sits in.

    Raises :class:`trust.Untrusted` ``TemplateOutsideString`` for a template
    outside a double- or single-quoted string (in a raw `` ` `` string nothing
    can be escaped), and for a value the incident does not have.
    """
    if not has_templates(expr):
        return expr
    check(expr)
    out: list[str] = []
    quote: str | None = None  # the open string's quote, or "#" in a comment
    regex = False  # the open string is a regular-expression matcher's
    at = 0
    while at < len(expr):
        found = _TEMPLATE.match(expr, at)
        if found is not None:
            if quote not in ('"', "'"):
                raise trust.Untrusted(
                    "TemplateOutsideString",
                    f"{where}: {found[0]} is not inside a quoted string; in PromQL a template goes in one,"
                    f' e.g. pod="{{{{ labels.pod }}}}"',
                )
            value = values.value(found[1], where=where)
            out.append(_string_content(_regex_quoted(value) if regex else value, quote))
            at = found.end()
            continue
        char = expr[at]
        if quote is None:
            if char in "\"'`":
                quote, regex = char, "".join(out).rstrip().endswith(("=~", "!~"))
            elif char == "#":
                quote = "#"
        elif quote == "#":
            quote = None if char == "\n" else quote
        elif char == "\\" and quote != "`":
            out.append(expr[at : at + 2])
            at += 2
            continue
        elif char == quote:
            quote = None
        out.append(char)
        at += 1
    return "".join(out)


def _regex_quoted(value: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in value)


def _string_content(value: str, quote: str) -> str:
    """``value`` as the content of a PromQL string between ``quote``s (Go's escapes, which PromQL reads)."""
    escaped: list[str] = []
    for char in value:
        if char == "\\" or char == quote:
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append("\\n")
        elif char == "\r":
            escaped.append("\\r")
        elif char == "\t":
            escaped.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\x{ord(char):02x}")
        else:
            escaped.append(char)
    return "".join(escaped)


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def templated_name(value: str, *, kind: Literal["subdomain", "label"] = "subdomain") -> str:
    """A name field as a runbook writes it: a Kubernetes name, or name characters with templates among them."""
    if re.fullmatch(TEMPLATED_SUBDOMAIN if kind == "subdomain" else TEMPLATED_LABEL, value):
        return value
    check(value)
    chars = "'-', '.'" if kind == "subdomain" else "'-'"
    raise ValueError(
        f"{_shown(value)} is not a Kubernetes name (lower case, digits, {chars}), nor one with templates"
        " such as {{ labels.pod }}"
    )


def templated_subdomain(value: str) -> str:
    return templated_name(value, kind="subdomain")


def templated_label(value: str) -> str:
    return templated_name(value, kind="label")


def known_templates(value: str) -> str:
    """A free-text field (PromQL) as a runbook writes it: every ``{{`` begins a known template."""
    check(value)
    return value


def placeholders(expr: str) -> str:
    """``expr`` with every template replaced by a plain value, to judge its PromQL syntax before rendering.

    A template's value is escaped in its string (and quoted in a regular
    expression), so ``x`` stands for any value there.
    """
    return _TEMPLATE.sub("x", expr)
