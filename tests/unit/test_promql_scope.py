"""PromQL confinement: every selector ends up with exactly one namespace="<ns>" matcher, whatever it wrote.

The expected queries are compared as parsed trees, not as text, so the tests
say what the query means rather than how the parser spaces it. Every
confined query is also parsed again and walked independently of the module.
"""

from __future__ import annotations

import promql_parser
import pytest

from onduty.domain.promql_scope import PromQLError, confine

NS = "shop"


def tree(expr: str) -> str:
    """The parsed tree, as the parser's own debug dump: equal dumps, equal queries."""
    return repr(promql_parser.parse(expr))


def selectors_in(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


CONFINED = [
    pytest.param("up", 'up{namespace="shop"}', id="plain metric"),
    pytest.param(
        'http_requests_total{job="api",code=~"5.."}',
        'http_requests_total{job="api",code=~"5..",namespace="shop"}',
        id="metric with matchers",
    ),
    pytest.param('up{namespace=~".+"}', 'up{namespace="shop"}', id="regex namespace matcher replaced"),
    pytest.param('up{namespace!="x"}', 'up{namespace="shop"}', id="not-equal namespace matcher replaced"),
    pytest.param('up{job="a",namespace!~"kube-.*"}', 'up{job="a",namespace="shop"}', id="negative regex replaced"),
    pytest.param('up{namespace="payments"}', 'up{namespace="shop"}', id="another namespace replaced"),
    pytest.param('up{namespace="a",namespace=~"b"}', 'up{namespace="shop"}', id="several namespace matchers"),
    pytest.param(
        'kube_pod_info{exported_namespace="other",namespace_x="y"}',
        'kube_pod_info{exported_namespace="other",namespace_x="y",namespace="shop"}',
        id="only the label named exactly namespace",
    ),
    pytest.param('{__name__=~".+"}', '{__name__=~".+",namespace="shop"}', id="every metric by name regex"),
    pytest.param(
        "rate(http_requests_total[5m])", 'rate(http_requests_total{namespace="shop"}[5m])', id="rate over range"
    ),
    pytest.param(
        "max_over_time(rate(errors_total[1m])[30m:1m])",
        'max_over_time(rate(errors_total{namespace="shop"}[1m])[30m:1m])',
        id="subquery",
    ),
    pytest.param("up offset 5m", 'up{namespace="shop"} offset 5m', id="offset kept"),
    pytest.param("rate(x[5m] offset -1h)", 'rate(x{namespace="shop"}[5m] offset -1h)', id="negative offset on range"),
    pytest.param("up @ 1700000000", 'up{namespace="shop"} @ 1700000000', id="at timestamp kept"),
    pytest.param("up @ end()", 'up{namespace="shop"} @ end()', id="at end kept"),
    pytest.param(
        "max_over_time(x[10m:1m] offset 5m @ start())",
        'max_over_time(x{namespace="shop"}[10m:1m] offset 5m @ start())',
        id="subquery modifiers kept",
    ),
    pytest.param(
        "a * on(pod) group_left(node) b",
        'a{namespace="shop"} * on(pod) group_left(node) b{namespace="shop"}',
        id="on and group_left",
    ),
    pytest.param(
        "a / ignoring(code) group_right b",
        'a{namespace="shop"} / ignoring(code) group_right b{namespace="shop"}',
        id="ignoring and group_right",
    ),
    pytest.param("up == bool 0", 'up{namespace="shop"} == bool 0', id="bool comparison"),
    pytest.param(
        "errors unless on() maintenance",
        'errors{namespace="shop"} unless on() maintenance{namespace="shop"}',
        id="set operator with empty on",
    ),
    pytest.param(
        "sum by (namespace) (rate(x[5m]))",
        'sum by (namespace) (rate(x{namespace="shop"}[5m]))',
        id="aggregation by namespace",
    ),
    pytest.param(
        "topk(3, sum without (pod) (x))",
        'topk(3, sum without (pod) (x{namespace="shop"}))',
        id="nested aggregations",
    ),
    pytest.param(
        "topk(scalar(limit), up)",
        'topk(scalar(limit{namespace="shop"}), up{namespace="shop"})',
        id="selector in an aggregation's parameter",
    ),
    pytest.param(
        'count_values("version", build_info)',
        'count_values("version", build_info{namespace="shop"})',
        id="string parameter",
    ),
    pytest.param("absent(up)", 'absent(up{namespace="shop"})', id="absent"),
    pytest.param(
        'absent_over_time(up{job="x"}[10m])', 'absent_over_time(up{job="x",namespace="shop"}[10m])', id="absent range"
    ),
    pytest.param(
        'label_replace(up, "svc", "$1", "service", "(.*)")',
        'label_replace(up{namespace="shop"}, "svc", "$1", "service", "(.*)")',
        id="label_replace",
    ),
    pytest.param(
        "histogram_quantile(0.99, sum by (le) (rate(latency_bucket[5m])))",
        'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{namespace="shop"}[5m])))',
        id="histogram_quantile",
    ),
    pytest.param("-up", '-up{namespace="shop"}', id="unary minus"),
    pytest.param("(up)", '(up{namespace="shop"})', id="parentheses"),
    pytest.param("vector(1)", "vector(1)", id="no selectors: vector"),
    pytest.param("time() - 60", "time() - 60", id="no selectors: time"),
    pytest.param("42", "42", id="number literal"),
    pytest.param('"hello"', '"hello"', id="string literal"),
    pytest.param("sum(up) or vector(0)", 'sum(up{namespace="shop"}) or vector(0)', id="or vector(0)"),
    pytest.param(
        r'up{path="say \"hi\"",quote=~"it' "'" 's"}',
        r'up{path="say \"hi\"",quote=~"it' "'" 's",namespace="shop"}',
        id="quotes in other matchers",
    ),
    pytest.param(
        r'up{instance=~"10\\.0\\..*",dir="C:\\temp"}',
        r'up{instance=~"10\\.0\\..*",dir="C:\\temp",namespace="shop"}',
        id="backslashes in other matchers",
    ),
    pytest.param(
        r'label_replace(up, "svc", "$1", "instance", "(.*)\\.svc:.*")',
        r'label_replace(up{namespace="shop"}, "svc", "$1", "instance", "(.*)\\.svc:.*")',
        id="backslashes in a string argument",
    ),
    pytest.param(r'up{note="line\nnext\ttab"}', r'up{note="line\nnext\ttab",namespace="shop"}', id="escaped controls"),
    pytest.param("up{job='single'}", 'up{job="single",namespace="shop"}', id="single-quoted value"),
]


@pytest.mark.parametrize(("expr", "expected"), CONFINED)
def test_confined_query_means_the_expected_query(expr: str, expected: str) -> None:
    assert tree(confine(expr, NS)) == tree(expected)


@pytest.mark.parametrize(("expr", "expected"), CONFINED)
def test_every_selector_in_the_reparsed_output_has_exactly_the_enforced_namespace(expr: str, expected: str) -> None:
    confined = confine(expr, NS)
    found = selectors_in(confined)
    assert len(found) == len(selectors_in(expr))  # none lost, none added
    for selector in found:
        namespaced = [m for m in selector.matchers.matchers if m.name == "namespace"]
        assert [(m.op, m.value) for m in namespaced] == [(promql_parser.MatchOp.Equal, NS)], str(selector)
        assert selector.matchers.or_matchers == []


def test_the_text_sent_is_the_parsers_rendering() -> None:
    assert confine('sum(rate(x{namespace=~".+"}[5m]))', NS) == 'sum(rate(x{namespace="shop"}[5m]))'


def test_a_query_without_selectors_comes_back_unchanged() -> None:
    assert confine("vector(1)", NS) == "vector(1)"


def test_confining_twice_changes_nothing_more() -> None:
    once = confine('rate(x{namespace!="shop"}[5m]) / on(pod) group_left y', NS)
    assert confine(once, NS) == once


@pytest.mark.parametrize("expr", ["sum(", "up{", "rate(up)", "", "foo bar", 'up{job="unterminated}'])
def test_unparsable_query_is_refused_naming_it_and_the_parsers_error(expr: str) -> None:
    with pytest.raises(ValueError, match=r".") as parser_error:
        promql_parser.parse(expr)
    with pytest.raises(PromQLError) as refused:
        confine(expr, NS)
    assert repr(expr) in str(refused.value)
    assert str(parser_error.value) in str(refused.value)
    assert isinstance(refused.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("expr", "because"),
    [
        # The parser prints a step-less subquery as a range: it would be a different query.
        ("rate(x[5m:])", "subquery needs its step"),
        ("avg_over_time((a + b)[10m:])", "subquery needs its step"),
        # `or` inside braces is the parser's extension, not Prometheus's syntax.
        ('up{job="a" or namespace="other"}', "'or' between label matchers"),
    ],
)
def test_query_the_parser_cannot_render_faithfully_is_refused(expr: str, because: str) -> None:
    with pytest.raises(PromQLError, match=because):
        confine(expr, NS)


@pytest.mark.parametrize("namespace", ["", "Shop", 'shop",job=~".*', "shop}", "a" * 64, "-shop", "shop.prod"])
def test_a_namespace_that_is_not_a_dns_label_is_refused(namespace: str) -> None:
    with pytest.raises(PromQLError, match="not a valid namespace name"):
        confine("up", namespace)


def test_promql_error_is_a_value_error() -> None:
    assert issubclass(PromQLError, ValueError)
