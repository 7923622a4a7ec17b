"""Generated Runbook and RemediationPolicy specs: ``onduty lint`` and the API server give the same verdict.

Hypothesis starts from a valid spec (every field of the kind, from
test_model_matches_crd.py, or the smallest one) and changes one to three
places in it, choosing what to write from the CRD's schema at that place: a
value its pattern, enum and bounds allow or one just outside them, a wrong
type, null, an unknown field, a field taken away, and for the fields whose
grammar is onduty's own, durations, cron lines, time zones, RFC 3339 times,
PromQL and ``{{ … }}`` templates, good and bad.

Each spec is judged three ways:

* the API server: a server-side dry-run create (``dryRun=All`` with strict
  field validation, what ``kubectl apply --dry-run=server`` sends), which
  judges the CRD's schema and CEL rules;
* the admission webhook's judgement, :func:`onduty.domain.admission.spec_problem`
  (the webhook does not run in these tests; its module does), which judges what
  CEL cannot: a time zone's name, a cron line's calendar, PromQL;
* ``onduty lint``: in process for each spec (``manifests.check_document``,
  what the command runs), and once at the end as the real command over a file
  holding every spec generated, which must say the same.

The property: lint accepts exactly what the API server with onduty's webhook
accepts. Where the API server alone accepts and lint refuses, the refusal must
be one of ``WEBHOOK_ONLY`` — each says why CEL cannot judge it — else the CRD
is missing a rule lint has.

``ONDUTY_FUZZ_EXAMPLES`` sets the number of specs (CI: a smoke run; ``make bench-fuzz``
a large one); ``ONDUTY_FUZZ_SEED`` replays a run.
"""

from __future__ import annotations

import collections
import copy
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import examples, fuzzed, note, run_seed
from integration.test_model_matches_crd import POLICY, RUNBOOK, spec_schema
from onduty.domain import admission, manifests

# Lint judges each spec in a few milliseconds, the API server in tens: specs are cheaper than webhook bodies.
EXAMPLES = examples(200)
KINDS = {"Runbook": ("runbooks", RUNBOOK), "RemediationPolicy": ("remediationpolicies", POLICY)}
SCHEMAS = {kind: spec_schema(kind) for kind in KINDS}  # read once: parsing the CRD's YAML takes most of a second
MINIMAL = {
    "Runbook": {
        "match": {"alertnames": ["HighErrorRate"]},
        "remediation": {"steps": [{"name": "restart", "action": "rolloutRestart"}]},
    },
    "RemediationPolicy": {"allowedActions": ["rolloutRestart"]},
}

# What only onduty can judge, so the API server stores it and onduty's admission webhook refuses it.
# Each is (what, why CEL cannot judge it, what lint's refusal says).
WEBHOOK_ONLY = [
    (
        "timeZone",
        "CEL has no time zone database; the CRD bounds timeZone's length only",
        re.compile(r"timeZone: .*(time zone|zone)"),
    ),
    (
        "cron",
        "the CRD's pattern sees each cron field alone; cronsim sees a day that never comes",
        re.compile(r"cron: .*(never|no .*day)"),
    ),
    (
        "PromQL",
        "CEL cannot parse PromQL",
        re.compile(r"(expr|promql)\b.*(PromQL|parse|syntax|unexpected|expected)", re.IGNORECASE),
    ),
]

