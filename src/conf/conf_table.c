/*
 * The property table: every configuration key airwave knows, one row each.
 *
 * conf.c drives parsing, defaults, validation, environment overrides, the
 * reference docs/CONFIGURATION.md and configs/airwave.example.yaml from
 * these rows; nothing about a key is written anywhere else. Defaults are
 * strings parsed by the same code as the file, so a default outside its
 * own range fails the unit tests rather than shipping.
 *
 * Checks here are pure functions of the value (ca_file's existence aside).
 */
#include "conf/conf_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/conf.h"
#include "ingest/ingest.h"
#include "sink/kafka.h"

/* Offsets checked against the field's type at compile time: a row whose
 * type does not match its field does not build. */
/* NOLINTNEXTLINE(bugprone-macro-parentheses): a struct tag and a type */
#define FIELD(s, f, t) _Generic(((struct s *)0)->f, t : offsetof(struct s, f))

#define CONF_FIELD(f, ctype)   FIELD(aw_conf, f, ctype)
#define STREAM_FIELD(f, ctype) FIELD(aw_stream_conf, f, ctype)

/* Audio sent to the speech service: 16 kHz, 16-bit, mono. */
#define SPEECH_BYTES_PER_MS    (16000 * 2 / 1000)
/* The largest audio message the Azure service accepts in one frame. */
#define SPEECH_MAX_CHUNK_BYTES 8192

static bool is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    }
    return false;
}

/* Case-insensitive prefix match, for URL schemes. */
static size_t scheme_len(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);

    for (size_t i = 0; i < n; i++) {
        if (tolower((unsigned char)url[i]) != scheme[i])
            return 0;
    }
    return n;
}

/* Check "HOST[:PORT]" up to the first '/', '?' or '#' (or the end), with
 * HOST a name, an IPv4 address or a bracketed IPv6 address. Sets *rest to
 * what follows. */
static bool parse_authority(const char *s, bool need_port, const char **rest,
                            char *err, size_t err_size)
{
    const char *p = s, *host_end;

    if (*p == '[') {
        p = strchr(p, ']');
        if (!p || p == s + 1) {
            aw_errstr_set(err, err_size, "bad IPv6 address");
            return false;
        }
        host_end = ++p;
    } else {
        while (*p && (is_alnum((unsigned char)*p) || *p == '-' || *p == '.' ||
                      *p == '_'))
            p++;
        host_end = p;
    }
    if (host_end == s) {
        aw_errstr_set(err, err_size, "missing host");
        return false;
    }
    if (*p == ':') {
        char *end;
        long port;

        p++;
        errno = 0;
        port = strtol(p, &end, 10);
        if (end == p || errno || port < 0 || port > 65535 || *p == '+' ||
            *p == '-') {
            aw_errstr_set(err, err_size, "bad port (0 .. 65535)");
            return false;
        }
        p = end;
    } else if (need_port) {
        aw_errstr_set(err, err_size, "expected HOST:PORT");
        return false;
    }
    if (*p && *p != '/' && *p != '?' && *p != '#') {
        aw_errstr_set(err, err_size, "bad character '%c' in host", *p);
        return false;
    }
    *rest = p;
    return true;
}

static bool check_url(const char *value, const char *const *schemes,
                      const char *expect, char *err, size_t err_size)
{
    const char *rest;
    size_t n = 0;

    for (; *schemes && !n; schemes++)
        n = scheme_len(value, *schemes);
    if (!n) {
        aw_errstr_set(err, err_size, "expected a %s URL", expect);
        return false;
    }
    if (has_control(value) || strchr(value, ' ')) {
        aw_errstr_set(err, err_size, "URL contains spaces or controls");
        return false;
    }
    if (!parse_authority(value + n, false, &rest, err, err_size))
        return false;
    if (rest[0] != '/' || !rest[1] || rest[1] == '?' || rest[1] == '#') {
        aw_errstr_set(err, err_size, "URL has no path");
        return false;
    }
    return true;
}

static enum aw_err check_ws_url(const char *name, const char *value, char *err,
                                size_t err_size)
{
    static const char *const schemes[] = {"wss://", "ws://", NULL};

    (void)name;
    return check_url(value, schemes, "ws:// or wss://", err, err_size)
               ? AW_OK
               : AW_ERR_INVAL;
}

