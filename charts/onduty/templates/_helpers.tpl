{{/* The chart's name, overridable. */}}
{{- define "onduty.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the release's objects. A release named like the chart (the usual
`helm install onduty …`) gives plain "onduty", so the bridge Service is
"onduty-bridge", as in the kustomize manifests and the Alertmanager sample.
*/}}
{{- define "onduty.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "onduty.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "onduty.labels" -}}
helm.sh/chart: {{ include "onduty.chart" . }}
{{ include "onduty.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: onduty
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Pod selector: must never change between releases (selectors are immutable). */}}
{{- define "onduty.selectorLabels" -}}
app.kubernetes.io/name: {{ include "onduty.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "onduty.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "onduty.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "onduty.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the bridge token file is mounted. */}}
{{- define "onduty.tokenDir" -}}
/etc/onduty/bridge-token
{{- end }}

{{/* The admission webhook's Service, and the Secret with its certificate (templates/admission-webhook.yaml). */}}
{{- define "onduty.webhookService" -}}
{{- printf "%s-webhook" (include "onduty.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "onduty.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "onduty.fullname" .) | trunc 253 }}
{{- end }}

{{/* Where the admission webhook's certificate is mounted. */}}
{{- define "onduty.webhookCertDir" -}}
/etc/onduty/webhook-tls
{{- end }}

{{/* The ClusterKopfPeering the release's replicas share (values.yaml `peering.name`). */}}
{{- define "onduty.peeringName" -}}
{{- default (include "onduty.fullname" .) .Values.peering.name }}
{{- end }}
