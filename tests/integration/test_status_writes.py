"""Status writes on the real API server: an object the writer already holds saves a read, never an edit."""

from __future__ import annotations

from typing import Any


def _incident(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    return kube.create(
        "incidents",
        namespace,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name},
            "spec": {"title": "status writes", "severity": "warning"},
        },
    )


def _note(text: str):
    def mutate(status: dict[str, Any], _: dict[str, Any]) -> list[str]:
        status["waitingFor"] = text
        return [text]

    return mutate


def test_a_current_known_object_is_written_without_reading_it_again(kube, namespace) -> None:
    known = _incident(kube, namespace, "current")

    written, result = kube.update_status("incidents", namespace, "current", _note("first"), known=known)

    assert result == ["first"]
    assert written["status"]["waitingFor"] == "first"
    assert kube.get("incidents", namespace, "current")["status"]["waitingFor"] == "first"


def test_a_stale_known_object_loses_nobodys_edit(kube, namespace) -> None:
    stale = _incident(kube, namespace, "stale")
    # Someone else writes after the writer last saw it.
    kube.merge_patch("incidents", namespace, "stale", {"status": {"phase": "Remediating"}}, status=True)

    written, _ = kube.update_status("incidents", namespace, "stale", _note("mine"), known=stale)

    # The write from the stale view was refused (resourceVersion), and the edit was made again on a fresh read.
    assert written["status"] == {**written["status"], "phase": "Remediating", "waitingFor": "mine"}
    assert kube.get("incidents", namespace, "stale")["status"]["phase"] == "Remediating"


def test_an_edit_that_changes_nothing_of_a_stale_view_is_judged_on_a_fresh_read(kube, namespace) -> None:
    _incident(kube, namespace, "fresh")
    kube.merge_patch("incidents", namespace, "fresh", {"status": {"waitingFor": "mine"}}, status=True)
    seen = kube.get("incidents", namespace, "fresh")
    kube.merge_patch("incidents", namespace, "fresh", {"status": {"waitingFor": "theirs"}}, status=True)

    # From the writer's view nothing changes; the API server's object says otherwise, and wins the judgement.
    written, _ = kube.update_status("incidents", namespace, "fresh", _note("mine"), known=seen)

    assert written["status"]["waitingFor"] == "mine"
    assert kube.get("incidents", namespace, "fresh")["status"]["waitingFor"] == "mine"
