"""onduty: automate the predictable part of incident response on Kubernetes.

Alertmanager alerts become ``Alert`` objects (through :mod:`onduty.bridge`); the
operator (:mod:`onduty.handlers`) groups them into ``Incident`` objects, matches
``Runbook`` objects and runs bounded, idempotent remediations, recording every
step in the incident's status and Events.

Layers (enforced by import-linter, see ``pyproject.toml``)::

    cli → handlers | bridge → services → adapters → domain

The handlers are Kopf's side (decorators, guards, Kopf's errors and Events);
the services are the use cases (:mod:`onduty.services.remediation` drives an
incident), reading and writing through the adapters and deciding with the domain.

The domain is pure: it takes ``now`` and state as arguments and returns
decisions as values.
"""

__version__ = "0.1.0"
GROUP = "onduty.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
