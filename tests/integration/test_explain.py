"""`kubectl explain` on the installed CRDs reads like documentation: every field says what it is."""

from __future__ import annotations

import pytest

UNDOCUMENTED = ("<no description>", "<empty>")


@pytest.mark.parametrize(
    ("field", "phrases"),
    [
        (
            "runbook.spec.remediation.steps",
            ["tried in order, each at most once per incident", "unique in the runbook", "How onduty decides"],
        ),
        (
            "remediationpolicy.spec.maintenanceWindows",
            ["actions run only inside one of these windows", "RFC 3339 with a UTC offset", "Europe/Berlin"],
        ),
    ],
)
def test_explain_describes_every_field(cluster, field, phrases):
    out = cluster.kubectl("explain", field, "--api-version=onduty.dev/v1alpha1").stdout
    assert not [marker for marker in UNDOCUMENTED if marker in out], out
    # Each phrase is folded onto one line by the API server; kubectl wraps it again, so compare words.
    words = " ".join(out.split())
    for phrase in phrases:
        assert phrase in words, f"{phrase!r} not in kubectl explain {field}:\n{out}"
