"""Every field of every CRD carries a description, so `kubectl explain` reads like documentation.

The API server serves each field's `description` to `kubectl explain` and to editors that
complete manifests from the OpenAPI schema; a field without one shows `<no description>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

CRDS = sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))
# The API server refuses anything but `type` on an object's metadata (it is the standard
# ObjectMeta, described by Kubernetes itself), so the root's metadata is the one exception.
EXEMPT = {"metadata"}


def undescribed(schema: dict, path: str) -> Iterator[str]:
    """Yield the path of every schema under `schema` (itself included) whose description is empty."""
    if not str(schema.get("description") or "").strip():
        yield path or "(root)"
    for name, child in (schema.get("properties") or {}).items():
        if path or name not in EXEMPT:
            yield from undescribed(child, f"{path}.{name}" if path else name)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from undescribed(items, f"{path}[]")
    values = schema.get("additionalProperties")
    if isinstance(values, dict):
        yield from undescribed(values, f"{path}{{}}")


def stray_keys(schema: dict, path: str) -> Iterator[str]:
    """Yield `path: key` for every key without a value: an unquoted comma in a flow mapping
    (`{type: string, description: One, two}`) cuts the description and leaves `two` as a key."""
    for key, value in schema.items():
        if value is None:
            yield f"{path or '(root)'}: {key}"
    for name, child in (schema.get("properties") or {}).items():
        yield from stray_keys(child, f"{path}.{name}" if path else name)
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(schema.get(key), dict):
            yield from stray_keys(schema[key], path + suffix)


def test_there_are_crds_to_check():
    assert len(CRDS) == 8  # onduty's seven and Kopf's ClusterKopfPeering (--peering)


def test_the_walk_names_every_undescribed_field_object_array_and_map():
    schema = {
        "description": "root",
        "properties": {
            "metadata": {"type": "object"},
            "spec": {
                "description": "spec",
                "properties": {
                    "steps": {
                        "type": "array",
                        "items": {"properties": {"name": {"type": "string", "description": " "}}},
                    },
                    "labels": {"description": "labels", "additionalProperties": {"type": "string"}},
                    "kind": {"type": "string", "description": "described"},
                },
            },
        },
    }
    assert list(undescribed(schema, "")) == ["spec.steps", "spec.steps[]", "spec.steps[].name", "spec.labels{}"]


def test_a_comma_in_an_unquoted_flow_description_is_found():
    cut = yaml.safe_load("{type: object, properties: {type: {type: string, description: The type, e.g. Accepted.}}}")
    assert list(stray_keys(cut, "")) == ["type: e.g. Accepted."]


@pytest.mark.parametrize("crd_file", CRDS, ids=lambda p: p.stem.removeprefix("onduty.dev_"))
def test_every_crd_field_has_a_description(crd_file: Path):
    crd = yaml.safe_load(crd_file.read_text())
    plural = crd["spec"]["names"]["plural"]
    missing = [
        f"{plural} {version['name']} {path}" if len(crd["spec"]["versions"]) > 1 else f"{plural} {path}"
        for version in crd["spec"]["versions"]
        for path in undescribed(version["schema"]["openAPIV3Schema"], "")
    ]
    assert not missing, f"{len(missing)} CRD field(s) without a description:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("crd_file", CRDS, ids=lambda p: p.stem.removeprefix("onduty.dev_"))
def test_no_description_is_cut_short_by_a_comma(crd_file: Path):
    crd = yaml.safe_load(crd_file.read_text())
    stray = [
        path for version in crd["spec"]["versions"] for path in stray_keys(version["schema"]["openAPIV3Schema"], "")
    ]
    assert not stray, "keys without a value (quote a description that holds a comma):\n  " + "\n  ".join(stray)
