"""Who a Slack, PagerDuty or Opsgenie user is in Kubernetes.

A button pressed in Slack or an acknowledgement in PagerDuty arrives as a
vendor's user id. onduty acts on it only for a person the platform owners
mapped, in the ConfigMap ``onduty-responders`` of onduty's own namespace
(key ``responders.yaml``), and only after asking the API server (a
SubjectAccessReview) whether that Kubernetes identity may acknowledge or
approve there. The mapping is the platform's, never a namespace's: a
namespace editor who could write it could make onduty act in anyone's name.

::

    - user: alice@example.com          # the Kubernetes username (as the API server authenticates her)
      groups: [oncall]                 # optional: groups the access review should consider
      slack: U012ABCDEF                # Slack user id
      pagerduty: [PABC123, Alice Doe]  # PagerDuty user id or name (webhooks name the agent)
      opsgenie: alice@example.com      # Opsgenie username
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

CONFIGMAP = "onduty-responders"
KEY = "responders.yaml"
CHANNELS = ("slack", "pagerduty", "opsgenie")
# A platform's on-call population: hundreds, not hundreds of thousands.
MAX_RESPONDERS = 2000


class InvalidResponders(ValueError):
    """The mapping cannot be read; the message names the entry and the field."""


@dataclass(frozen=True)
class Responder:
    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Responders:
    by_channel: Mapping[tuple[str, str], Responder]

    def find(self, channel: str, external: str) -> Responder | None:
        """The responder a vendor's user id (or name) maps to; ids compare exactly, names case-insensitively."""
        return self.by_channel.get((channel, external)) or self.by_channel.get((channel, external.casefold()))


def parse_responders(text: str | None) -> Responders:
    if not text:
        return Responders({})
    try:
        entries = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidResponders(f"{CONFIGMAP}/{KEY} is not YAML: {e}") from e
    if not isinstance(entries, list):
        raise InvalidResponders(f"{CONFIGMAP}/{KEY} must be a list of responders")
    if len(entries) > MAX_RESPONDERS:
        raise InvalidResponders(f"{CONFIGMAP}/{KEY} has {len(entries)} responders, more than {MAX_RESPONDERS}")
    found: dict[tuple[str, str], Responder] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("user"), str) or not entry["user"].strip():
            raise InvalidResponders(f"{KEY}[{i}].user: every responder needs a Kubernetes username")
        groups = entry.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise InvalidResponders(f"{KEY}[{i}].groups: must be a list of group names")
        responder = Responder(entry["user"].strip(), tuple(groups))
        for channel in CHANNELS:
            for external in _ids(entry.get(channel), f"{KEY}[{i}].{channel}"):
                key = (channel, external)
                if key in found and found[key] != responder:
                    raise InvalidResponders(
                        f"{KEY}[{i}].{channel}: {external!r} is already mapped to {found[key].user}"
                    )
                found[key] = responder
                found[(channel, external.casefold())] = responder
    return Responders(found)


def _ids(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise InvalidResponders(f"{where}: must be a user id or name, or a list of them")
    return [v.strip() for v in values]
