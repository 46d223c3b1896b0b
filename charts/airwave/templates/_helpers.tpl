{{/* Names ------------------------------------------------------------------ */}}

{{- define "airwave.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name, at most 40 characters so that a stream id can
     follow it (Kubernetes names of 63). */}}
{{- define "airwave.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "airwave.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Deployment name of a stream: {root, stream}. Lower case, with . and
     _ as -, as Kubernetes names need. */}}
{{- define "airwave.streamName" -}}
{{- $slug := .stream.id | lower | replace "_" "-" | replace "." "-" -}}
{{- printf "%s-%s" (include "airwave.fullname" .root) $slug | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "airwave.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "airwave.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "airwave.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "airwave.speechdImage" -}}
{{- $repo := default .Values.image.repository .Values.speechd.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.speechd.image.tag -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* Labels ------------------------------------------------------------------ */}}

{{- define "airwave.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airwave.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "airwave.labels" -}}
helm.sh/chart: {{ include "airwave.chart" . }}
{{ include "airwave.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: airwave
{{- end -}}

{{/* Secrets ----------------------------------------------------------------- */}}

{{/* The Secret holding the speech key, or "" when there is none. */}}
{{- define "airwave.speechKeySecret" -}}
{{- if .Values.speechKey.existingSecret -}}
{{- .Values.speechKey.existingSecret -}}
{{- else if .Values.speechKey.value -}}
{{- include "airwave.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "airwave.kafkaSaslSecret" -}}
{{- if .Values.kafkaSasl.existingSecret -}}
{{- .Values.kafkaSasl.existingSecret -}}
{{- else if .Values.kafkaSasl.password -}}
{{- include "airwave.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Whether the chart makes its own Secret, and a digest of its data (so a
     new key rolls the pods that read it). */}}
{{- define "airwave.ownSecretData" -}}
{{- if and .Values.speechKey.value (not .Values.speechKey.existingSecret) }}
{{ .Values.speechKey.secretKey }}: {{ .Values.speechKey.value | b64enc }}
{{- end }}
{{- if and .Values.kafkaSasl.password (not .Values.kafkaSasl.existingSecret) }}
{{ .Values.kafkaSasl.secretKey }}: {{ .Values.kafkaSasl.password | b64enc }}
{{- end }}
{{- end -}}

{{/* Configuration ------------------------------------------------------------ */}}

{{- define "airwave.speechdService" -}}
{{- printf "%s-speechd" (include "airwave.fullname" .) -}}
{{- end -}}

{{- define "airwave.speechdEndpoint" -}}
{{- printf "ws://%s.%s.svc:%d/speech/recognition/conversation/cognitiveservices/v1" (include "airwave.speechdService" .) .Release.Namespace (int .Values.speechd.port) -}}
{{- end -}}

{{/* airwave.yaml without its streams: config.* with empty sections left out,
     speech.endpoint set to airwave-speechd in offline mode, and http.listen
     for the probes and /metrics. Every stream pod's checksum covers it. */}}
{{- define "airwave.globalConfig" -}}
{{- $c := dict -}}
{{- range $section, $v := .Values.config -}}
{{- if $v -}}
{{- $_ := set $c $section (deepCopy $v) -}}
{{- end -}}
{{- end -}}
{{- if .Values.speechd.enabled -}}
{{- $speech := default dict (get $c "speech") -}}
{{- $_ := set $speech "endpoint" (include "airwave.speechdEndpoint" .) -}}
{{- $_ := set $c "speech" $speech -}}
{{- end -}}
{{- $_ := set $c "http" (dict "listen" "0.0.0.0:9090") -}}
{{- toYaml $c -}}
{{- end -}}

{{/* A stream's entry in airwave.yaml: the values entry without the chart's
     own keys. */}}
{{- define "airwave.streamEntry" -}}
{{- toYaml (omit . "replicaCount" "resources" "podAnnotations") -}}
{{- end -}}

{{/* Checks across values that a JSON schema cannot express. Included by
     every template that depends on them, so they fail the render. */}}
{{- define "airwave.validate" -}}
{{- $root := . -}}
{{- $ids := dict -}}
{{- $names := dict -}}
{{- range $i, $s := .Values.streams -}}
{{- if hasKey $ids $s.id -}}
{{- fail (printf "streams: the id %q is used by streams %d and %d; ids must be unique" $s.id (get $ids $s.id) $i) -}}
{{- end -}}
{{- $_ := set $ids $s.id $i -}}
{{- $name := include "airwave.streamName" (dict "root" $root "stream" $s) -}}
{{- if hasKey $names $name -}}
{{- fail (printf "streams: ids %q and %q both become the Deployment name %q (lower case, . and _ as -); rename one" (get $names $name) $s.id $name) -}}
{{- end -}}
{{- $_ := set $names $name $s.id -}}
{{- end -}}
{{- if .Values.streams -}}
{{- $speech := default dict .Values.config.speech -}}
{{- if .Values.speechd.enabled -}}
{{- if $speech.endpoint -}}
{{- fail "config.speech.endpoint and speechd.enabled: with speechd enabled the chart points every stream at it; leave config.speech.endpoint unset" -}}
{{- end -}}
{{- $default := default "en-US" $speech.language -}}
{{- range .Values.streams -}}
{{- $lang := default $default .language -}}
{{- $ok := false -}}
{{- range $root.Values.speechd.languages -}}
{{- if eq (lower .) (lower $lang) -}}{{- $ok = true -}}{{- end -}}
{{- end -}}
{{- if not $ok -}}
{{- fail (printf "streams: %q is in %s, which airwave-speechd does not recognise (speechd.languages: %s); offline mode has only the en-US model" .id $lang (join ", " $root.Values.speechd.languages)) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- if not (or $speech.region $speech.endpoint) -}}
{{- fail "streams need a speech service: set config.speech.region (Azure) or config.speech.endpoint, or enable speechd for offline operation" -}}
{{- end -}}
{{- if not (include "airwave.speechKeySecret" .) -}}
{{- fail "streams need the speech key: set speechKey.existingSecret (a Secret you manage) or speechKey.value" -}}
{{- end -}}
{{- end -}}
{{- $kafka := default dict .Values.config.kafka -}}
{{- $output := default dict .Values.config.output -}}
{{- if not (or (get $kafka "bootstrap.servers") $output.jsonl) -}}
{{- fail "streams need somewhere to publish: set config.kafka.bootstrap.servers (or config.output.jsonl: \"-\" to print transcripts to the pod log)" -}}
{{- end -}}
{{- if and (get $kafka "sasl.username") (not (include "airwave.kafkaSaslSecret" .)) -}}
{{- fail "config.kafka.sasl.username is set but no password: set kafkaSasl.existingSecret or kafkaSasl.password" -}}
{{- end -}}
{{- end -}}
{{- end -}}
