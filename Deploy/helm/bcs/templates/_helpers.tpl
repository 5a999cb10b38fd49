{{/*
Names and labels. Only the template subset Deploy/helm/render.py supports is used in this chart
(no default, trunc, printf, with or else), so the tests can render it without helm.
*/}}

{{/* The prefix of every object name: the release name (release "bcs" gives bcs-gateway, …). */}}
{{- define "bcs.fullname" -}}
{{ .Release.Name }}
{{- end }}

{{/* Labels selectors use; add app.kubernetes.io/component next to them. */}}
{{- define "bcs.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "bcs.labels" -}}
{{ include "bcs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: Helm
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/* The bcs image. */}}
{{- define "bcs.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}
