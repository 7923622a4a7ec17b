"""HTTP checks: which Service port and endpoints are probed, and what their answers say."""

from __future__ import annotations

import pytest

from onduty.domain import diagnostics as d

SERVICE = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 9}]}}


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(None, ("http", 80)), ("admin", ("admin", 9)), (9, ("admin", 9)), ("80", ("http", 80))],
)
def test_the_service_port_by_number_or_name(wanted: int | str | None, expected: tuple[str, int]) -> None:
    assert d.service_port(SERVICE, wanted) == expected


def test_an_unknown_service_port_is_an_error_listing_the_ports() -> None:
    with pytest.raises(d.ServicePortError, match=r"Service web has no port 8080 \(it has http/80, admin/9\)"):
        d.service_port(SERVICE, 8080)


def test_only_ready_endpoints_on_the_matching_port_are_probed_at_most_ten() -> None:
    slices = [
        {
            "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9000}],
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "targetRef": {"name": "web-1"}},
                {"addresses": ["10.0.0.2"], "conditions": {}},  # unset means ready
                {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
                {"addresses": ["10.0.0.4"], "conditions": {"ready": True, "terminating": True}},
            ],
        },
        {"ports": [{"name": "other", "port": 1}], "endpoints": [{"addresses": ["10.9.9.9"]}]},
        {"ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": [f"10.1.0.{i}"]} for i in range(12)]},
    ]

    plan = d.endpoints_to_probe(slices, "http")

    assert len(plan.probe) == 10
    assert plan.probe[0] == d.Endpoint("10.0.0.1", 8080, "web-1")
    assert (plan.not_ready, plan.not_probed) == (2, 4)
    assert d.Endpoint("fd00::1", 80).url_host == "[fd00::1]"


def test_http_check_summary_counts_healthy_endpoints_and_names_the_failing_ones() -> None:
    spec = d.HttpCheck(name="h", type="httpCheck", service="web", path="/healthz")
    a, b, c = d.Endpoint("10.0.0.1", 8080, "web-1"), d.Endpoint("10.0.0.2", 8080), d.Endpoint("10.0.0.3", 8080)
    probes = [
        d.Probe(a, "http://10.0.0.1:8080/healthz", status=200, latency_ms=12.34),
        d.Probe(b, "http://10.0.0.2:8080/healthz", status=503, latency_ms=3.0, body="overloaded"),
        d.Probe(c, "http://10.0.0.3:8080/healthz", error="timed out after 2s"),
    ]

    result = d.http_check_result(spec, ("http", 80), d.EndpointPlan([a, b, c], 1, 0), probes)

    assert result.summary == (
        "Service web: 1/3 endpoints answer GET /healthz with 2xx/3xx (median 12 ms);"
        " 10.0.0.2:8080 503; 10.0.0.3:8080 timed out after 2s; 1 not ready"
    )
    assert result.details["endpoints"][-1] == {
        "url": "http://10.0.0.1:8080/healthz",
        "pod": "web-1",
        "status": 200,
        "latencyMs": 12.3,
    }
    assert result.details["endpoints"][0]["body"] == "overloaded"
