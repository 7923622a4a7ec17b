"""A Notifier object: which vendor, its settings, and the Secret that holds its credentials.

``spec.type`` names the channel; the settings live under a key of the same
name (``spec.slack``, ``spec.jira`` …) and each channel checks its own;
credentials come only from the Secret ``spec.secretRef.name`` in the
Notifier's namespace (which keys, per type, is in :data:`SECRET_KEYS`). The
Secret's values never leave the delivery: not in status, Events, logs or
errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError

from onduty.domain.notify.cachet import CachetChannel
from onduty.domain.notify.channel import Channel, Credentials, InvalidConfig, Kind, MissingCredential
from onduty.domain.notify.discord import DiscordChannel
from onduty.domain.notify.github import GitHubChannel
from onduty.domain.notify.jira import JiraChannel
from onduty.domain.notify.linear import LinearChannel
from onduty.domain.notify.opsgenie import OpsgenieChannel
from onduty.domain.notify.pagerduty import PagerDutyChannel
from onduty.domain.notify.slack import SlackChannel
from onduty.domain.notify.statuspage import StatuspageChannel
from onduty.domain.notify.teams import TeamsChannel
from onduty.domain.notify.webhook import WebhookChannel
from onduty.domain.specs import SpecModel

Type = Literal[
    "slack", "teams", "discord", "webhook", "pagerduty", "opsgenie", "statuspage", "cachet", "jira", "github", "linear"
]
CHANNELS: dict[str, Callable[[Mapping[str, Any], Credentials], Channel]] = {
    "slack": SlackChannel,
    "teams": TeamsChannel,
    "discord": DiscordChannel,
    "webhook": WebhookChannel,
    "pagerduty": PagerDutyChannel,
    "opsgenie": OpsgenieChannel,
    "statuspage": StatuspageChannel,
    "cachet": CachetChannel,
    "jira": JiraChannel,
    "github": GitHubChannel,
    "linear": LinearChannel,
}
# The Secret keys each type reads (the first group is required; slack needs one of the two).
SECRET_KEYS: dict[str, str] = {
    "slack": "webhookURL (incoming webhook) or token (bot, with chat:write); signingSecret for buttons",
    "teams": "webhookURL",
    "discord": "webhookURL",
    "webhook": "url, signingSecret",
    "pagerduty": "routingKey; webhookSecret for acknowledgements from PagerDuty",
    "opsgenie": "apiKey; webhookToken for acknowledgements from Opsgenie",
    "statuspage": "apiKey",
    "cachet": "apiToken",
    "jira": "email, apiToken",
    "github": "token",
    "linear": "apiKey",
}
PAGERS = frozenset({"pagerduty", "opsgenie"})


class InvalidNotifier(ValueError):
    """The Notifier cannot deliver; the message names the field (or Secret key) and never a credential."""


class SecretRef(SpecModel):
    name: str = Field(min_length=1, max_length=253)


class NotifierSpec(SpecModel):
    type: Type
    secret_ref: SecretRef = Field(alias="secretRef")
    # Only these kinds of notice reach the channel; empty: every kind.
    events: tuple[Kind, ...] = ()
    slack: dict[str, Any] | None = None
    teams: dict[str, Any] | None = None
    discord: dict[str, Any] | None = None
    webhook: dict[str, Any] | None = None
    pagerduty: dict[str, Any] | None = None
    opsgenie: dict[str, Any] | None = None
    statuspage: dict[str, Any] | None = None
    cachet: dict[str, Any] | None = None
    jira: dict[str, Any] | None = None
    github: dict[str, Any] | None = None
    linear: dict[str, Any] | None = None

    @property
    def settings(self) -> Mapping[str, Any]:
        return getattr(self, self.type) or {}

    def wants(self, kind: Kind) -> bool:
        return not self.events or kind in self.events


def parse_notifier(spec: Mapping[str, Any]) -> NotifierSpec:
    try:
        return NotifierSpec.model_validate(dict(spec))
    except ValidationError as e:
        error = e.errors()[0]
        where = "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        value = error.get("input")
        shown = f" ({value!r})" if isinstance(value, str | int | float) else ""
        raise InvalidNotifier(f"{where}{shown}: {error['msg'].removeprefix('Value error, ')}") from e


def channel_for(spec: NotifierSpec, credentials: Credentials) -> Channel:
    """The channel, or :class:`InvalidNotifier` saying which setting or Secret key is wrong."""
    try:
        return CHANNELS[spec.type](spec.settings, credentials)
    except MissingCredential as e:
        raise InvalidNotifier(
            f"the Secret {spec.secret_ref.name} has no key {e.args[0]!r} (a {spec.type} Notifier reads "
            f"{SECRET_KEYS[spec.type]})"
        ) from e
    except InvalidConfig as e:
        raise InvalidNotifier(f"spec.{e}" if not str(e).startswith("spec.") else str(e)) from e
