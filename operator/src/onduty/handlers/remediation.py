"""The Kopf side of remediation: run one incident's worker, and classify its errors for Kopf.

The work itself is :class:`onduty.services.remediation.IncidentWorker`; this
module only turns what the API server said into Kopf's terms, never a tight
loop. An unreachable or overloaded API server is temporary (Kopf starts the
worker again after a jittered delay; all state is in the API server, so it
resumes where it was). A request the API server refuses for good (4xx) will
not succeed by repeating it: the incident escalates with the error and
automation stops for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import kopf

from onduty.adapters.kube import ApiRejected, ApiUnavailable
from onduty.domain.policies import InvalidPolicy, Policy
from onduty.domain.runbooks import RunbookRef
from onduty.handlers.events import poster
from onduty.handlers.runtime import Runtime
from onduty.services.remediation import IncidentWorker

# When the API server could not answer, Kopf starts the worker again after this
# many seconds: long enough not to add to an overloaded API server's load,
# jittered so a storm of incidents does not come back in step.
RETRY_DELAY_SECONDS = (5.0, 15.0)


async def remediate(
    runtime: Runtime,
    namespace: str,
    name: str,
    runbooks: Callable[[str], Iterable[RunbookRef]],
    policies_in_force: Callable[[], list[Policy | InvalidPolicy]],
) -> None:
    """Drive incident ``namespace/name`` until automation has nothing more to do for it."""
    worker = IncidentWorker(runtime, namespace, name, runbooks, policies_in_force, emit=poster(runtime))
    try:
        await worker.run()
    except ApiUnavailable as error:
        runtime.observed.reconcile_errors.labels("incidents", "ApiUnavailable").inc()
        raise kopf.TemporaryError(
            f"API server unavailable: {error}", delay=random.uniform(*RETRY_DELAY_SECONDS)
        ) from error
    except ApiRejected as error:
        runtime.observed.reconcile_errors.labels("incidents", "ApiRejected").inc()
        await worker.give_up(error)
        raise kopf.PermanentError(f"automation stopped for this incident: {error}") from error
