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

{{/* ---------------------------------------------------------------- the platform */}}

{{/* A Service's fully qualified name: <fullname>-<svc>.<namespace>.svc.<clusterDomain>. KEDA
     resolves scaler addresses from its own namespace and enqueue pods run in the ScanJob's, so
     every in-cluster address handed out is fully qualified. Call with (list $ "gateway"). */}}
{{- define "krstock.fqdn" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s.%s.svc.%s" (include "krstock.fullname" $root) (index . 1) $root.Release.Namespace $root.Values.clusterDomain }}
{{- end }}

{{/* Labels of one platform component; call with (list $ "gateway"). */}}
{{- define "krstock.componentLabels" -}}
{{ include "krstock.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "krstock.componentSelector" -}}
{{ include "krstock.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The Secret every platform pod loads with envFrom (KRSTOCK_DATABASE_URL, KRSTOCK_REDIS_URL, ...). */}}
{{- define "krstock.envSecret" -}}
{{- default (printf "%s-env" (include "krstock.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret with the schema owner's URL (KRSTOCK_MIGRATION_DATABASE_URL) and, for the chart's
     TimescaleDB, its superuser password (POSTGRES_PASSWORD). */}}
{{- define "krstock.ownerSecret" -}}
{{- default (printf "%s-db-owner" (include "krstock.fullname" .)) .Values.secrets.existingOwnerSecret }}
{{- end }}

{{- define "krstock.configMap" -}}
{{- printf "%s-config" (include "krstock.fullname" .) }}
{{- end }}

{{- define "krstock.databaseHost" -}}
{{- if .Values.timescaledb.enabled }}
{{- include "krstock.fqdn" (list . "timescaledb") }}
{{- else }}
{{- required "database.host is required when timescaledb.enabled=false" .Values.database.host }}
{{- end }}
{{- end }}

{{- define "krstock.redisHost" -}}
{{- if .Values.redis.enabled }}
{{- include "krstock.fqdn" (list . "redis") }}
{{- else }}
{{- required "redis.host is required when redis.enabled=false" .Values.redis.host }}
{{- end }}
{{- end }}

{{/* host:port of Redis for KEDA's scaler. */}}
{{- define "krstock.redisAddress" -}}
{{- default (printf "%s:%d" (include "krstock.redisHost" .) (int .Values.redis.port)) .Values.platform.redisAddress }}
{{- end }}

{{- define "krstock.apiUrl" -}}
{{- default (printf "http://%s:%d" (include "krstock.fqdn" (list . "gateway")) (int .Values.gateway.service.port)) .Values.platform.apiUrl }}
{{- end }}

{{/* A PostgreSQL URL for user (index 1) with password (index 2). */}}
{{- define "krstock.databaseUrl" -}}
{{- $root := index . 0 }}
{{- $db := $root.Values.database }}
{{- $url := printf "postgresql://%s:%s@%s:%d/%s" (index . 1 | urlquery) (index . 2 | urlquery) (include "krstock.databaseHost" $root) (int $db.port) $db.name }}
{{- if $db.sslmode }}{{ $url = printf "%s?sslmode=%s" $url $db.sslmode }}{{ end }}
{{- $url }}
{{- end }}

{{- define "krstock.redisUrl" -}}
{{- $r := .Values.redis }}
{{- $auth := "" }}
{{- with .Values.secrets.redisPassword }}{{ $auth = printf ":%s@" (. | urlquery) }}{{ end }}
{{- printf "%s://%s%s:%d/%d" (ternary "rediss" "redis" $r.tls) $auth (include "krstock.redisHost" .) (int $r.port) (int $r.database) }}
{{- end }}

{{/* Argo CD sync wave: database 0, migrations 1, apps 2, schedules 3. */}}
{{- define "krstock.wave" -}}
argocd.argoproj.io/sync-wave: {{ . | quote }}
{{- end }}

{{/* The restricted pod security context of the platform image (UID 10001). */}}
{{- define "krstock.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "krstock.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/* envFrom of every platform pod: the settings ConfigMap and the env Secret. */}}
{{- define "krstock.envFrom" -}}
- configMapRef:
    name: {{ include "krstock.configMap" . }}
- secretRef:
    name: {{ include "krstock.envSecret" . }}
{{- end }}

{{/* Init container: wait until the schema is at head (the migration Job's work). `krstock db
     check` exits 1 while the database is unreachable or not migrated. */}}
{{- define "krstock.waitForSchema" -}}
- name: wait-for-schema
  image: {{ include "krstock.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["sh", "-c", "until krstock db check --json > /tmp/db-check.json; do echo 'waiting for the schema (krstock db check)'; sleep 5; done"]
  envFrom:
    {{- include "krstock.envFrom" . | nindent 4 }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
  securityContext:
    {{- include "krstock.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}
