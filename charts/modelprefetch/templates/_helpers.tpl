{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "modelprefetch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name. */}}
{{- define "modelprefetch.fullname" -}}
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

{{- define "modelprefetch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "modelprefetch.labels" -}}
helm.sh/chart: {{ include "modelprefetch.chart" . }}
{{ include "modelprefetch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelprefetch
{{- end }}

{{/* Labels that select the operator pods. */}}
{{- define "modelprefetch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelprefetch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "modelprefetch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelprefetch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Names of the webhook configurations (cluster-scoped). */}}
{{- define "modelprefetch.mutatingWebhookName" -}}
{{- printf "%s-pods" (include "modelprefetch.fullname" . | trunc 58 | trimSuffix "-") }}
{{- end }}

{{- define "modelprefetch.validatingWebhookName" -}}
{{- printf "%s-modeldeployments" (include "modelprefetch.fullname" . | trunc 46 | trimSuffix "-") }}
{{- end }}

{{- define "modelprefetch.webhookServiceName" -}}
{{- printf "%s-webhook" (include "modelprefetch.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "modelprefetch.metricsServiceName" -}}
{{- printf "%s-metrics" (include "modelprefetch.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "modelprefetch.certSecretName" -}}
{{- printf "%s-webhook-tls" (include "modelprefetch.fullname" . | trunc 51 | trimSuffix "-") }}
{{- end }}

{{- define "modelprefetch.leaseName" -}}
{{- printf "%s-leader" (include "modelprefetch.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "modelprefetch.certificateName" -}}
{{- printf "%s-webhook" (include "modelprefetch.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* Operator image reference: digest wins over tag; tag defaults to appVersion. */}}
{{- define "modelprefetch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Namespaces the pod webhook never sees. */}}
{{- define "modelprefetch.excludedNamespaces" -}}
{{- $base := list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace }}
{{- concat $base .Values.webhook.excludeNamespaces | uniq | sortAlpha | toYaml }}
{{- end }}

{{/* clientConfig of a webhook: the Service, or webhook.url (operator outside the cluster). */}}
{{- define "modelprefetch.webhookClient" -}}
{{- $ := index . 0 }}
{{- $path := index . 1 }}
{{- if $.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" $.Values.webhook.url) $path | quote }}
{{- else }}
service:
  name: {{ include "modelprefetch.webhookServiceName" $ }}
  namespace: {{ $.Release.Namespace }}
  path: {{ $path }}
  port: 443
{{- end }}
{{- end }}
