"""The Notifier registry: parsing a spec, building its channel, and the CRD that documents both.

``parse_notifier`` and ``channel_for`` are where a user's Notifier object meets
the code, so their errors must say which field (or Secret key) is wrong
without ever repeating a credential; and the CRD must offer every setting a
channel reads, or ``kubectl apply`` refuses a Notifier the code would accept.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from onduty.domain.notify.channel import Credentials
from onduty.domain.notify.notifiers import CHANNELS, SECRET_KEYS, InvalidNotifier, channel_for, parse_notifier

CRD = Path(__file__).resolve().parents[2] / "crds" / "onduty.dev_notifiers.yaml"
SECRET_NAME = "oncall-credentials"

# Every setting the CRD offers, with a value each channel accepts.
SETTINGS: dict[str, dict[str, Any]] = {
    "slack": {"mode": "bot", "channel": "C0123456789", "apiURL": "https://slack.com/api"},
    "teams": {},
    "discord": {"username": "onduty"},
    "webhook": {},
    "pagerduty": {"url": "https://events.pagerduty.com/v2/enqueue"},
    "opsgenie": {"url": "https://api.eu.opsgenie.com"},
    "statuspage": {
        "url": "https://api.statuspage.io/v1",
        "pageId": "kctbh9vrtdwd",
        "componentIds": ["8kbf7d35c070"],
        "componentStatusBySeverity": {"critical": "major_outage"},
        "deliverNotifications": False,
        "incidentName": "Checkout is slow",
    },
    "cachet": {
        "url": "https://status.example.com",
        "componentId": 7,
        "componentStatusBySeverity": {"critical": 4},
        "notify": False,
        "visible": True,
        "incidentName": "Checkout is slow",
    },
    "jira": {
        "url": "https://acme.atlassian.net",
        "projectKey": "OPS",
        "issueType": "Incident",
        "labels": ["onduty"],
        "resolveTransitionId": "31",
        "acknowledgeTransitionId": "21",
    },
    "github": {"url": "https://api.github.com", "owner": "acme", "repo": "incidents", "labels": ["incident"]},
    "linear": {
        "url": "https://api.linear.app/graphql",
        "teamId": "5a8c2b0e-1f3d-4c8a-9b7e-2d4f6a8c0e1b",
        "resolvedStateId": "b1f0c3d2-7e6a-4b5c-8d9e-0f1a2b3c4d5e",
        "priority": {"critical": 1},
    },
}
# Every Secret key each type reads, required or optional.
CREDENTIALS: dict[str, dict[str, str]] = {
    "slack": {
        "token": "xoxb-1-slacktokensecret0123456789",
        "webhookURL": "https://hooks.slack.com/services/T000/B000/slackhooksecret0123456789",
        "signingSecret": "slacksigningsecret0123456789",
    },
    "teams": {"webhookURL": "https://prod.westus.logic.azure.com/workflows/abc/paths/invoke?sig=teamssecret0123"},
    "discord": {"webhookURL": "https://discord.com/api/webhooks/123456/discordtokensecret0123456789"},
    "webhook": {"url": "https://hooks.example.com/onduty?token=hookurlsecret0123", "signingSecret": "hooksigning0123"},
    "pagerduty": {"routingKey": "R0UTINGKEYSECRET0123456789abcdef", "webhookSecret": "pdwebhooksecret0123"},
    "opsgenie": {"apiKey": "genie-key-secret-0001", "webhookToken": "geniewebhooktoken0123"},
    "statuspage": {"apiKey": "sp-secret-key-0042"},
    "cachet": {"apiToken": "cachet-secret-token-0042"},
    "jira": {"email": "oncall@example.com", "apiToken": "jira-secret-token-0042"},
    "github": {"token": "ghp_secrettoken0042"},
    "linear": {"apiKey": "lin_api_secretkey0042"},
}
# The keys without which a type cannot deliver (slack: the one its mode needs).
REQUIRED_KEYS = [
    ("slack", "token"),
    ("teams", "webhookURL"),
    ("discord", "webhookURL"),
    ("webhook", "url"),
    ("webhook", "signingSecret"),
    ("pagerduty", "routingKey"),
    ("opsgenie", "apiKey"),
    ("statuspage", "apiKey"),
    ("cachet", "apiToken"),
    ("jira", "email"),
    ("jira", "apiToken"),
    ("github", "token"),
    ("linear", "apiKey"),
]
# One setting per type (that reads any) with a value its channel refuses.
BAD_SETTINGS = [
    ("slack", "mode", "loud"),
    ("slack", "channel", "not a channel"),
    ("discord", "username", "Discord"),
    ("pagerduty", "url", "https://events.pagerduty.com/v1/enqueue"),
    ("opsgenie", "url", "ftp://api.opsgenie.com"),
    ("statuspage", "pageId", "../pages/x"),
    ("cachet", "componentId", "seven"),
    ("jira", "projectKey", "ops"),
    ("github", "owner", "-acme"),
    ("linear", "teamId", "a team"),
]


def spec(kind: str, settings: Mapping[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "type": kind,
        "secretRef": {"name": SECRET_NAME},
        kind: dict(SETTINGS[kind] if settings is None else settings),
    }
    value.update(changes)
    return value


def every_secret() -> set[str]:
    return {v for values in CREDENTIALS.values() for v in values.values()}


def crd_spec() -> Mapping[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]  # type: ignore[no-any-return]


def settings_read(module: object) -> set[str]:
    """The keys a channel module reads from ``settings`` with a literal: ``settings.get("k")``, ``settings["k"]``."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):  # type: ignore[arg-type]
        target: ast.expr | None = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
        ):
            target, key = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        if (
            isinstance(target, ast.Name)
            and target.id == "settings"
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
        ):
            keys.add(key.value)
    return keys


