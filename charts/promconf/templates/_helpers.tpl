{{- define "promconf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "promconf.labels" -}}
{{ include "promconf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
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

{{/* Where promconf writes its output: the volume shared with Prometheus
     (sidecar) or a scratch emptyDir (controller, which publishes ConfigMaps). */}}
{{- define "promconf.outputDir" -}}
{{- if eq .Values.mode "sidecar" -}}/etc/prometheus/generated{{- else -}}/var/lib/promconf/generated{{- end -}}
{{- end -}}

{{/* The name of the first kubernetes source, or "". */}}
{{- define "promconf.kubeSource" -}}
{{- $name := "" -}}
{{- range .Values.config.sources -}}
{{- if and (not $name) (hasKey . "kubernetes") -}}{{- $name = .name -}}{{- end -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* The promconf.yml the pods run: values.config plus what the mode decides.
     Keys the user set win, except those the pod layout fixes. */}}
{{- define "promconf.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $out := default (dict) $c.output -}}
{{- $_ := set $out "dir" (include "promconf.outputDir" .) -}}
{{- $ns := .Release.Namespace -}}
{{- if eq .Values.mode "sidecar" -}}
{{- if .Values.prometheus.baseConfig -}}
{{- $_ := set $out "base_config" "/etc/promconf/base.yml" -}}
{{- end -}}
{{- $reload := default (dict) $c.reload -}}
{{- if not (or $reload.url $reload.signal $reload.command) -}}
{{- $_ := set $reload "url" (printf "http://127.0.0.1:%v/-/reload" .Values.prometheus.port) -}}
{{- end -}}
{{- $_ := set $c "reload" $reload -}}
{{- else -}}
{{- $src := include "promconf.kubeSource" . -}}
{{- if not $src -}}
{{- fail "mode: controller needs a kubernetes source in config.sources: the Lease and the published ConfigMaps go through its connection" -}}
{{- end -}}
{{- $cm := merge (default (dict) $out.configmap) (dict "source" $src "namespace" $ns "name" (printf "%s-generated" (include "promconf.fullname" .))) -}}
{{- if ne $cm.namespace $ns -}}
{{- fail (printf "config.output.configmap.namespace must be the release namespace %q (the chart grants writes there only)" $ns) -}}
{{- end -}}
{{- $_ := set $out "configmap" $cm -}}
{{- $le := merge (default (dict) $c.leader_election) (dict "source" $src "namespace" $ns "name" (include "promconf.fullname" .) "lease_duration" .Values.leaderElection.leaseDuration "renew_deadline" .Values.leaderElection.renewDeadline "retry_period" .Values.leaderElection.retryPeriod) -}}
{{- $_ := set $le "enabled" true -}}
{{- if ne $le.namespace $ns -}}
{{- fail (printf "config.leader_election.namespace must be the release namespace %q (the chart grants Lease access there only)" $ns) -}}
{{- end -}}
{{- $_ := set $c "leader_election" $le -}}
{{- end -}}
{{- $_ := set $c "output" $out -}}
{{- toYaml $c -}}
{{- end -}}

{{/* What the kubernetes sources read, as JSON:
     {"cluster": [resources read in all namespaces],
      "namespaces": {ns: [resources read there and not cluster-wide]}}. */}}
{{- define "promconf.readScopes" -}}
{{- $cluster := list -}}
{{- $byNs := dict -}}
{{- range .Values.config.sources -}}
{{- with .kubernetes -}}
{{- $res := default (list "configmaps") .resources -}}
{{- if .namespaces -}}
{{- range $n := .namespaces -}}
{{- $_ := set $byNs $n (concat (default (list) (get $byNs $n)) $res | uniq | sortAlpha) -}}
{{- end -}}
{{- else -}}
{{- $cluster = concat $cluster $res | uniq | sortAlpha -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $left := dict -}}
{{- range $n, $res := $byNs -}}
{{- $keep := list -}}
{{- range $res -}}{{- if not (has . $cluster) -}}{{- $keep = append $keep . -}}{{- end -}}{{- end -}}
{{- if $keep -}}{{- $_ := set $left $n $keep -}}{{- end -}}
{{- end -}}
{{- toJson (dict "cluster" $cluster "namespaces" $left) -}}
{{- end -}}

{{/* RBAC rules for reading `resources` (and posting Events about them). */}}
{{- define "promconf.readRules" -}}
- apiGroups: [""]
  resources: {{ toJson .resources }}
  verbs: [list, watch]
{{- if .events }}
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
{{- end -}}

{{- define "promconf.container" -}}
image: {{ include "promconf.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext: {{- toYaml .Values.securityContext | nindent 2 }}
resources: {{- toYaml .Values.resources | nindent 2 }}
{{- end -}}
