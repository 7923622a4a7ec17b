"""Runbook templates: one runbook serves every incident it matches, and an incident's values cannot break out.

Hostile values come from alert labels (anyone who ships a metric picks them):
in PromQL they must stay one string's content — the rendered query is parsed
by a real PromQL parser and the matcher must hold the value exactly — and as
names they must be names, else the step is refused with the template, the
variable and the value.
"""

from __future__ import annotations

import re

import promql_parser
import pytest

from onduty.domain import trust
from onduty.domain.promql_scope import confine
from onduty.domain.runbook_rendering import incident_values, render_diagnostic, render_step
from onduty.domain.runbooks import RunbookError, parse_runbook
from onduty.domain.templates import (
    TEMPLATED_LABEL,
    TEMPLATED_SUBDOMAIN,
    TEMPLATES_ONLY_KNOWN,
    IncidentValues,
    TemplateError,
    check,
    render_name,
    render_promql,
    render_text,
)

HOSTILE = [
    pytest.param('"} or vector(1) #', id="closes the string and the selector"),
    pytest.param('a\\"b', id="backslash then quote"),
    pytest.param("a\\", id="trailing backslash"),
    pytest.param("line\nnext", id="newline"),
    pytest.param("tab\tcr\rnul\x00del\x7f", id="control characters"),
    pytest.param("ünïcødé-☃-\U0001d518", id="unicode"),
    pytest.param("it's", id="single quote"),
    pytest.param("`raw`", id="backtick"),
    pytest.param("{{ labels.other }}", id="a template as a value is not rendered again"),
    pytest.param(".*", id="a regex that would match everything"),
]


def values(**labels: str) -> IncidentValues:
    return IncidentValues(namespace="shop", labels=labels, workload_kind="Deployment", workload_name="web")


