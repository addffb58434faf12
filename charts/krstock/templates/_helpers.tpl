{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "krstock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: <release>-<chart> unless the release already contains it. */}}
{{- define "krstock.fullname" -}}
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

{{- define "krstock.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "krstock.labels" -}}
helm.sh/chart: {{ include "krstock.chart" . }}
{{ include "krstock.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: krstock
{{- end }}

{{- define "krstock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "krstock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Operator names and labels. */}}
{{- define "krstock.operator.fullname" -}}
{{- printf "%s-operator" (include "krstock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "krstock.operator.labels" -}}
{{ include "krstock.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "krstock.operator.selectorLabels" -}}
{{ include "krstock.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "krstock.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "krstock.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Images: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "krstock.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "krstock.operator.image" -}}
{{- $image := .Values.operator.image }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
