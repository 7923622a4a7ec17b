{{/*
The operator's RBAC rules, in two halves, so the two RBAC modes share one text:

- rbac.namespaces empty (the default): one ClusterRole with both halves, the
  same rules as manifests/rbac/role.yaml (keep the two in step; with the
  default values they render identically, tests/integration/test_packaging.py
  checks it).
- rbac.namespaces set: the ClusterRole keeps only "onduty.rules.cluster" and
  every watched namespace gets a Role with "onduty.rules.namespaced".
*/}}

{{/*
The namespaces onduty watches and may act in when rbac.namespaces is set, as a
comma-separated list: the listed ones, plus the release namespace and the
global namespace (onduty's own: global Runbooks, alerts without a usable
namespace, Events about cluster-scoped RemediationPolicies), always. Empty when
rbac.namespaces is empty (cluster-wide mode).
*/}}
{{- define "onduty.watchNamespaces" -}}
{{- if .Values.rbac.namespaces }}
{{- $all := list .Release.Namespace (default .Release.Namespace .Values.globalNamespace) }}
{{- range .Values.rbac.namespaces }}
{{- $all = append $all (required "rbac.namespaces[] must be namespace names" .) }}
{{- end }}
{{- join "," (uniq $all) }}
{{- end }}
{{- end }}

{{/* What must be cluster-wide in either mode: cluster-scoped objects only. */}}
{{- define "onduty.rules.cluster" }}
  # RemediationPolicies are the platform owners' (GitOps), never the operator's
  # to create or delete: Kopf indexes and watches them (cluster-scoped) and
  # patches only its own annotations on them (last-handled-configuration).
  - apiGroups: [onduty.dev]
    resources: [remediationpolicies]
    verbs: [get, list, watch, patch]
  # The policy's Accepted condition.
  - apiGroups: [onduty.dev]
    resources: [remediationpolicies/status]
    verbs: [get, update, patch]
  # The onduty.dev/paused annotation on a namespace holds automation there.
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [get, list, watch]
  {{- if .Values.rbac.nodes }}
  # cordonNode: list the nodes (never cordon the last schedulable one), get
  # the named node and patch spec.unschedulable. (rbac.nodes=false drops this.)
  - apiGroups: [""]
    resources: [nodes]
    verbs: [get, list, patch]
  {{- end }}
  # Trust boundaries: the operator reads the admission policies that make an
  # approval's recorded approver the real one, keep an Incident's workload
  # in its own namespace and check acknowledgements (onduty-approval,
  # onduty-incident-target, onduty-acknowledgement, and their bindings), so it can tell whether that protection is installed. Read
  # only, and only those names.
  - apiGroups: [admissionregistration.k8s.io]
    resources: [validatingadmissionpolicies, validatingadmissionpolicybindings]
    resourceNames: [onduty-approval, onduty-incident-target, onduty-acknowledgement]
    verbs: [get]
  # Two-way integrations: before acknowledging or approving for the person who
  # pressed a Slack button (or acknowledged in PagerDuty/Opsgenie), ask the API
  # server whether that person's mapped Kubernetes identity may do it.
  - apiGroups: [authorization.k8s.io]
    resources: [subjectaccessreviews]
    verbs: [create]
  # Kopf scans CRDs to find the resources it serves and notices them appear.
  - apiGroups: [apiextensions.k8s.io]
    resources: [customresourcedefinitions]
    verbs: [list, watch]
  # Kopf peering (`onduty run --peering`): operators announce themselves so
  # only one is active. Unused in the default standalone mode.
  - apiGroups: [kopf.dev]
    resources: [clusterkopfpeerings, kopfpeerings]
    verbs: [list, watch, patch, get]
{{- end }}

