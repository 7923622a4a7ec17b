"""Telling people about an incident: one incident view, one message per channel.

Every channel (Slack, Teams, Discord, a signed webhook, PagerDuty, Opsgenie,
Statuspage, Cachet, Jira, GitHub Issues, Linear) is a pure value here: given
what happened (a :class:`~onduty.domain.notify.channel.Notice`), what the
incident looks like now (an :class:`~onduty.domain.notify.view.IncidentView`)
and what earlier deliveries left behind (a message ``ts``, a ticket key), it
returns the HTTP requests to send and, from each reply, whether to retry and
what to remember. The adapter in ``onduty.adapters.notifiers`` does the I/O:
credentials, timeouts, backoff, ``Retry-After``.

Keeping the vendors' wire formats pure means each is table-tested against its
documented shape without a network, and the delivery rules (idempotency,
retries, never blocking remediation) live in one place for all of them.
"""