# -- parse_notifier ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"type": "sms", "secretRef": {"name": SECRET_NAME}}, ("spec.type", "'sms'")),
        ({"type": "slack"}, ("spec.secretRef", "required")),
        ({"type": "slack", "secretRef": {}}, ("spec.secretRef.name", "required")),
        ({"type": "slack", "secretRef": {"name": SECRET_NAME}, "colour": "red"}, ("spec.colour", "'red'")),
        ({"type": "slack", "secretRef": {"name": SECRET_NAME}, "events": ["bogus"]}, ("spec.events[0]", "'bogus'")),
        ({"type": "jira", "secretRef": {"name": SECRET_NAME}}, ("spec.jira", "required for type jira")),
        (spec("jira", {**SETTINGS["jira"], "projectKey": "ops"}), ("spec.jira.projectKey", "'ops'")),
        (
            spec("jira", {**SETTINGS["jira"], "resolveTransitionId": None}),
            ("spec.jira.resolveTransitionId", "required"),
        ),
        (spec("linear", {**SETTINGS["linear"], "priority": {"urgent": 1}}), ("spec.linear.priority.urgent", "1")),
        (spec("cachet", {**SETTINGS["cachet"], "componentId": "7"}), ("spec.cachet.componentId", "'7'", "integer")),
        (spec("slack", {"api_url": "https://slack.com/api"}), ("slack.api_url", "the CRD calls it apiURL")),
    ],
    ids=[
        "unknown-type",
        "no-secretRef",
        "secretRef-without-name",
        "unknown-field",
        "unknown-event",
        "type-without-its-settings",
        "setting-outside-its-pattern",
        "setting-required",
        "severity-map-with-no-severity",
        "setting-of-the-wrong-type",
        "setting-by-its-python-name",
    ],
)
def test_parse_notifier_names_the_field_and_value(value: dict[str, Any], named: tuple[str, ...]) -> None:
    with pytest.raises(InvalidNotifier) as raised:
        parse_notifier(value)

    for text in named:
        assert text in str(raised.value)


def test_parse_notifier_keeps_type_settings_and_secret() -> None:
    parsed = parse_notifier(spec("jira", events=["opened", "resolved"]))

    assert parsed.type == "jira"
    assert parsed.secret_ref.name == SECRET_NAME
    assert dict(parsed.settings) == SETTINGS["jira"]


# -- channel_for ---------------------------------------------------------------------


