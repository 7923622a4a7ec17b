"""Helm's release records, read from the cluster as Helm itself stores them (no helm binary).

Helm 3's default storage driver keeps one Secret per revision of a release:
``sh.helm.release.v1.<release>.v<revision>``, type ``helm.sh/release.v1``,
labels ``owner=helm``, ``name=<release>``, ``status``, ``version``. Its
``data.release`` is base64 (the Secret's own encoding) of base64 of gzip of the
release JSON (``name``, ``version``, ``namespace``, ``info``, ``chart``,
``config``, ``manifest``).

Only what ``helm history`` shows leaves this module: the values (``config``,
which may hold credentials), the rendered manifest and the chart's templates
are dropped as soon as a record is decoded. Releases stored with the
ConfigMap or SQL drivers are not read.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from onduty.adapters.kube import Cluster, segment

RELEASE_SECRET_TYPE = "helm.sh/release.v1"
# A release record holds the rendered manifest: a few MiB for a big chart. Past
# this, the record is refused rather than inflated (a gzip bomb in a Secret
# someone could write must not take the operator's memory).
MAX_RELEASE_BYTES = 32 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b\x08"


class HelmRecordError(ValueError):
    """A release Secret that does not decode as Helm writes it."""


def decode_release(value: str) -> dict[str, Any]:
    """The release JSON from a Secret's ``data.release`` (as the API returns it: base64 text)."""
    try:
        helm_encoded = base64.b64decode(value, validate=True)
        data = base64.b64decode(helm_encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise HelmRecordError(f"release record is not base64: {error}") from error
    if data.startswith(_GZIP_MAGIC):  # Helm gzips; very old records are plain JSON
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(data, MAX_RELEASE_BYTES)
        except zlib.error as error:
            raise HelmRecordError(f"release record is not valid gzip: {error}") from error
        if inflater.unconsumed_tail:
            raise HelmRecordError(f"release record inflates to more than {MAX_RELEASE_BYTES} bytes")
    try:
        record = json.loads(data)
    except ValueError as error:
        raise HelmRecordError(f"release record is not JSON: {error}") from error
    if not isinstance(record, dict):
        raise HelmRecordError("release record is not a JSON object")
    return record


def summary_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What ``helm history`` shows of a record, and nothing else."""
    chart = (record.get("chart") or {}).get("metadata") or {}
    return {
        "name": record.get("name"),
        "namespace": record.get("namespace"),
        "version": record.get("version"),
        "info": {
            k: v
            for k, v in (record.get("info") or {}).items()
            if k in ("status", "description", "first_deployed", "last_deployed")
        },
        "chart": {"metadata": {k: chart.get(k) for k in ("name", "version", "appVersion") if k in chart}},
    }


def release_history(cluster: Cluster, namespace: str, release: str) -> list[dict[str, Any]]:
    """Every stored revision of ``release`` in ``namespace``, reduced to :func:`summary_fields`, any order."""
    listed = cluster.request(
        "GET",
        f"/api/v1/namespaces/{segment(namespace)}/secrets",
        query={"labelSelector": f"owner=helm,name={release}"},
    )
    records = []
    for item in listed.get("items") or []:
        if item.get("type") != RELEASE_SECRET_TYPE:
            continue
        value = (item.get("data") or {}).get("release")
        if not value:
            continue
        try:
            records.append(summary_fields(decode_release(value)))
        except HelmRecordError as error:
            raise HelmRecordError(f"Secret {namespace}/{item['metadata']['name']}: {error}") from error
    return records