static enum aw_err check_https_url(const char *name, const char *value,
                                   char *err, size_t err_size)
{
    static const char *const schemes[] = {"https://", NULL};

    (void)name;
    return check_url(value, schemes, "https://", err, err_size) ? AW_OK
                                                                : AW_ERR_INVAL;
}

/* BCP-47 syntax only (RFC 5646 langtag, without extensions' finer rules):
 * a 2-3 letter language (or 4-8 for registered ones), then subtags of 1-8
 * letters or digits. Whether the service supports the language is the
 * service's answer. */
static enum aw_err check_language(const char *name, const char *value,
                                  char *err, size_t err_size)
{
    const char *p = value;
    size_t n = 0;

    (void)name;
    while (is_alpha((unsigned char)p[n]))
        n++;
    if (n < 2 || n > 8 || n == 4)
        goto fail;
    p += n;
    while (*p == '-') {
        n = 0;
        p++;
        while (is_alnum((unsigned char)p[n]))
            n++;
        if (n < 1 || n > 8)
            goto fail;
        p += n;
    }
    if (*p || strlen(value) > 35)
        goto fail;
    return AW_OK;

fail:
    aw_errstr_set(err, err_size,
                  "expected a BCP-47 language tag such as en-US or fr-FR");
    return AW_ERR_INVAL;
}