def test_every_type_has_test_data() -> None:
    assert set(SETTINGS) == set(CREDENTIALS) == set(CHANNELS) == set(SECRET_KEYS)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_channel_for_builds_the_channel_of_its_type(kind: str) -> None:
    channel = channel_for(parse_notifier(spec(kind)), Credentials(CREDENTIALS[kind]))

    assert channel.kind == kind
    # A channel's repr may end up in a log line; it never carries a credential.
    assert not any(secret in repr(channel) for secret in every_secret())


def test_slack_builds_in_either_mode() -> None:
    webhook = {"webhookURL": CREDENTIALS["slack"]["webhookURL"]}

    assert channel_for(parse_notifier(spec("slack", {})), Credentials(webhook)).kind == "slack"
    assert channel_for(parse_notifier(spec("slack", {"mode": "webhook"})), Credentials(webhook)).kind == "slack"


@pytest.mark.parametrize(("kind", "key"), REQUIRED_KEYS, ids=[f"{k}-{key}" for k, key in REQUIRED_KEYS])
def test_a_missing_secret_key_names_the_key_and_the_secret(kind: str, key: str) -> None:
    left = {k: v for k, v in CREDENTIALS[kind].items() if k != key}

    with pytest.raises(InvalidNotifier) as raised:
        channel_for(parse_notifier(spec(kind)), Credentials(left))

    message = str(raised.value)
    assert repr(key) in message
    assert SECRET_NAME in message
    assert not any(secret in message for secret in every_secret())


def test_slack_without_a_token_in_webhook_mode_names_webhook_url() -> None:
    with pytest.raises(InvalidNotifier, match=r"no key 'webhookURL'"):
        channel_for(parse_notifier(spec("slack", {})), Credentials({}))


@pytest.mark.parametrize(
    ("kind", "field", "value"), BAD_SETTINGS, ids=[f"{kind}-{field}" for kind, field, _ in BAD_SETTINGS]
)
def test_a_bad_setting_names_the_field(kind: str, field: str, value: object) -> None:
    settings = {**SETTINGS[kind], field: value}

    with pytest.raises(InvalidNotifier) as raised:
        channel_for(parse_notifier(spec(kind, settings)), Credentials(CREDENTIALS[kind]))

    message = str(raised.value)
    assert message.startswith(f"spec.{kind}")
    assert field in message
    assert repr(value) in message
    assert not any(secret in message for secret in every_secret())


@pytest.mark.parametrize("kind", ["teams", "discord", "webhook"])
def test_a_secret_url_that_is_not_http_is_refused_without_repeating_it(kind: str) -> None:
    key = "url" if kind == "webhook" else "webhookURL"
    hidden = "ftp://hooks.example.com/secretpath0123456789"
    credentials = {**CREDENTIALS[kind], key: hidden}

    with pytest.raises(InvalidNotifier) as raised:
        channel_for(parse_notifier(spec(kind)), Credentials(credentials))

    assert key in str(raised.value)
    assert "secretpath0123456789" not in str(raised.value)


# -- the CRD and the code --------------------------------------------------------------


def test_the_crd_offers_exactly_the_types_the_code_builds() -> None:
    properties = crd_spec()["properties"]

    assert set(properties["type"]["enum"]) == set(CHANNELS)
    assert set(CHANNELS) <= set(properties)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_every_setting_a_channel_reads_is_in_the_crd(kind: str) -> None:
    module = sys.modules[CHANNELS[kind].__module__]
    offered = set((crd_spec()["properties"][kind].get("properties") or {}).keys())

    read = settings_read(module)

    assert read <= offered, f"{kind} reads {sorted(read - offered)}, which the CRD does not offer"


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_the_complete_settings_here_are_what_the_crd_offers(kind: str) -> None:
    # Keeps SETTINGS honest: channel_for above is exercised with every setting there is.
    offered = set((crd_spec()["properties"][kind].get("properties") or {}).keys())

    assert set(SETTINGS[kind]) == offered


def test_the_settings_scan_sees_what_channels_read() -> None:
    # A scan that found nothing would make the CRD check pass vacuously.
    assert settings_read(sys.modules[CHANNELS["jira"].__module__]) >= {"url", "projectKey", "resolveTransitionId"}
    assert settings_read(sys.modules[CHANNELS["teams"].__module__]) == set()