{{/* Everything on namespaced objects: the whole ClusterRole's rest, or one Role per watched namespace. */}}
{{- define "onduty.rules.namespaced" }}
  # onduty's own kinds. The bridge creates Alerts (and deletes the ones it made
  # for a request the API server rejected); the operator watches all three,
  # opens Incidents and patches them; Kopf patches finalizers and its progress
  # annotations.
  - apiGroups: [onduty.dev]
    resources: [alerts, incidents, runbooks]
    verbs: [get, list, watch, create, update, patch, delete]
  # Status is the operator's: Incident timeline and actions, Alert → Incident
  # link, Runbook Accepted condition.
  - apiGroups: [onduty.dev]
    resources: [alerts/status, incidents/status, runbooks/status]
    verbs: [get, update, patch]
  # Acknowledging (or approving, from a Slack button) for the person who pressed
  # it or acknowledged in PagerDuty/Opsgenie, after a SubjectAccessReview showed
  # that person's mapped identity may do it there: the custom verbs the
  # onduty-acknowledgement and onduty-approval admission policies check (the
  # *-on-behalf verbs are granted to nobody else).
  - apiGroups: [onduty.dev]
    resources: [incidents]
    verbs: [acknowledge, acknowledge-on-behalf, approve, approve-on-behalf]
  # Escalation: policies, the people's schedules and the channels are the
  # namespace's (or the platform's) to write; the operator reads them and
  # writes only their Accepted condition.
  - apiGroups: [onduty.dev]
    resources: [escalationpolicies, notifiers, oncallschedules]
    verbs: [get, list, watch, patch]
  - apiGroups: [onduty.dev]
    resources: [escalationpolicies/status, notifiers/status, oncallschedules/status]
    verbs: [get, update, patch]
  # Timeline entries become Events, so `kubectl describe incident` reads as the
  # timeline: onduty posts them through events.k8s.io (time-stamped to the
  # microsecond, so they keep their order); Kopf posts its own (a handler that
  # failed) through core/v1. Both are the same object.
  - apiGroups: ["", events.k8s.io]
    resources: [events]
    verbs: [create, patch]

  # --- remediation actions (handlers/actions.py); every write may be dryRun=All ---
  # Every action: read the target and its rollout state, and record the action
  # in the target's annotations. rolloutRestart and scale patch the pod
  # template / spec.replicas, rolloutUndo JSON-patches the template back.
  - apiGroups: [apps]
    resources: [deployments, statefulsets, daemonsets]
    verbs: [get, list, watch, patch]
  # scale: find the HPA that targets the workload (list), raise its
  # minReplicas instead of fighting it, and put it back on revert (patch).
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [list, patch]
  # deletePod: list the workload's pods, delete the worst one (with a uid
  # precondition), and get it again to tell whether it is gone.
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list, delete]
  # runJob: create the runbook's Job and get it to follow it to completion.
  - apiGroups: [batch]
    resources: [jobs]
    verbs: [get, create]
  # argoRollback: read the Application's history and merge-patch the rollback
  # onto it (argoHistory, a diagnostic, reads it too).
  - apiGroups: [argoproj.io]
    resources: [applications]
    verbs: [get, patch]
  # helmRollback, Helm's release storage: list the release's revision Secrets
  # (owner=helm), create the new revision and update the older ones (status
  # superseded / deployed), as `helm rollback` does.
  - apiGroups: [""]
    resources: [secrets]
    verbs: [list, create, update]
  # helmRollback server-side-applies the target revision's manifest: it reads
  # each object, applies it (create, when only the target revision has it:
  # server-side apply that creates is authorized as create), and deletes the
  # objects only the latest revision rendered. So it needs these verbs on every
  # kind a release contains. Never "*": list the kinds of your charts in
  # rbac.helmRollbackKinds (values.yaml). A kind not listed makes the rollback
  # fail as helm's would (revision marked failed, the action RollbackFailed)
  # or, for a delete, keeps the object and says so.
  {{- range .Values.rbac.helmRollbackKinds }}
  - apiGroups: {{ toJson (required "rbac.helmRollbackKinds[].apiGroups is required" .apiGroups) }}
    resources: {{ toJson (required "rbac.helmRollbackKinds[].resources is required" .resources) }}
    verbs: [get, create, patch, delete]
  {{- end }}

  # --- post-mortems (services/postmortem.py): create only ---
  # A resolved incident's draft goes into a new ConfigMap the incident owns (the
  # garbage collector deletes it with the incident). Without update, patch or
  # delete here, onduty cannot change a ConfigMap that already exists.
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [create]

  # --- diagnostics (a runbook's spec.diagnostics, handlers/diagnostics.py): read only ---
  # Pods, their logs and Events; a Deployment's ReplicaSets (rolloutHistory,
  # and rolloutUndo finds the old template in them); Services and
  # EndpointSlices (httpCheck); ConfigMaps and Secrets: configChanges asks for
  # metadata only, helmHistory decodes Helm's release Secrets and keeps only
  # what `helm history` shows. Drop the secrets rules (this one and
  # helmRollback's) to forbid both: those two diagnostics then record the 403
  # and the others carry on (and helmRollback is refused).
  - apiGroups: [""]
    resources: [pods, pods/log, events, services, configmaps]
    verbs: [get, list]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list]
  - apiGroups: [apps]
    resources: [replicasets]
    verbs: [get, list]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list]
{{- end }}
