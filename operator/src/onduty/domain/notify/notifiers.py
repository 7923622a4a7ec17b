"""A Notifier object: which vendor, its settings, and the Secret that holds its credentials.

``spec.type`` names the channel; the settings live under a key of the same
name (``spec.slack``, ``spec.jira`` …). :func:`parse_notifier` reads every
block as the CRD types it, so ``onduty lint`` refuses what ``kubectl apply``
would; the channel then checks what the values mean when it is built.
Credentials come only from the Secret ``spec.secretRef.name`` in the
Notifier's namespace (which keys, per type, is in :data:`SECRET_KEYS`). The
Secret's values never leave the delivery: not in status, Events, logs or
errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

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
from onduty.domain.specs import DNS_SUBDOMAIN, Problems, SpecModel, SpecRoot, describe_validation_error, distinct

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


# --- the settings, as the CRD types them ------------------------------------------------------
#
# Each type's block is checked here as the API server checks it (types, enums, patterns,
# lengths), so ``onduty lint`` refuses what ``kubectl apply`` would. What a value means is
# its channel's to check when the Notifier is used: whether a URL may be connected to
# (onduty.domain.notify.destinations), or what the Secret's keys say (slack's mode).

URL_CHARS = 2048
# Ids that become a path segment of a vendor's API (Statuspage's, Linear's): no '/', no '..'.
STATUSPAGE_ID = r"^[A-Za-z0-9_-]+$"
LINEAR_ID = r"^[A-Za-z0-9-]+$"
JIRA_PROJECT_KEY = r"^[A-Z][A-Z0-9_]+$"
JIRA_TRANSITION_ID = r"^[0-9]+$"
JIRA_LABEL = r"^[^ \t\n\f\r\v]+$"  # Jira refuses a label with a space
# GitHub's own rules for account and repository names ('.' and '..' are not repositories).
GITHUB_OWNER = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
GITHUB_REPO = r"^(\.?[A-Za-z0-9_-]|\.\.[A-Za-z0-9._-])[A-Za-z0-9._-]*$"
ComponentStatus = Literal["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]


class _Settings(SpecModel):
    pass


class SlackSettings(_Settings):
    mode: Literal["webhook", "bot"] | None = None
    channel: str | None = Field(default=None, max_length=80)
    api_url: str | None = Field(default=None, alias="apiURL", max_length=URL_CHARS)


class NoSettings(_Settings):
    """Teams and generic webhooks: everything they need is in the Secret."""


class DiscordSettings(_Settings):
    username: str | None = Field(default=None, max_length=80)


class EndpointSettings(_Settings):
    """PagerDuty and Opsgenie: only where their API is."""

    url: str | None = Field(default=None, max_length=URL_CHARS)


class StatuspageStatuses(_Settings):
    critical: ComponentStatus | None = None
    error: ComponentStatus | None = None
    warning: ComponentStatus | None = None
    info: ComponentStatus | None = None


class StatuspageSettings(_Settings):
    page_id: str = Field(alias="pageId", max_length=64, pattern=STATUSPAGE_ID)
    component_ids: tuple[Annotated[str, Field(max_length=64, pattern=STATUSPAGE_ID)], ...] = Field(
        default=(), alias="componentIds", max_length=20
    )
    component_status_by_severity: StatuspageStatuses | None = Field(default=None, alias="componentStatusBySeverity")
    deliver_notifications: bool | None = Field(default=None, alias="deliverNotifications")
    incident_name: str | None = Field(default=None, alias="incidentName", max_length=255)
    url: str | None = Field(default=None, max_length=URL_CHARS)


CachetStatus = Annotated[int, Field(ge=1, le=4)]


class CachetStatuses(_Settings):
    critical: CachetStatus | None = None
    error: CachetStatus | None = None
    warning: CachetStatus | None = None
    info: CachetStatus | None = None


class CachetSettings(_Settings):
    url: str = Field(max_length=URL_CHARS)
    component_id: int | None = Field(default=None, alias="componentId", ge=1)
    component_status_by_severity: CachetStatuses | None = Field(default=None, alias="componentStatusBySeverity")
    notify: bool | None = None
    visible: bool | None = None
    incident_name: str | None = Field(default=None, alias="incidentName", max_length=255)


class JiraSettings(_Settings):
    url: str = Field(max_length=URL_CHARS)
    project_key: str = Field(alias="projectKey", max_length=32, pattern=JIRA_PROJECT_KEY)
    issue_type: str | None = Field(default=None, alias="issueType", max_length=64)
    labels: tuple[Annotated[str, Field(min_length=1, max_length=255, pattern=JIRA_LABEL)], ...] = Field(
        default=(), max_length=20
    )
    # Transition ids differ per workflow, so they are given, never guessed; resolving is what a ticket is for.
    resolve_transition_id: str = Field(alias="resolveTransitionId", max_length=10, pattern=JIRA_TRANSITION_ID)
    acknowledge_transition_id: str | None = Field(
        default=None, alias="acknowledgeTransitionId", max_length=10, pattern=JIRA_TRANSITION_ID
    )


class GitHubSettings(_Settings):
    owner: str = Field(max_length=39, pattern=GITHUB_OWNER)
    repo: str = Field(max_length=100, pattern=GITHUB_REPO)
    labels: tuple[Annotated[str, Field(min_length=1, max_length=50)], ...] = Field(default=(), max_length=20)
    url: str | None = Field(default=None, max_length=URL_CHARS)


LinearPriority = Annotated[int, Field(ge=0, le=4)]


class LinearPriorities(_Settings):
    critical: LinearPriority | None = None
    error: LinearPriority | None = None
    warning: LinearPriority | None = None
    info: LinearPriority | None = None


class LinearSettings(_Settings):
    team_id: str = Field(alias="teamId", max_length=64, pattern=LINEAR_ID)
    # The workflow state a resolved incident's issue moves to; states differ per team, so it is given.
    resolved_state_id: str = Field(alias="resolvedStateId", max_length=64, pattern=LINEAR_ID)
    priority: LinearPriorities | None = None
    url: str | None = Field(default=None, max_length=URL_CHARS)


# The types whose block is required: what they need (a page, a project) has no default.
REQUIRED_SETTINGS: dict[str, str] = {
    "statuspage": "spec.statuspage (pageId) is required for type statuspage",
    "cachet": "spec.cachet (url) is required for type cachet",
    "jira": "spec.jira (url, projectKey, resolveTransitionId) is required for type jira",
    "github": "spec.github (owner, repo) is required for type github",
    "linear": "spec.linear (teamId, resolvedStateId) is required for type linear",
}


class SecretRef(SpecModel):
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN)


class NotifierSpec(SpecRoot):
    type: Type
    secret_ref: SecretRef = Field(alias="secretRef")
    # Only these kinds of notice reach the channel; empty: every kind.
    events: Annotated[tuple[Kind, ...], AfterValidator(distinct)] = Field(default=(), max_length=len(Kind))
    slack: SlackSettings | None = None
    teams: NoSettings | None = None
    discord: DiscordSettings | None = None
    webhook: NoSettings | None = None
    pagerduty: EndpointSettings | None = None
    opsgenie: EndpointSettings | None = None
    statuspage: StatuspageSettings | None = None
    cachet: CachetSettings | None = None
    jira: JiraSettings | None = None
    github: GitHubSettings | None = None
    linear: LinearSettings | None = None

    @model_validator(mode="after")
    def _settings_of_its_type(self) -> NotifierSpec:
        # The CRD's CEL rules, with their messages.
        if self.type in REQUIRED_SETTINGS and getattr(self, self.type) is None:
            raise ValueError(REQUIRED_SETTINGS[self.type])
        return self

    @property
    def settings(self) -> Mapping[str, Any]:
        """The block of this Notifier's type, as written (the CRD's names), for its channel."""
        block: _Settings | None = getattr(self, self.type)
        return block.model_dump(mode="json", by_alias=True, exclude_unset=True) if block is not None else {}

    def wants(self, kind: Kind) -> bool:
        return not self.events or kind in self.events


def parse_notifier(spec: Mapping[str, Any]) -> NotifierSpec:
    try:
        return NotifierSpec.model_validate(dict(spec))
    except ValidationError as e:
        raise InvalidNotifier(describe_validation_error(e, style=Problems.FIRST)) from e


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
