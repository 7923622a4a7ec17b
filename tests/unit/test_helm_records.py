"""Helm release records as Helm stores them: base64 of base64 of gzip of JSON, reduced to what `helm history` shows."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from onduty.adapters.helm import MAX_RELEASE_BYTES, HelmRecordError, decode_release, summary_fields

RECORD: dict[str, Any] = {
    "name": "shop",
    "namespace": "apps",
    "version": 3,
    "info": {
        "status": "deployed",
        "description": "Upgrade complete",
        "first_deployed": "2024-05-01T10:00:00.123456789Z",
        "last_deployed": "2024-05-01T12:00:00.987654321+02:00",
        "notes": "long NOTES.txt",
    },
    "chart": {"metadata": {"name": "web", "version": "1.2.3", "appVersion": "2.0", "home": "x"}, "templates": []},
    "config": {"db": {"password": "hunter2"}},
    "manifest": "---\napiVersion: v1\nkind: Secret\n",
}


def _as_secret_data(payload: bytes) -> str:
    """What the API server returns in data.release: base64 of Helm's own base64."""
    return base64.b64encode(base64.b64encode(payload)).decode()


def test_a_record_decodes_as_helm_wrote_it() -> None:
    assert decode_release(_as_secret_data(gzip.compress(json.dumps(RECORD).encode()))) == RECORD


def test_an_uncompressed_record_is_read_too() -> None:
    assert decode_release(_as_secret_data(json.dumps(RECORD).encode())) == RECORD


def test_only_what_helm_history_shows_is_kept() -> None:
    kept = summary_fields(RECORD)

    assert kept == {
        "name": "shop",
        "namespace": "apps",
        "version": 3,
        "info": {
            "status": "deployed",
            "description": "Upgrade complete",
            "first_deployed": "2024-05-01T10:00:00.123456789Z",
            "last_deployed": "2024-05-01T12:00:00.987654321+02:00",
        },
        "chart": {"metadata": {"name": "web", "version": "1.2.3", "appVersion": "2.0"}},
    }
    assert "hunter2" not in json.dumps(kept)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not base64!", "not base64"),
        (_as_secret_data(b"\x1f\x8b\x08garbage"), "not valid gzip"),
        (_as_secret_data(b"{not json"), "not JSON"),
        (_as_secret_data(b"[1, 2]"), "not a JSON object"),
    ],
)
def test_a_record_helm_did_not_write_is_refused(data: str, message: str) -> None:
    with pytest.raises(HelmRecordError, match=message):
        decode_release(data)


def test_a_record_that_inflates_beyond_the_bound_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (MAX_RELEASE_BYTES + 1024))

    with pytest.raises(HelmRecordError, match="inflates to more than"):
        decode_release(_as_secret_data(bomb))
