{{/* The release's full name, at most 63 characters (a DNS label). */}}
{{- define "m365-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "m365-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "m365-operator.labels" -}}
{{ include "m365-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "m365-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "m365-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The cert-manager Certificate of the webhook, and the Secret it writes. */}}
{{- define "m365-operator.webhookCertificate" -}}
{{- printf "%s-webhook" (include "m365-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "m365-operator.webhookCertSecret" -}}
{{- printf "%s-webhook-cert" (include "m365-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