static enum aw_err check_region(const char *name, const char *value, char *err,
                                size_t err_size)
{
    size_t n = strlen(value);

    (void)name;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)value[i];

        if (!is_alnum(c) || (c >= 'A' && c <= 'Z'))
            n = 0;
    }
    if (n < 2 || n > 32) {
        aw_errstr_set(err, err_size,
                      "expected an Azure region name such as westeurope");
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

static enum aw_err check_path(const char *name, const char *value, char *err,
                              size_t err_size)
{
    (void)name;
    if (!*value || has_control(value)) {
        aw_errstr_set(err, err_size, "expected a file path");
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

/* A bad CA bundle would only show when the first wss:// connection fails,
 * possibly hours later for a stream that starts late: check it now. */
static enum aw_err check_readable_file(const char *name, const char *value,
                                       char *err, size_t err_size)
{
    struct stat st;

    if (check_path(name, value, err, err_size) != AW_OK)
        return AW_ERR_INVAL;
    if (stat(value, &st)) {
        aw_errstr_set(err, err_size, "%s: %s", value, strerror(errno));
        return AW_ERR_INVAL;
    }
    if (!S_ISREG(st.st_mode)) {
        aw_errstr_set(err, err_size, "%s: not a regular file", value);
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

static enum aw_err check_chunk_ms(const char *name, const char *value,
                                  char *err, size_t err_size)
{
    long ms = strtol(value, NULL, 10);

    (void)name;
    if (ms * SPEECH_BYTES_PER_MS > SPEECH_MAX_CHUNK_BYTES) {
        aw_errstr_set(err, err_size, "%ld ms is %ld bytes, more than %d", ms,
                      ms * SPEECH_BYTES_PER_MS, SPEECH_MAX_CHUNK_BYTES);
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

/* 0 means "as fast as possible"; between 0 and 0.5 a file would trickle
 * slower than half real time, which is always a mistake. */
static enum aw_err check_pace(const char *name, const char *value, char *err,
                              size_t err_size)
{
    double pace = strtod(value, NULL);

    (void)name;
    if (pace != 0 && pace < 0.5) {
        aw_errstr_set(err, err_size, "expected 0 (unpaced) or 0.5 .. 100");
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

/* Kafka's own rule for topic names. */
static enum aw_err check_topic(const char *name, const char *value, char *err,
                               size_t err_size)
{
    size_t n = strlen(value);

    (void)name;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)value[i];

        if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
            n = 0;
    }
    if (n < 1 || n > 249 || strcmp(value, ".") == 0 ||
        strcmp(value, "..") == 0) {
        aw_errstr_set(err, err_size,
                      "expected a Kafka topic name ([A-Za-z0-9._-], 1 .. 249)");
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

static enum aw_err check_listen(const char *name, const char *value, char *err,
                                size_t err_size)
{
    const char *rest;

    (void)name;
    if (!parse_authority(value, true, &rest, err, err_size))
        return AW_ERR_INVAL;
    if (*rest) {
        aw_errstr_set(err, err_size, "expected HOST:PORT");
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

/* The id is a Kafka message key, a metric label and a Kubernetes object
 * name suffix: keep it to characters that are safe in all three. */
static enum aw_err check_stream_id(const char *name, const char *value,
                                   char *err, size_t err_size)
{
    size_t n = strlen(value);

    (void)name;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)value[i];

        if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
            n = 0;
    }
    if (n < 1 || n > 64) {
        aw_errstr_set(err, err_size, "expected 1 .. 64 of [A-Za-z0-9._-]");
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

static enum aw_err check_source(const char *name, const char *value, char *err,
                                size_t err_size)
{
    (void)name;
    if (!*value || has_control(value) || strlen(value) > 4096) {
        aw_errstr_set(err, err_size, "expected a URL or a file path");
        return AW_ERR_INVAL;
    }
    return AW_OK;
}

/* librdkafka takes "" and then has no broker to talk to; the sink would
 * be on and never deliver. */
static enum aw_err check_bootstrap(const char *name, const char *value,
                                   char *err, size_t err_size)
{
    if (!*value) {
        aw_errstr_set(err, err_size, "expected host:port[,host:port...]");
        return AW_ERR_INVAL;
    }
    return aw_kafka_conf_check(name, value, err, err_size);
}

static const struct aw_conf_enum provider_values[] = {{"azure", 0, false},
                                                      {NULL, 0, false}};

static const struct aw_conf_enum format_values[] = {
    {"simple", AW_SPEECH_FORMAT_SIMPLE, false},
    {"detailed", AW_SPEECH_FORMAT_DETAILED, false},
    {NULL, 0, false},
};

static const struct aw_conf_enum level_values[] = {
    {"error", 0, false}, {"warn", 0, false},  {"notice", 0, false},
    {"info", 0, false},  {"debug", 0, false}, {NULL, 0, false},
};

static const struct aw_conf_enum log_format_values[] = {
    {"logfmt", 0, false}, {"json", 0, false}, {NULL, 0, false}};

static const struct aw_conf_enum live_values[] = {
    {"auto", AW_LIVE_AUTO, false}, {"true", AW_LIVE_YES, false},
    {"false", AW_LIVE_NO, false},  {"yes", AW_LIVE_YES, true},
    {"no", AW_LIVE_NO, true},      {"on", AW_LIVE_YES, true},
    {"off", AW_LIVE_NO, true},     {NULL, 0, false},
};

#define GLOBAL AW_CONF_SCOPE_GLOBAL
#define STREAM AW_CONF_SCOPE_STREAM

const struct aw_conf_prop aw_conf_props[] = {
    /* speech */
    {.scope = GLOBAL,
     .key = "speech.provider",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(speech_provider, char *),
     .def = "azure",
     .values = provider_values,
     .doc = "Speech service protocol; `azure` also speaks to the bundled "
            "airwave-speechd."},
    {.scope = GLOBAL,
     .key = "speech.endpoint",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(speech_endpoint, char *),
     .def = "ws://127.0.0.1:5000/speech/recognition/conversation/"
            "cognitiveservices/v1",
     .check = check_ws_url,
     .doc = "Recognition websocket URL (ws:// or wss://, host and path); the "
            "default is a local airwave-speechd.",
     .doc_range = "ws:// or wss:// URL"},
    {.scope = GLOBAL,
     .key = "speech.region",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(speech_region, char *),
     .check = check_region,
     .doc = "Azure region: unless speech.endpoint is set, the endpoint "
            "becomes wss://REGION.stt.speech.microsoft.com/speech/"
            "recognition/conversation/cognitiveservices/v1.",
     .doc_range = "lower-case letters and digits",
     .example = "westeurope"},
    {.scope = GLOBAL,
     .key = "speech.language",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(speech_language, char *),
     .def = "en-US",
     .check = check_language,
     .doc = "Recognition language of streams that do not set their own.",
     .doc_range = "BCP-47 tag"},
    {.scope = GLOBAL,
     .key = "speech.format",
     .type = AW_CONF_T_ENUM,
     .offset = CONF_FIELD(speech_format, enum aw_speech_format),
     .def = "detailed",
     .values = format_values,
     .doc = "`detailed` adds the lexical form and a confidence to each "
            "phrase."},
    {.scope = GLOBAL,
     .key = "speech.word_timings",
     .type = AW_CONF_T_BOOL,
     .offset = CONF_FIELD(speech_word_timings, bool),
     .def = "false",
     .doc = "Ask for the offset and duration of every word (detailed format "
            "only)."},
    {.scope = GLOBAL,
     .key = "speech.key",
     .type = AW_CONF_T_REFUSED,
     .doc = "never read from the configuration: set the environment variable "
            "AZURE_SPEECH_KEY or speech.key_file, so the key stays out of "
            "files, logs and ConfigMaps"},
    {.scope = GLOBAL,
     .key = "speech.key_file",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(speech_key_file, char *),
     .check = check_path,
     .doc = "File holding the speech key (e.g. a mounted Kubernetes Secret), "
            "read instead of AZURE_SPEECH_KEY.",
     .doc_range = "path",
     .example = "/run/secrets/azure-speech-key"},
    {.scope = GLOBAL,
     .key = "speech.token_endpoint",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(speech_token_endpoint, char *),
     .check = check_https_url,
     .doc = "issueToken URL: trade the key for short-lived bearer tokens "
            "instead of sending the key itself.",
     .doc_range = "https:// URL",
     .example = "https://westeurope.api.cognitive.microsoft.com/sts/v1.0/"
                "issueToken"},
    {.scope = GLOBAL,
     .key = "speech.ca_file",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(speech_ca_file, char *),
     .check = check_readable_file,
     .doc = "Extra CA bundle (PEM) for wss:// and https://; must exist.",
     .doc_range = "path of a readable file",
     .example = "/etc/ssl/certs/ca-certificates.crt"},
    {.scope = GLOBAL,
     .key = "speech.tls_verify",
     .type = AW_CONF_T_BOOL,
     .offset = CONF_FIELD(speech_tls_verify, bool),
     .def = "true",
     .doc = "Verify the service's certificate; turn off only for tests."},
    {.scope = GLOBAL,
     .key = "speech.rotate_seconds",
     .type = AW_CONF_T_DBL,
     .offset = CONF_FIELD(speech_rotate_seconds, double),
     .def = "540",
     .min = 5,
     .max = 3600,
     .doc = "Open a fresh connection after this long, ahead of Azure's "
            "10-minute connection limit."},
    {.scope = GLOBAL,
     .key = "speech.rotate_grace_seconds",
     .type = AW_CONF_T_DBL,
     .offset = CONF_FIELD(speech_rotate_grace_seconds, double),
     .def = "45",
     .min = 0,
     .max = 600,
     .doc = "Once due, wait up to this long for a pause in speech before "
            "rotating."},
    {.scope = GLOBAL,
     .key = "speech.chunk_ms",
     .type = AW_CONF_T_INT,
     .offset = CONF_FIELD(speech_chunk_ms, int),
     .def = "100",
     .min = 20,
     .max = 250,
     .check = check_chunk_ms,
     .doc = "Audio per websocket message (32 bytes per ms; at most 8192 "
            "bytes)."},
    {.scope = GLOBAL,
     .key = "speech.pace",
     .type = AW_CONF_T_DBL,
     .offset = CONF_FIELD(speech_pace, double),
     .def = "2",
     .min = 0,
     .max = 100,
     .check = check_pace,
     .doc = "Files: send audio at this multiple of real time; 0 sends as "
            "fast as the service takes it.",
     .doc_range = "0, or 0.5 .. 100"},
    {.scope = GLOBAL,
     .key = "speech.connect_timeout_seconds",
     .type = AW_CONF_T_DBL,
     .offset = CONF_FIELD(speech_connect_timeout_seconds, double),
     .def = "10",
     .min = 1,
     .max = 300,
     .doc = "Give up on a websocket connection attempt after this long."},
    {.scope = GLOBAL,
     .key = "speech.final_timeout_seconds",
     .type = AW_CONF_T_DBL,
     .offset = CONF_FIELD(speech_final_timeout_seconds, double),
     .def = "15",
     .min = 1,
     .max = 600,
     .doc = "At the end of audio or on rotation, wait this long for the last "
            "phrases."},

    /* kafka */
    {.scope = GLOBAL,
     .key = "kafka.bootstrap.servers",
     .type = AW_CONF_T_PASS,
     .offset = CONF_FIELD(kafka, struct aw_kv *),
     .count_offset = CONF_FIELD(nkafka, size_t),
     .check = check_bootstrap,
     .doc = "Kafka brokers (host:port,...); setting it turns the Kafka sink "
            "on.",
     .doc_def = "unset (Kafka off)",
     .doc_range = "librdkafka bootstrap.servers",
     .example = "kafka:9092"},
    {.scope = GLOBAL,
     .key = "kafka.topic",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(kafka_topic, char *),
     .def = "transcripts",
     .check = check_topic,
     .doc = "Topic of transcript records (key: stream id).",
     .doc_range = "topic name"},
    {.scope = GLOBAL,
     .key = "kafka.events_topic",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(kafka_events_topic, char *),
     .def = "stream-events",
     .check = check_topic,
     .doc = "Topic of stream events: up/down, discontinuities, titles, "
            "rotations.",
     .doc_range = "topic name"},
    {.scope = GLOBAL,
     .key = "kafka.flush_timeout_ms",
     .type = AW_CONF_T_INT,
     .offset = CONF_FIELD(kafka_flush_timeout_ms, int),
     .def = "10000",
     .min = 0,
     .max = 600000,
     .doc = "On shutdown, wait this long for queued records to be "
            "delivered."},
    {.scope = GLOBAL,
     .key = "kafka.*",
     .type = AW_CONF_T_PASS,
     .offset = CONF_FIELD(kafka, struct aw_kv *),
     .count_offset = CONF_FIELD(nkafka, size_t),
     .check = aw_kafka_conf_check,
     .doc = "Any other librdkafka property, prefix stripped (SASL/SSL, "
            "acks, compression...); checked by librdkafka.",
     .doc_range = "librdkafka 2.0 properties",
     .example = "compression.codec: lz4"},

    /* ffmpeg */
    {.scope = GLOBAL,
     .key = "ffmpeg.*",
     .type = AW_CONF_T_PASS,
     .offset = CONF_FIELD(ffmpeg, struct aw_kv *),
     .count_offset = CONF_FIELD(nffmpeg, size_t),
     .check = aw_ingest_check_option,
     .doc = "libavformat input or protocol option for every stream "
            "(rw_timeout, reconnect, reconnect_streamed, user_agent...).",
     .doc_range = "FFmpeg 5.1 input options",
     .example = "rw_timeout: 15000000"},

    /* ingest */
    {.scope = GLOBAL,
     .key = "ingest.buffer_seconds",
     .type = AW_CONF_T_DBL,
     .offset = CONF_FIELD(ingest_buffer_seconds, double),
     .def = "30",
     .min = 2,
     .max = 600,
     .doc = "Audio held per stream while the speech service is slow or "
            "away; older audio is dropped and counted. Up to 32 KB of "
            "memory per second per stream (about 1 MB at 30 s) when full; "
            "only the audio held is resident, usually the few seconds "
            "since the last final phrase."},
    {.scope = GLOBAL,
     .key = "ingest.stall_seconds",
     .type = AW_CONF_T_DBL,
     .offset = CONF_FIELD(ingest_stall_seconds, double),
     .def = "20",
     .min = 1,
     .max = 3600,
     .doc = "Reopen a source that delivered no audio for this long."},

    /* output */
    {.scope = GLOBAL,
     .key = "output.jsonl",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(output_jsonl, char *),
     .check = check_path,
     .doc = "Also write transcripts as JSON lines: `-` for stdout, or a "
            "file path.",
     .doc_range = "`-` or a path",
     .example = "-"},

    /* http */
    {.scope = GLOBAL,
     .key = "http.listen",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(http_listen, char *),
     .check = check_listen,
     .doc = "Serve /metrics, /healthz and /readyz on this address.",
     .doc_def = "unset (off)",
     .doc_range = "HOST:PORT",
     .example = "0.0.0.0:9090"},

    /* log */
    {.scope = GLOBAL,
     .key = "log.level",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(log_level, char *),
     .def = "info",
     .values = level_values,
     .doc = "Most verbose level logged."},
    {.scope = GLOBAL,
     .key = "log.format",
     .type = AW_CONF_T_STR,
     .offset = CONF_FIELD(log_format, char *),
     .def = "logfmt",
     .values = log_format_values,
     .doc = "Log line format: logfmt for people, json for log collectors."},

    /* one entry of streams: */
    {.scope = STREAM,
     .key = "id",
     .type = AW_CONF_T_STR,
     .offset = STREAM_FIELD(id, char *),
     .required = true,
     .check = check_stream_id,
     .doc = "Unique name: the Kafka key, the metric label, the pod name "
            "suffix.",
     .doc_def = "required",
     .doc_range = "1 .. 64 of [A-Za-z0-9._-]",
     .example = "radio-okapi"},
    {.scope = STREAM,
     .key = "url",
     .type = AW_CONF_T_STR,
     .offset = STREAM_FIELD(url, char *),
     .required = true,
     .check = check_source,
     .doc = "Source: file path, file:, http(s): (Icecast, HLS), rtmp:, "
            "rtsp:, udp:, or portaudio:DEVICE.",
     .doc_def = "required",
     .doc_range = "URL or path",
     .example = "http://example.org/okapi.mp3"},
    {.scope = STREAM,
     .key = "language",
     .type = AW_CONF_T_STR,
     .offset = STREAM_FIELD(language, char *),
     .check = check_language,
     .doc = "Recognition language of this stream.",
     .doc_def = "speech.language",
     .doc_range = "BCP-47 tag",
     .example = "fr-FR"},
    {.scope = STREAM,
     .key = "audio_track",
     .type = AW_CONF_T_INT,
     .offset = STREAM_FIELD(audio_track, int),
     .unset = -1,
     .min = 0,
     .max = 65535,
     .doc = "TV and multi-track sources: the stream index to transcribe.",
     .doc_def = "best audio stream",
     .example = "1"},
    {.scope = STREAM,
     .key = "audio_language",
     .type = AW_CONF_T_STR,
     .offset = STREAM_FIELD(audio_language, char *),
     .check = check_language,
     .doc = "TV: pick the audio track tagged with this language.",
     .doc_def = "best audio stream",
     .doc_range = "language tag",
     .example = "fra"},
    {.scope = STREAM,
     .key = "live",
     .type = AW_CONF_T_ENUM,
     .offset = STREAM_FIELD(live, enum aw_live_mode),
     .def = "auto",
     .values = live_values,
     .doc = "Live sources are never paced and reconnect at their end; "
            "auto: live unless the source has a duration and can seek."},
    {.scope = STREAM,
     .key = "pace",
     .type = AW_CONF_T_DBL,
     .offset = STREAM_FIELD(pace, double),
     .unset = -1,
     .min = 0,
     .max = 100,
     .check = check_pace,
     .doc = "Pace of this stream when it is a file.",
     .doc_def = "speech.pace",
     .doc_range = "0, or 0.5 .. 100",
     .example = "1"},
    {.scope = STREAM,
     .key = "ffmpeg.*",
     .type = AW_CONF_T_PASS,
     .offset = STREAM_FIELD(ffmpeg, struct aw_kv *),
     .count_offset = STREAM_FIELD(nffmpeg, size_t),
     .check = aw_ingest_check_option,
     .doc = "libavformat options of this stream, over the global ffmpeg.* "
            "ones.",
     .doc_range = "FFmpeg 5.1 input options",
     .example = "ffmpeg: {user_agent: airwave}"},
};

#undef GLOBAL
#undef STREAM

const size_t aw_conf_props_count = AW_ARRAY_SIZE(aw_conf_props);

/* conf.c stores enums through an int pointer and keeps one "modified" bit
 * per row. */
_Static_assert(sizeof(enum aw_speech_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum aw_live_mode) == sizeof(int), "enum size");
_Static_assert(AW_ARRAY_SIZE(aw_conf_props) <= 64, "one bit per row");