DURATIONS = [
    "1d",
    "0s",
    "0d",
    "90s",
    "10m",
    "1h30m",
    "1d12h",
    "2562047h",
    "2562048h",
    "1.5h",
    "-1m",
    "1w",
    "10ms",
    " 5m",
    "5M",
    "5 minutes",
    "",
    "1h1h",
    "0.5s",
    "1e3s",
    "100000000000000000000s",
    "1m0s",
    "3600",
]
CRONS = [
    "0 2 * * *",
    "0 2 * * 6",
    "*/5 * * * *",
    "0 0 30 2 *",
    "0 0 31 4 *",
    "0 2 * * Sat",
    "@daily",
    "0 25 * * *",
    "0 2 * *",
    "60 * * * *",
    "0 0 29 2 *",
    "0 0 1-31/2 * 1-5",
    "0 0 L * *",
    "* * * * * *",
    "0-59/15 * * * 7",
    "",
]
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Etc/GMT+5",
    "EST5EDT",
    "Europe/Berln",
    "Mars/Base",
    "../../etc/passwd",
    "utc",
    "Z",
    "",
    "Europe/Berlin ",
    "+01:00",
    "Local",
    "Asia/Kolkata",
]
TIMES = [
    "2026-12-20T00:00:00Z",
    "2026-12-21T00:00:00+01:00",
    "2026-12-20",
    "2026-02-30T00:00:00Z",
    "yesterday",
    "2026-12-20T00:00:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2026-12-20t00:00:00z",
]
PROMQL = [
    "sum(rate(errors_total[5m]))",
    "up",
    'up{job="x"} == 0',
    "sum(rate(x[5m]",
    "rate(x[5m]) >",
    "))",
    'up{pod="{{ labels.pod }}"}',
    "up{pod={{ labels.pod }}}",
    'up{pod="{{ bad }}"}',
    "",
    "1 +",
    "foo bar",
]
NAMES = [
    "web",
    "{{ workload.name }}",
    "web-{{ labels.pod }}",
    "{{ labels.node }}",
    "{{ namespace }}",
    "{{ bad }}",
    "{{workload.name}}",
    "{{ labels.a-b }}",
    "Web",
    "-web",
    "web.",
    "a" * 253,
    "a" * 254,
    "",
    "{{ labels.x }}.{{ namespace }}",
]
DOMAIN_VALUES = {
    "cooldown": DURATIONS,
    "duration": DURATIONS,
    "approvalTTL": DURATIONS,
    "per": DURATIONS,
    "within": DURATIONS,
    "rolloutHealthyWithin": DURATIONS,
    "range": DURATIONS,
    "step": DURATIONS,
    "automationGrace": DURATIONS,
    "cron": CRONS,
    "timeZone": ZONES,
    "start": TIMES,
    "end": TIMES,
    "expr": PROMQL,
    "name": NAMES,
    "node": NAMES,
    "release": NAMES,
    "application": NAMES,
    "service": NAMES,
}
WRONG_TYPES = st.sampled_from([None, 0, 1, -1, 1.5, 2.0, True, "x", "", [], {}, ["x"], {"a": 1}, 2**63, 2**70, 1e300])
TEXT = st.text(max_size=20)


# --- specs, from the CRD's schema ------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def schema_at(schema: dict[str, Any], path: Path_) -> dict[str, Any] | None:
    """The schema of the value at ``path``; None where the schema says nothing (an unknown field, an open map)."""
    node: dict[str, Any] | None = schema
    for part in path:
        if node is None:
            return None
        if isinstance(part, int):
            node = node.get("items")
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    return node


