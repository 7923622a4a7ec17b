"""The alert-storm benchmark (``hack/bench_storm.py``, ``make bench-storm``), run small so it cannot rot.

The same code as the full run, 300 alerts: an HA pair's duplicate deliveries and retries after
dropped connections still make exactly one Alert per alert instance, none is lost, and every
incident ends resolved. The writes are checked against the bound (one per alert state change plus
a constant per incident) as counted by the API server itself. No timing is asserted: the
benchmark prints figures, a test on a busy machine could only guess at them.

The write bound here is today's, not issue 11's target of one write per alert state change:
the alert-to-incident path still writes each Alert after the bridge does (its incident label
and owner, ``status.incident``, Kopf's last-handled annotation after each handling), posts an
Event per alert joining and resolving, and writes the incident's status in small batches.
That is about six writes per state change; eight leaves room for conflicts on a busy machine
and still catches a path that starts writing per alert again. Lower it with the redesign.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from bench_storm import namespaces_of, report, run_storm
from kit import drop_namespace

# See the module docstring: today's bound, to be lowered to 1 write per state change.
WRITES_PER_STATE_CHANGE = 8
WRITES_PER_INCIDENT = 10


def test_an_alert_storm_loses_nothing_duplicates_nothing_and_resolves_every_incident(cluster, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:5]
    try:
        result = run_storm(
            cluster.kubeconfig,
            tmp_path,
            alerts=300,
            seed=7,
            concurrency=8,
            probes=1,
            per_change_allowed=WRITES_PER_STATE_CHANGE,
            per_incident_allowed=WRITES_PER_INCIDENT,
            timeout=240,
            quiet=True,
            run=run,
        )
    finally:
        for namespace in namespaces_of(run):
            drop_namespace(cluster, namespace)
        cluster.kubectl("delete", "remediationpolicies.onduty.dev", namespaces_of(run)[4], check=False)
    summary = "\n".join(report(result))  # the benchmark's own figures, shown if anything fails

    assert result.incidents > 0 and result.dropped_connections > 0, f"the storm was not a storm:\n{summary}"
    assert result.lost == 0, summary
    assert result.duplicated == 0 and result.unexpected == 0, summary
    assert result.unresolved_alerts == 0, summary
    assert result.unresolved_incidents == 0, summary
    assert result.failed_deliveries == 0, summary
    assert result.within_bound, summary