def matchers(expr: str) -> dict[str, tuple[str, str]]:
    """Each label matcher of the (single) selector in ``expr``: name -> (operator, value as the parser holds it)."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    assert len(found) == 1, expr
    ops = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
    return {m.name: (ops[str(m.op)], m.value) for m in found[0].matchers.matchers if m.name != "__name__"}


# --- the syntax -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("{{ namespace }}", "shop"),
        ("{{namespace}}", "shop"),
        ("{{   workload.name   }}-db", "web-db"),
        ("{{ workload.kind }}/{{ workload.name }}", "Deployment/web"),
        ("{{ labels.pod }}", "web-7d9c-x2"),
        ("{{ labels.namespace }}", "shop"),  # the incident's namespace, whatever a label said
        ("no templates", "no templates"),
        ("{ single } braces", "{ single } braces"),
    ],
)
def test_a_template_renders_the_incidents_value(text: str, rendered: str) -> None:
    incident = values(pod="web-7d9c-x2", namespace="kube-system")

    assert render_text(text, incident, where="f")[0] == rendered


@pytest.mark.parametrize(
    "text",
    [
        "{{ lables.pod }}",
        "{{ label.pod }}",
        "{{ labels }}",
        "{{ labels.pod | upper }}",
        "{{ labels.pod + 1 }}",
        "{{ labels['pod'] }}",
        "{{ workload.namespace }}",
        "{{ pod }}",
        "{{ labels.pod }",
        "{{{ labels.pod }}",
        "{{ labels.9pod }}",
        "{{ __import__('os') }}",
        "{{}}",
    ],
)
def test_an_unknown_variable_or_any_expression_is_refused_with_the_template(text: str) -> None:
    with pytest.raises(TemplateError, match=r"is not a template: write \{\{ namespace \}\}"):
        check(text)
    # and the CRD's CEL rule, which uses the same grammar, refuses it too
    assert not re.search(TEMPLATES_ONLY_KNOWN, f'up{{pod="{text}"}}')


def test_the_crd_patterns_read_templates_as_the_model_does() -> None:
    assert re.search(TEMPLATES_ONLY_KNOWN, 'up{pod="{{ labels.pod }}", ns="{{namespace}}"} # {x}')
    assert re.search(TEMPLATED_SUBDOMAIN, "{{ labels.app }}-canary.{{ namespace }}")
    assert re.search(TEMPLATED_SUBDOMAIN, "web")
    assert not re.search(TEMPLATED_SUBDOMAIN, "-web")  # a literal name must be a name
    assert not re.search(TEMPLATED_SUBDOMAIN, "{{ labels.app }}_x")  # and what is around a template, name characters
    assert not re.search(TEMPLATED_LABEL, "{{ labels.app }}.x")


def test_a_label_the_incident_lacks_is_refused_naming_it_not_rendered_empty() -> None:
    with pytest.raises(trust.Untrusted) as refused:
        render_text("{{ labels.pod }}", values(app="web"), where="step restart: target.name")

    assert refused.value.reason == "TemplateLabelMissing"
    assert "step restart: target.name" in refused.value.message
    assert "no label 'pod'" in refused.value.message


def test_workload_variables_need_an_incident_with_a_workload() -> None:
    incident = IncidentValues(namespace="shop", labels={})

    with pytest.raises(trust.Untrusted, match="names no workload") as refused:
        render_text("{{ workload.name }}", incident, where="f")
    assert refused.value.reason == "TemplateValueMissing"


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["Web", "web_1", "a/b", "../etc", "web;rm -rf", "", "a" * 254, "web ", "ünï", '"} or vector(1) #']
)
def test_a_rendered_value_that_is_no_name_is_refused_naming_template_label_and_value(value: str) -> None:
    with pytest.raises(trust.Untrusted) as refused:
        render_name("{{ labels.app }}", values(app=value), where="step restart: target.name")

    assert refused.value.reason == "TemplatedNameInvalid"
    message = refused.value.message
    assert "step restart: target.name" in message
    assert "'{{ labels.app }}'" in message
    assert f"labels.app = {value!r}"[:60] in message
    assert "not a valid Kubernetes name" in message


def test_a_rendered_name_within_limits_is_used() -> None:
    assert render_name("{{ labels.app }}-db", values(app="api"), where="f") == "api-db"
    assert render_name("{{ labels.node }}", values(node="node-1.zone-a"), where="f") == "node-1.zone-a"
    with pytest.raises(trust.Untrusted):  # a label name has no dots
        render_name("{{ labels.svc }}", values(svc="a.b"), where="f", kind="label")
    with pytest.raises(trust.Untrusted):  # Helm's 53
        render_name("{{ labels.r }}", values(r="r" * 54), where="f", max_length=53)


# --- PromQL -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_inside_its_double_quoted_string(value: str) -> None:
    expr = render_promql(
        'sum(rate(http_requests_total{pod="{{ labels.pod }}", code="500"}[5m]))', values(pod=value), where="f"
    )

    assert matchers(expr) == {"pod": ("=", value), "code": ("=", "500")}
    assert isinstance(promql_parser.parse(expr), promql_parser.AggregateExpr)  # still sum(...), no "or vector(1)"


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_inside_a_single_quoted_string(value: str) -> None:
    expr = render_promql("up{pod='{{ labels.pod }}'}", values(pod=value), where="f")

    assert matchers(expr)["pod"] == ("=", value)


@pytest.mark.parametrize("value", HOSTILE)
def test_in_a_regex_matcher_a_value_matches_only_itself(value: str) -> None:
    expr = render_promql('up{pod=~"{{ labels.pod }}-[0-9]+"}', values(pod=value), where="f")

    op, pattern = matchers(expr)["pod"]
    assert op == "=~"
    assert re.fullmatch(pattern, f"{value}-12", re.DOTALL)
    assert not re.fullmatch(pattern, "other-12")


@pytest.mark.parametrize("value", HOSTILE)
def test_templating_happens_before_confinement_which_sees_the_final_query(value: str) -> None:
    rendered = render_promql('up{pod="{{ labels.pod }}", namespace="other"}', values(pod=value), where="f")
    confined = confine(rendered, "shop")

    assert matchers(confined) == {"pod": ("=", value), "namespace": ("=", "shop")}


@pytest.mark.parametrize(
    "expr",
    [
        "up{pod={{ labels.pod }}}",
        "{{ labels.metric }}_total",
        "up{pod=`{{ labels.pod }}`}",
        "up # {{ labels.pod }}",
    ],
)
def test_a_template_outside_a_quoted_string_is_refused(expr: str) -> None:
    with pytest.raises(trust.Untrusted) as refused:
        render_promql(expr, values(pod="web", metric="up"), where="step s: condition.expr")

    assert refused.value.reason == "TemplateOutsideString"
    assert "step s: condition.expr" in refused.value.message


def test_strings_without_templates_and_escapes_in_the_query_are_kept() -> None:
    expr = 'up{a="x\\"}", c=\'{\', b="{{ namespace }}"}'

    assert matchers(render_promql(expr, values(), where="f")) == {
        "a": ("=", 'x"}'),
        "c": ("=", "{"),
        "b": ("=", "shop"),
    }


# --- steps and diagnostics, as the worker renders them ----------------------------------------

RUNBOOK = {
    "match": {"alertnames": ["HighErrorRate"]},
    "diagnostics": [
        {"name": "errors", "type": "promql", "expr": 'sum(rate(errors_total{pod="{{ labels.pod }}"}[5m]))'},
        {"name": "logs", "type": "podLogs", "target": {"kind": "Deployment", "name": "{{ labels.app }}"}},
    ],
    "remediation": {
        "steps": [
            {
                "name": "restart",
                "action": "rolloutRestart",
                "target": {"kind": "Deployment", "name": "{{ labels.app }}"},
                "condition": {"expr": 'sum(errors_total{app="{{ labels.app }}"})', "op": ">", "threshold": 1},
                "verify": {"promql": {"expr": 'sum(errors_total{app="{{ labels.app }}"})', "op": "<", "threshold": 1}},
            },
            {"name": "rollback", "action": "helmRollback", "release": "{{ workload.name }}"},
        ]
    },
}


def incident(**labels: str) -> dict[str, object]:
    return {"spec": {"labels": labels, "workload": {"kind": "Deployment", "name": "web"}}}


def test_one_runbook_renders_each_incidents_own_values() -> None:
    spec = parse_runbook(RUNBOOK)
    assert spec.remediation is not None
    restart, rollback = spec.remediation.steps

    for app in ("web", "api"):
        step = render_step(restart, incident_values(incident(app=app), "shop"))
        assert step.target is not None and step.target.name == app
        assert step.condition is not None and step.condition.expr == f'sum(errors_total{{app="{app}"}})'
        assert step.verify.promql is not None and step.verify.promql.expr == f'sum(errors_total{{app="{app}"}})'
    assert render_step(rollback, incident_values(incident(), "shop")).release == "web"
    assert restart.target is not None and restart.target.name == "{{ labels.app }}"  # the runbook is unchanged


def test_a_diagnostic_renders_too_and_a_bad_value_is_refused() -> None:
    promql, logs = parse_runbook(RUNBOOK).diagnostics
    values_ = incident_values(incident(pod='x"}', app="Not_A_Name"), "shop")

    assert matchers(render_diagnostic(promql, values_).expr)["pod"] == ("=", 'x"}')  # type: ignore[union-attr]
    with pytest.raises(trust.Untrusted, match=r"diagnostic logs: target\.name"):
        render_diagnostic(logs, values_)


def test_an_invalid_incident_workload_is_named_when_a_template_needs_it() -> None:
    bad = {"spec": {"labels": {}, "workload": {"kind": "Deployment", "name": "web", "namespace": "other"}}}

    with pytest.raises(trust.Untrusted, match="names no workload") as refused:
        render_text("{{ workload.name }}", incident_values(bad, "shop"), where="f")
    assert "other" in refused.value.message


def test_the_runbook_parser_refuses_a_typo_and_names_the_field() -> None:
    typo = {
        **RUNBOOK,
        "remediation": {
            "steps": [
                {**RUNBOOK["remediation"]["steps"][0], "target": {"kind": "Deployment", "name": "{{ lables.app }}"}}
            ]
        },
    }  # type: ignore[index]

    with pytest.raises(RunbookError, match=r"target\.name.*'\{\{ lables\.app \}\}' is not a template"):
        parse_runbook(typo)
