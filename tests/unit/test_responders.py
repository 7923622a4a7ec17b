"""The platform's map from vendor users to Kubernetes identities."""

from __future__ import annotations

import pytest

from onduty.domain.responders import InvalidResponders, Responder, parse_responders

MAPPING = """
- user: alice@example.com
  groups: [oncall]
  slack: U012ABCDEF
  pagerduty: [PABC123, Alice Doe]
  opsgenie: alice@example.com
- user: bob@example.com
  slack: U0BOB
"""


@pytest.mark.parametrize(
    ("channel", "external", "user"),
    [
        ("slack", "U012ABCDEF", "alice@example.com"),
        ("pagerduty", "PABC123", "alice@example.com"),
        ("pagerduty", "alice doe", "alice@example.com"),  # webhooks name the agent; case does not matter there
        ("opsgenie", "alice@example.com", "alice@example.com"),
        ("slack", "U0BOB", "bob@example.com"),
        ("slack", "U999", None),
        ("opsgenie", "U0BOB", None),  # an id of one vendor means nothing in another
    ],
)
def test_a_vendor_user_maps_to_one_kubernetes_identity(channel: str, external: str, user: str | None) -> None:
    found = parse_responders(MAPPING).find(channel, external)
    assert (found.user if found else None) == user


def test_groups_travel_with_the_identity_for_the_access_review() -> None:
    assert parse_responders(MAPPING).find("slack", "U012ABCDEF") == Responder("alice@example.com", ("oncall",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- slack: U1", "responders.yaml[0].user"),
        ("{}", "must be a list"),
        ("- user: a\n  slack: [1]", "responders.yaml[0].slack"),
        ("- user: a\n  slack: U1\n- user: b\n  slack: U1", "already mapped to a"),
        ("- user: a\n  groups: oncall", "responders.yaml[0].groups"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(InvalidResponders, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_responders(text)


def test_no_mapping_maps_nobody() -> None:
    assert parse_responders(None).find("slack", "U012ABCDEF") is None
