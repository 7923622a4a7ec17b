"""onduty's use cases: each reads what it needs through adapters, asks the domain, acts and records.

Handlers (Kopf) call in here; the domain below stays pure.
"""
