{{- define "promconf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "promconf.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "promconf.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "promconf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "promconf.fullname" .) .Values.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{- define "promconf.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* The promconf.yml the pod runs: values.config, plus leader election and
     the published ConfigMap in controller mode. */}}
{{- define "promconf.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- if eq .Values.mode "controller" -}}
{{- $src := (index $c.sources 0).name -}}
{{- $_ := set $c "leader_election" (dict "enabled" true "source" $src "namespace" .Release.Namespace "name" (include "promconf.fullname" .) "lease_duration" .Values.leaderElection.leaseDuration "renew_deadline" .Values.leaderElection.renewDeadline "retry_period" .Values.leaderElection.retryPeriod) -}}
{{- $out := default dict $c.output -}}
{{- if not (hasKey $out "configmap") -}}
{{- $_ := set $out "configmap" (dict "source" $src "namespace" .Release.Namespace "name" (printf "%s-generated" (include "promconf.fullname" .))) -}}
{{- end -}}
{{- $_ := set $out "dir" "/var/lib/promconf" -}}
{{- $_ := set $c "output" $out -}}
{{- $_ := unset $c "reload" -}}
{{- end -}}
{{ toYaml $c }}
{{- end -}}

{{- define "promconf.container" -}}
image: {{ include "promconf.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext: {{- toYaml .Values.securityContext | nindent 2 }}
resources: {{- toYaml .Values.resources | nindent 2 }}
{{- end -}}
