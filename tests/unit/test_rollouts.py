"""Is a rollout finished? The rules ``kubectl rollout status`` applies."""

from __future__ import annotations

from typing import Any

import pytest

from onduty.domain.rollouts import rollout_state


def _obj(spec: dict[str, Any], status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": "x", "generation": generation}, "spec": spec, "status": status}


def _deploy(
    want: int = 3, *, observed: int = 2, conditions: list[dict[str, str]] | None = None, **counts: int
) -> dict[str, Any]:
    status = {
        "observedGeneration": observed,
        "conditions": conditions or [],
        "updatedReplicas": 3,
        "replicas": 3,
        "availableReplicas": 3,
    }
    return _obj({"replicas": want}, status | counts)


DEADLINE = {
    "type": "Progressing",
    "status": "False",
    "reason": "ProgressDeadlineExceeded",
    "message": 'ReplicaSet "web-7d4b9c8f6d" has timed out progressing.',
}
PROGRESSING = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": ""}


@pytest.mark.parametrize(
    ("obj", "done", "failed", "message_part"),
    [
        pytest.param(_deploy(observed=1), False, False, "observe the new generation", id="generation-not-observed"),
        pytest.param(_deploy(updatedReplicas=1), False, False, "1 of 3", id="updated-below-wanted"),
        pytest.param(_deploy(replicas=4), False, False, "1 old replicas are pending termination", id="old-pending"),
        pytest.param(_deploy(availableReplicas=2), False, False, "2 of 3 updated replicas are available", id="unavail"),
        pytest.param(_deploy(), True, False, "all 3 replicas updated and available", id="done"),
        pytest.param(_deploy(conditions=[PROGRESSING]), True, False, "all 3", id="done-while-progressing-true"),
        pytest.param(
            _deploy(updatedReplicas=1, conditions=[PROGRESSING, DEADLINE]),
            False,
            True,
            "exceeded its progress deadline: ReplicaSet",
            id="progress-deadline-exceeded",
        ),
        pytest.param(_obj({}, {"observedGeneration": 2}), False, False, "0 of 1", id="replicas-default-to-one"),
        pytest.param(
            _obj({"replicas": 1}, None, generation=1), False, False, "observe", id="new-object-without-status"
        ),
        pytest.param(
            _obj({"replicas": 0}, {"observedGeneration": 2}), True, False, "all 0", id="scaled-to-zero-is-done"
        ),
    ],
)
def test_deployment_rollout_state(obj: dict[str, Any], done: bool, failed: bool, message_part: str) -> None:
    state = rollout_state("Deployment", obj)

    assert (state.done, state.failed) == (done, failed)
    assert message_part in state.message


def _sts(want: int = 3, *, partition: int | None = None, **status: Any) -> dict[str, Any]:
    base = {
        "observedGeneration": 2,
        "readyReplicas": 3,
        "updatedReplicas": 3,
        "currentRevision": "db-6b7f9c8d4",
        "updateRevision": "db-6b7f9c8d4",
    }
    spec: dict[str, Any] = {"replicas": want, "updateStrategy": {"type": "RollingUpdate"}}
    if partition is not None:
        spec["updateStrategy"]["rollingUpdate"] = {"partition": partition}
    return _obj(spec, base | status)


@pytest.mark.parametrize(
    ("obj", "done", "message_part"),
    [
        pytest.param(_sts(observedGeneration=1), False, "observe the new generation", id="generation-not-observed"),
        pytest.param(_sts(readyReplicas=2), False, "2 of 3 pods are ready", id="not-ready"),
        pytest.param(
            _sts(updatedReplicas=1, updateRevision="db-5c8d7b9f6"), False, "1 of 3 pods updated", id="rolling"
        ),
        pytest.param(_sts(updatedReplicas=2), False, "2 of 3 pods updated", id="revision-same-but-not-all-updated"),
        pytest.param(_sts(), True, "all 3 pods updated and ready", id="done"),
        # kubectl rollout status: with a partition, done once the replicas at or above it
        # are updated (the revisions differ by design until the partition is lowered).
        pytest.param(
            _sts(partition=2, updatedReplicas=1, updateRevision="db-5c8d7b9f6"),
            True,
            "",
            id="partitioned-rollout-complete",
        ),
    ],
)
def test_statefulset_rollout_state(obj: dict[str, Any], done: bool, message_part: str) -> None:
    state = rollout_state("StatefulSet", obj)

    assert (state.done, state.failed) == (done, False)
    assert message_part in state.message


def _ds(**status: int) -> dict[str, Any]:
    base = {"observedGeneration": 2, "desiredNumberScheduled": 4, "updatedNumberScheduled": 4, "numberAvailable": 4}
    return _obj({}, base | status)


@pytest.mark.parametrize(
    ("obj", "done", "message_part"),
    [
        pytest.param(_ds(observedGeneration=1), False, "observe the new generation", id="generation-not-observed"),
        pytest.param(_ds(updatedNumberScheduled=1), False, "1 of 4 updated pods are scheduled", id="updating"),
        pytest.param(_ds(numberAvailable=3), False, "3 of 4 updated pods are available", id="not-available"),
        pytest.param(_ds(), True, "all 4 pods updated and available", id="done"),
        pytest.param(
            _ds(desiredNumberScheduled=0, updatedNumberScheduled=0, numberAvailable=0), True, "all 0", id="no-nodes"
        ),
    ],
)
def test_daemonset_rollout_state(obj: dict[str, Any], done: bool, message_part: str) -> None:
    state = rollout_state("DaemonSet", obj)

    assert (state.done, state.failed) == (done, False)
    assert message_part in state.message


def test_an_unsupported_kind_fails_naming_the_kind() -> None:
    state = rollout_state("ReplicaSet", _obj({"replicas": 1}, {"observedGeneration": 2}))

    assert (state.done, state.failed) == (False, True)
    assert "ReplicaSet" in state.message
