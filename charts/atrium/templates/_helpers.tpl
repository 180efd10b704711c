{{/* The chart's name, or nameOverride. */}}
{{- define "atrium.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: the release name, with the chart name unless it holds it. */}}
{{- define "atrium.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := include "atrium.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object but the release's. */}}
{{- define "atrium.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: atrium
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "atrium.labels" -}}
{{ include "atrium.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
A component's selector labels (dict "root" $ "component" "operator"). The name is
atrium-<component>: the operator admits traffic into organization namespaces from pods
labelled app.kubernetes.io/name=atrium-gateway (operator/src/config.ts).
*/}}
{{- define "atrium.selectorLabels" -}}
app.kubernetes.io/name: atrium-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{- define "atrium.componentLabels" -}}
{{ include "atrium.commonLabels" .root }}
{{ include "atrium.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* <fullname>-<component>: the component's Deployment, ServiceAccount, roles and Services. */}}
{{- define "atrium.componentName" -}}
{{ include "atrium.fullname" .root }}-{{ .component }}
{{- end }}

{{/* The image, by digest when one is given. */}}
{{- define "atrium.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* The API's in-cluster base URL (the gateway's forward-auth, the helm test). */}}
{{- define "atrium.apiInternalUrl" -}}
http://{{ include "atrium.componentName" (dict "root" . "component" "api") }}.{{ .Release.Namespace }}.svc:{{ .Values.api.service.port }}
{{- end }}

{{/* Where browsers reach the API: api.publicUrl, or its in-cluster address. */}}
{{- define "atrium.apiPublicUrl" -}}
{{- .Values.api.publicUrl | default (include "atrium.apiInternalUrl" .) | trimSuffix "/" }}
{{- end }}

{{/* The Secret holding the API key peppers. */}}
{{- define "atrium.keysSecret" -}}
{{- .Values.api.keys.existingSecret | default (printf "%s-keys" (include "atrium.fullname" .)) }}
{{- end }}

{{/*
The pod-level parts every component shares (dict "root" $ "component" "operator" "values"
.Values.operator): service account, security, scheduling, spread over nodes and zones.
*/}}
{{- define "atrium.podCommon" -}}
serviceAccountName: {{ include "atrium.componentName" . }}
automountServiceAccountToken: true
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and .values.topologySpread (gt (int .values.replicas) 1) }}
topologySpreadConstraints:
  {{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "atrium.selectorLabels" $ | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
  {{- end }}
{{- end }}
{{- end }}

{{/* The container-level parts every component shares. */}}
{{- define "atrium.containerCommon" -}}
image: {{ include "atrium.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
args: [{{ .component }}]
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
resources:
  {{- toYaml .values.resources | nindent 2 }}
{{- end }}

{{/* Liveness and readiness on the component's admin port. */}}
{{- define "atrium.probes" -}}
livenessProbe:
  httpGet: { path: /healthz, port: admin }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: admin }
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
startupProbe:
  httpGet: { path: /healthz, port: admin }
  periodSeconds: 2
  failureThreshold: 60
{{- end }}

{{/* A PodDisruptionBudget for a component with more than one replica. */}}
{{- define "atrium.pdb" -}}
{{- if and .values.podDisruptionBudget.enabled (gt (int .values.replicas) 1) }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "atrium.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "atrium.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "atrium.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* The Service in front of a component's admin port: /healthz, /readyz, /metrics. */}}
{{- define "atrium.adminService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "atrium.componentName" . }}-admin
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "atrium.componentLabels" . | nindent 4 }}
    atrium.dev/admin: "true"
spec:
  type: ClusterIP
  selector:
    {{- include "atrium.selectorLabels" . | nindent 4 }}
  ports:
    - name: admin
      port: 9090
      targetPort: admin
      protocol: TCP
{{- end }}

{{/*
The data plane's pod labels as ATRIUM_DATA_PLANE_POD_LABELS (k=v,k=v, sorted), the one form the
operator (NetworkPolicies) and the gateway (activity from the pods' statistics) both read.
*/}}
{{- define "atrium.dataPlanePodLabels" -}}
{{- $labels := list }}
{{- range $k, $v := .Values.routing.gatewayApi.dataPlane.podLabels }}{{ $labels = append $labels (printf "%s=%s" $k $v) }}{{ end }}
{{- $labels | join "," }}
{{- end }}