def places(doc: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every place in ``doc``: each value, object member and list item, outermost first."""
    yield path
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from places(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from places(value, (*path, index))


def at(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def values(schema: dict[str, Any] | None, name: str | int | None) -> st.SearchStrategy[Any]:
    """What to write where ``schema`` rules: mostly what it allows or nearly, sometimes anything."""
    options: list[st.SearchStrategy[Any]] = [WRONG_TYPES]
    if isinstance(name, str) and name in DOMAIN_VALUES:
        options += [st.sampled_from(DOMAIN_VALUES[name])] * 3
    if schema is None:
        return st.one_of(*options, TEXT).map(copy.deepcopy)
    if "enum" in schema:
        enum = schema["enum"]
        options += [st.sampled_from(enum)] * 2 + [
            st.sampled_from([str(v).upper() for v in enum] + [str(v) + " " for v in enum])
        ]
    kind = schema.get("type")
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
        options.append(st.sampled_from(["x" * n for n in {max(low - 1, 0), low, min(high, 300), min(high + 1, 301)}]))
        options.append(TEXT)
        if "pattern" in schema and "{{" not in schema["pattern"]:
            options.append(st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= 300))
    elif kind in ("integer", "number"):
        edges = [v for key in ("minimum", "maximum") if (v := schema.get(key)) is not None]
        near = [e + d for e in edges for d in (-1, 0, 1)] + [0, 1, -1]
        options.append(st.sampled_from(near))
        options.append(st.integers(-(2**64), 2**64))
        if kind == "number":
            options.append(st.floats(allow_nan=False, allow_infinity=False))
    elif kind == "boolean":
        options.append(st.booleans())
    elif kind == "array":
        options.append(st.lists(values(schema.get("items"), None), max_size=3))
        options.append(st.just([]))
    elif kind == "object":
        options.append(st.just({}))
    # A copy each time: a later change to this spec must not change the value another example draws.
    return st.one_of(*options).map(copy.deepcopy)


@dataclass(frozen=True)
class Spec:
    kind: str
    spec: dict[str, Any]
    changes: tuple[str, ...]


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    kind = draw(st.sampled_from(sorted(KINDS)))
    schema = SCHEMAS[kind]
    # Through JSON, not deepcopy: the full policy uses one selector object twice, and a change must reach one place.
    spec = json.loads(json.dumps(draw(st.sampled_from([KINDS[kind][1], MINIMAL[kind]]))))
    changes = []
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        path = draw(st.sampled_from(list(places(spec))))
        parent = at(spec, path[:-1]) if path else None
        node = at(spec, path)
        operation = draw(st.sampled_from(["set", "set", "set", "remove", "unknown", "absent"]))
        if operation == "remove" and path:
            del parent[path[-1]]
        elif operation == "unknown" and isinstance(node, dict):
            node[draw(st.sampled_from(["extra", "Name", "cooldowns", "x-1"]))] = copy.deepcopy(draw(WRONG_TYPES))
        elif operation == "absent" and isinstance(node, dict):  # a field the schema has that this spec leaves out
            known = schema_at(schema, path) or {}
            missing = sorted(set(known.get("properties", {})) - set(node))
            if not missing:
                continue
            name = draw(st.sampled_from(missing))
            node[name] = draw(values(schema_at(schema, (*path, name)), name))
            path = (*path, name)
        elif path:
            parent[path[-1]] = draw(
                values(
                    schema_at(schema, path),
                    path[-1] if isinstance(path[-1], str) else path[-2] if len(path) > 1 else None,
                )
            )
        else:
            continue
        changes.append(f"{operation} {'.'.join(map(str, path)) or 'spec'}")
    return Spec(kind, spec, tuple(changes))


# --- the judges ------------------------------------------------------------------------------------


@dataclass
class Judged:
    namespace: str
    kube: Any
    manifests: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[str, bool] = field(default_factory=dict)  # in-process lint, by object name
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)


def manifest(spec: Spec, name: str, namespace: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if spec.kind == "Runbook":
        metadata["namespace"] = namespace
    return {"apiVersion": "onduty.dev/v1alpha1", "kind": spec.kind, "metadata": metadata, "spec": spec.spec}


def as_applied(value: Any) -> Any:
    """What ``kubectl apply`` sends for a manifest: members set to null left out (apply reads null as "absent"),
    and a whole float as Go writes it, with no fraction (``2.0`` goes as ``2``).

    ``kubectl create`` sends the nulls, and strict validation then refuses an unknown one; lint judges as apply.
    A ``2.0`` sent as such reaches the API server as a float, which its CEL rules refuse where the schema
    says integer; no YAML a user applies with kubectl (or a GitOps tool, Go too) arrives that way.
    """
    if isinstance(value, dict):
        return {key: as_applied(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [as_applied(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:  # Go's strconv 'f' range
        return int(value)
    return value


def api_server(kube: Any, spec: Spec, body: dict[str, Any]) -> tuple[bool, str]:
    """The API server's verdict: a dry-run create, validated strictly, as ``kubectl apply --dry-run=server`` asks."""
    from onduty.adapters.kube import ApiRejected

    plural = KINDS[spec.kind][0]
    path = kube.custom_path(plural, body["metadata"].get("namespace"))
    try:
        kube.request("POST", path, query={"dryRun": "All", "fieldValidation": "Strict"}, body=as_applied(body))
    except ApiRejected as error:
        return False, str(error)
    return True, "ok"


def lint(body: dict[str, Any]) -> tuple[bool, str]:
    [finding] = manifests.check_document(body, "document 1")
    return finding.ok is True, finding.message


@pytest.fixture(scope="module")
def judged(cluster) -> Iterator[Judged]:
    from onduty.adapters.kube import Cluster, load_client

    namespace = f"t-fuzz-specs-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    api = load_client(cluster.kubeconfig)
    try:
        yield Judged(namespace, Cluster(api))
    finally:
        api.close()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def judge(judged: Judged, spec: Spec) -> None:
    name = f"fuzz-{len(judged.manifests)}"
    body = manifest(spec, name, judged.namespace)
    note(f"{spec.kind} after {list(spec.changes)}: {json.dumps(spec.spec, default=str)[:2000]}")
    api_ok, api_said = api_server(judged.kube, spec, copy.deepcopy(body))
    lint_ok, lint_said = lint(copy.deepcopy(body))
    webhook_problem = admission.spec_problem(KINDS[spec.kind][0], copy.deepcopy(spec.spec))
    judged.manifests.append(body)
    judged.verdicts[name] = lint_ok
    outcome = f"api {'accepts' if api_ok else 'refuses'}, lint {'accepts' if lint_ok else 'refuses'}"
    why = next((field for field, _, pattern in WEBHOOK_ONLY if pattern.search(lint_said)), "")
    judged.outcomes[f"{outcome} ({why})" if api_ok and not lint_ok else outcome] += 1

    said = f"\n  API server: {api_said}\n  onduty lint: {lint_said}\n  admission: {webhook_problem}"
    assert lint_ok == (webhook_problem is None), f"lint and the admission webhook disagree{said}"
    assert lint_ok == (api_ok and webhook_problem is None), (
        f"lint and the API server (with onduty's webhook) disagree{said}"
    )
    if api_ok and not lint_ok:
        assert why, f"the API server stores what onduty refuses, and no rule says why the CRD cannot refuse it{said}"


def lint_command(judged: Judged, tmp_path: Any) -> dict[str, bool]:
    """The real ``onduty lint`` over one file holding every spec judged: its verdict by object name."""
    path = tmp_path / "fuzzed.yaml"
    path.write_text(yaml.safe_dump_all(judged.manifests, sort_keys=False, allow_unicode=True))
    ran = subprocess.run(
        [sys.executable, "-m", "onduty.cli", "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    verdicts = {}
    for line in ran.stdout.splitlines() + ran.stderr.splitlines():
        if found := re.match(rf"{re.escape(str(path))}: \w+ (fuzz-\d+): (.*)$", line):
            verdicts[found[1]] = found[2] == "ok"
    return verdicts


# --- the tests ---------------------------------------------------------------------------------------

# Specs fuzzing found judged differently, kept as they were found: (id, kind, spec).
REGRESSIONS: list[tuple[str, str, dict[str, Any]]] = [
    # lint refused "matchLabels.tier: must be a string"; kubectl apply stores matchLabels {} (null is pruned).
    (
        "null-match-label-value",
        "RemediationPolicy",
        {"allowedActions": ["scale"], "scope": {"workloadSelector": {"matchLabels": {"tier": None, "app": "web"}}}},
    ),
    # lint refused "factor: must fit in a 64-bit integer"; the API server reads 2**63 as a float, which a number takes.
    (
        "integer-past-int64-as-a-factor",
        "Runbook",
        {**MINIMAL["Runbook"], "remediation": {"steps": [{"name": "s", "action": "scale", "factor": 2**63}]}},
    ),
    (
        "integer-past-float-as-a-factor",
        "Runbook",
        {**MINIMAL["Runbook"], "remediation": {"steps": [{"name": "s", "action": "scale", "factor": 10**400}]}},
    ),
    (
        "null-match-label-value-in-a-runbook",
        "Runbook",
        {**MINIMAL["Runbook"], "match": {"alertnames": ["HighErrorRate"], "labels": {"matchLabels": {"team": None}}}},
    ),
    # Sent as 2.0, the API server refused replicas that lint accepts: the step's CEL rules read the field,
    # and CEL takes no float where the schema says integer. kubectl sends 2 (seed 477056365).
    *(
        (
            f"integral-float-as-{field}",
            "Runbook",
            {**MINIMAL["Runbook"], "remediation": {"steps": [{"name": "s", "action": "scale", field: value}]}},
        )
        for field, value in (("replicas", 2.0), ("minReplicas", 0.0), ("maxReplicas", 10.0))
    ),
]


@pytest.mark.timeout(max(300, EXAMPLES // 4))
def test_lint_accepts_exactly_what_the_api_server_and_onduty_s_webhook_accept(
    judged: Judged, tmp_path, record_property
) -> None:
    seed = run_seed()
    started = time.perf_counter()

    @fuzzed(EXAMPLES, seed)
    @given(spec=specs())
    def check(spec: Spec) -> None:
        judge(judged, spec)

    try:
        check()
    except BaseException as error:
        error.add_note(f"fuzzing seed {seed}: ONDUTY_FUZZ_SEED={seed} replays this run")
        raise
    finally:
        record_property("seed", seed)
        record_property("specs", len(judged.manifests))
        record_property("seconds", time.perf_counter() - started)
        record_property("verdicts", ", ".join(f"{k}: {n}" for k, n in sorted(judged.outcomes.items())))

    assert lint_command(judged, tmp_path) == judged.verdicts  # the command says what its function said
    assert len(judged.outcomes) >= 2 or EXAMPLES < 50  # both verdicts were reached


@pytest.mark.parametrize(("kind", "spec"), [r[1:] for r in REGRESSIONS], ids=[r[0] for r in REGRESSIONS])
def test_specs_fuzzing_found_are_judged_alike(judged: Judged, kind: str, spec: dict[str, Any]) -> None:
    judge(judged, Spec(kind, spec, ("regression",)))
