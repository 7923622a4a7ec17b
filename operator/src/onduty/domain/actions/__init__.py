"""The rules of each remediation action, as values: what to change, within which bounds, and how to tell.

One module per action — :mod:`.restart`, :mod:`.scale`, :mod:`.rollout_undo`,
:mod:`.delete_pod`, :mod:`.cordon_node`, :mod:`.run_job`,
:mod:`.argo_rollback`, :mod:`.helm_rollback` — and what they share: the
inputs of one action (:mod:`.context`), its outcomes and refusals
(:mod:`.outcomes`), and the target's record of past actions that cooldowns
and rate limits read (:mod:`.records`).

Nothing here reads the cluster or the clock. :mod:`onduty.services.actions`
reads what a rule needs through :mod:`onduty.adapters.workloads`, asks the
rule, and writes what it returns, in the order the rule's docstring gives.
"""
