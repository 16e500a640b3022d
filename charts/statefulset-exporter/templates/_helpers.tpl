{{/*
The chart name, or nameOverride.
*/}}
{{- define "statefulset-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The full name of the objects: fullnameOverride, or <release>-<name> (just the release
name when it already contains the name), at most 63 characters.
*/}}
{{- define "statefulset-exporter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "statefulset-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "statefulset-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of the pods that the Deployment, Service, PodDisruptionBudget and NetworkPolicy
select.
*/}}
{{- define "statefulset-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "statefulset-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels of every object; component is given by the caller:
  include "statefulset-exporter.labels" (dict "ctx" . "component" "exporter")
*/}}
{{- define "statefulset-exporter.labels" -}}
{{- $ctx := .ctx -}}
helm.sh/chart: {{ include "statefulset-exporter.chart" $ctx }}
{{ include "statefulset-exporter.selectorLabels" $ctx }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: statefulset-exporter
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- with $ctx.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- with $ctx.Values.releaseLabel }}
release: {{ . | quote }}
{{- end }}
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "statefulset-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "statefulset-exporter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "statefulset-exporter.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the RBAC is namespaced: rbac.namespaced with namespaces listed. Empty
otherwise (a ClusterRole for everything).
*/}}
{{- define "statefulset-exporter.namespacedRBAC" -}}
{{- if and .Values.rbac.namespaced .Values.namespaces -}}true{{- end -}}
{{- end -}}

{{/*
The namespace of the control-plane Leases: the last --lease.namespace of extraArgs, as
the exporter reads its flags, or the exporter's default kube-system.
*/}}
{{- define "statefulset-exporter.leaseNamespace" -}}
{{- $ns := "kube-system" -}}
{{- range .Values.extraArgs -}}
{{- if hasPrefix "--lease.namespace=" . -}}
{{- $ns = trimPrefix "--lease.namespace=" . -}}
{{- end -}}
{{- end -}}
{{- $ns -}}
{{- end -}}
