"""PromQL confined to one namespace, the way prom-label-proxy confines it.

A namespace's editors write the PromQL in their Runbooks, and onduty sends it
to Prometheus with a cluster-wide view. So before a namespaced runbook's query
is sent, :func:`confine` gives every series selector in it exactly one
``namespace="<ns>"`` matcher. A ``namespace`` matcher the author wrote, of any
kind (``=``, ``!=``, ``=~``, ``!~``), is replaced rather than combined: a query
can never reach past its own namespace (prom-label-proxy's default, too).
Expressions that read no series (``vector(1)``, ``time()``, ``42``) come back
as they are.

The query is parsed by a real PromQL parser (``promql-parser``, bindings to the
Rust parser GreptimeDB uses), edited as a tree and printed by that parser, never
edited as text. Two quirks of the package (0.12) shape the code:

* It has no constructors for selectors or strings, and their setters change what
  ``str()`` prints but not the node ``transform`` puts in the tree. So each
  edited node is printed, parsed again and swapped in.
* It prints string values as they are, without escaping them: a value with a
  backslash or a quote would print as another string, or as no PromQL at all.
  So the text is printed from a second tree that holds every value escaped, and
  must read back as the first, which holds them as written.

Nothing is trusted to have worked: every swapped-in node must read back as the
node intended, and the whole confined text must parse into the same tree with
the one namespace matcher on every selector. If not, :class:`PromQLError`, and
the caller does not send the query. Known cases: a subquery without a step
(``x[5m:]`` prints as the range ``x[5m]``), and ``or`` inside a selector's
braces (the parser's own extension, which Prometheus does not accept).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import promql_parser

from onduty.domain import templates

NAMESPACE_LABEL = "namespace"

# Kubernetes' DNS-1123 label, as namespaces are named. The caller passes the
# incident's own namespace, which the API server has validated; it is checked
# again because it is the one value here that no query author wrote.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NAMESPACE_MAX = 63

# How a PromQL double-quoted string writes what the parser prints unescaped:
# backslash and quote, and the control characters a quoted string cannot hold.
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})

# Enough of a long query to recognise it in an incident's message.
_SHOWN_MAX = 200


class PromQLError(ValueError):
    """A query onduty will not send: it does not parse, or it cannot be confined faithfully."""


def syntax_problem(expr: str) -> str | None:
    """Why ``expr`` is no PromQL (the parser's words, naming the query), or None.

    The API server cannot judge PromQL (CEL has no parser for it), so the spec
    models ask this when a runbook is read: a query that does not parse is
    refused when it is written, not found out during an incident.
    """
    try:
        promql_parser.parse(templates.placeholders(expr))  # templates ({{ labels.pod }}) are judged by templates
    except ValueError as error:
        return f"cannot parse PromQL {_shown(expr)}: {error}"
    return None


def parsed(expr: str) -> str:
    """``expr`` itself if it parses (a spec model's validator); ValueError with :func:`syntax_problem` if not."""
    problem = syntax_problem(expr)
    if problem:
        raise ValueError(problem)
    return expr


def confine(expr: str, namespace: str) -> str:
    """``expr`` with every selector limited to series whose ``namespace`` label equals ``namespace``.

    >>> confine('sum(rate(http_requests_total{namespace=~".+"}[5m]))', "shop")
    'sum(rate(http_requests_total{namespace="shop"}[5m]))'
    """
    if len(namespace) > _NAMESPACE_MAX or not _NAMESPACE.fullmatch(namespace):
        raise PromQLError(f"cannot confine PromQL to namespace {namespace!r}: not a valid namespace name")
    try:
        tree = promql_parser.parse(expr)
    except ValueError as error:
        raise PromQLError(f"cannot parse PromQL {_shown(expr)}: {error}") from error
    # The tree that is meant, and the tree whose (unescaping) printing is its PromQL.
    meant = _confined(tree, namespace, expr, escaped=False)
    text = str(_confined(tree, namespace, expr, escaped=True))
    reread = _reread(
        text,
        expr,
        same=lambda node: repr(node) == repr(meant),
        hint="; a subquery needs its step written out, e.g. [5m:1m]",
    )
    unconfined = [str(s) for s in selectors(reread) if not _is_confined(s, namespace)]
    if unconfined:  # Only a parser bug gets here; the check is what makes the boundary hold regardless.
        raise PromQLError(f"cannot confine PromQL {_shown(expr)}: {_shown(unconfined)} not limited to {namespace!r}")
    return text


def selectors(tree: promql_parser.Expr) -> list[promql_parser.VectorSelector]:
    """Every vector selector in ``tree``: in range selectors, subqueries, calls and aggregations too."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(tree, pre_visit=visit)
    return found


def _confined(tree: promql_parser.Expr, namespace: str, expr: str, *, escaped: bool) -> promql_parser.Expr:
    """``tree`` with every selector confined; with ``escaped``, its string values are held escaped.

    Each new node is parsed from what the parser prints, and parsing takes one
    level of escaping off: so the value it prints is escaped once more than the
    value the node is to hold.
    """

    def held(value: str) -> str:
        return value.translate(_ESCAPES) if escaped else value

    def printable(value: str) -> str:
        return held(value).translate(_ESCAPES)

    def confined_node(node: promql_parser.Expr) -> promql_parser.Expr | None:
        if isinstance(node, promql_parser.VectorSelector):
            return _confined_selector(node, namespace, expr, held=held, printable=printable)
        if isinstance(node, promql_parser.StringLiteral):
            value = node.val
            node.val = printable(value)
            return _reread(
                str(node),
                expr,
                same=lambda new: isinstance(new, promql_parser.StringLiteral) and new.val == held(value),
            )
        return None

    return promql_parser.transform(tree, post_visit=confined_node)


def _confined_selector(
    selector: promql_parser.VectorSelector,
    namespace: str,
    expr: str,
    *,
    held: Callable[[str], str],
    printable: Callable[[str], str],
) -> promql_parser.Expr:
    """A new selector: ``selector`` with its ``namespace`` matchers replaced by ``namespace="<ns>"``."""
    if selector.matchers.or_matchers:
        raise PromQLError(
            f"cannot confine PromQL {_shown(expr)}: {_shown(str(selector))} uses 'or' between label matchers,"
            " which Prometheus does not accept"
        )
    kept = [(m.op, m.name, m.value) for m in selector.matchers.matchers if m.name != NAMESPACE_LABEL]
    wanted = [*kept, (promql_parser.MatchOp.Equal, NAMESPACE_LABEL, namespace)]
    intended = _key(selector, [(op, name, held(value)) for op, name, value in wanted])
    selector.matchers = promql_parser.Matchers(
        [promql_parser.Matcher(op, name, printable(value)) for op, name, value in wanted]
    )
    return _reread(
        str(selector),
        expr,
        same=lambda new: isinstance(new, promql_parser.VectorSelector) and _key(new) == intended,
    )


def _reread(
    printed: str, expr: str, *, same: Callable[[promql_parser.Expr], bool], hint: str = ""
) -> promql_parser.Expr:
    """``printed`` parsed again, which must be ``same`` as what was printed, else :class:`PromQLError`."""
    try:
        node = promql_parser.parse(printed)
    except ValueError as error:
        raise PromQLError(
            f"cannot confine PromQL {_shown(expr)}: the parser prints {_shown(printed)}, which it cannot read"
            f" back ({error}){hint}"
        ) from error
    if not same(node):
        raise PromQLError(
            f"cannot confine PromQL {_shown(expr)}: the parser prints {_shown(printed)}, which means something"
            f" else{hint}"
        )
    return node


_Matcher = tuple[promql_parser.MatchOp, str, str]
_Key = tuple[str | None, list[_Matcher], timedelta | None, tuple[promql_parser.AtModifierType, datetime | None] | None]


def _key(selector: promql_parser.VectorSelector, matchers: list[_Matcher] | None = None) -> _Key:
    """What a selector selects: metric name, matchers in order, ``offset`` and ``@``."""
    if matchers is None:
        matchers = [(m.op, m.name, m.value) for m in selector.matchers.matchers]
    at = None if selector.at is None else (selector.at.type, selector.at.at)
    return (selector.name, matchers, selector.offset, at)


def _is_confined(selector: promql_parser.VectorSelector, namespace: str) -> bool:
    if selector.matchers.or_matchers:
        return False
    scoped = [m for m in selector.matchers.matchers if m.name == NAMESPACE_LABEL]
    return len(scoped) == 1 and scoped[0].op == promql_parser.MatchOp.Equal and scoped[0].value == namespace


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."
