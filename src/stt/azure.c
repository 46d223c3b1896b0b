/*
 * The Azure Speech provider: the messages of the speech websocket protocol
 * (shared/docs/azure-speech-protocol.md §3, §4) on top of usp.c's framing.
 * Pure functions; the session (session.c) decides when each is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "airwave/audio.h"
#include "airwave/clock.h"
#include "stt/stt.h"
#include "stt/usp.h"

#ifndef AW_VERSION
#define AW_VERSION "0"
#endif

/* Service messages are small, but a detailed phrase with word timings for
 * a long utterance can reach tens of kilobytes. */
static const struct aw_usp_limits service_limits = {
    .max_headers = AW_USP_MAX_HEADERS,
    .max_header_bytes = AW_USP_MAX_HEADER_BYTES,
    .max_text_body_bytes = 256 * 1024,
    .max_audio_body_bytes = AW_USP_MAX_AUDIO_BYTES,
};

static const struct {
    const char *name;
    enum aw_stt_status status;
} statuses[] = {
    {"Success", AW_STT_SUCCESS},
    {"NoMatch", AW_STT_NO_MATCH},
    {"InitialSilenceTimeout", AW_STT_INITIAL_SILENCE},
    {"BabbleTimeout", AW_STT_BABBLE},
    {"EndOfDictation", AW_STT_END_OF_DICTATION},
    {"DictationEndSilenceTimeout", AW_STT_END_OF_DICTATION},
    {"Error", AW_STT_ERROR},
    {"TooManyRequests", AW_STT_TOO_MANY_REQUESTS},
    {"BadRequest", AW_STT_BAD_REQUEST},
    {"Forbidden", AW_STT_FORBIDDEN},
};

const char *aw_stt_status_name(enum aw_stt_status status)
{
    for (size_t i = 0; i < AW_ARRAY_SIZE(statuses); i++)
        if (statuses[i].status == status)
            return statuses[i].name;
    return "Unknown";
}

void aw_stt_msg_clear(struct aw_stt_msg *m)
{
    free(m->text);
    free(m->lexical);
    for (size_t i = 0; i < m->nwords; i++)
        free(m->words[i].word);
    free(m->words);
    memset(m, 0, sizeof(*m));
    m->confidence = -1;
}

/* Append "&name=value" (or "?...") unless the URL already carries name. */
static int add_param(char *url, size_t cap, const char *name, const char *value)
{
    size_t len = strlen(url);
    char probe[64];
    const char *q = strchr(url, '?');
    int n;

    snprintf(probe, sizeof(probe), "%s=", name);
    if (q) {
        const char *p = q + 1;

        while (p && *p) {
            if (!strncmp(p, probe, strlen(probe)))
                return 0;
            p = strchr(p, '&');
            if (p)
                p++;
        }
    }
    /* Values here are BCP-47 tags and fixed words: nothing to escape, but
     * refuse anything that would need it rather than build a wrong URL. */
    for (const char *v = value; *v; v++)
        if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
              (*v >= '0' && *v <= '9') || *v == '-' || *v == '_' || *v == '.'))
            return -1;
    n = snprintf(url + len, cap - len, "%c%s=%s", q ? '&' : '?', name, value);
    return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

static enum aw_err azure_handshake(const struct aw_stt_params *p,
                                   const char *connection_id,
                                   struct aw_stt_handshake *hs, char *errstr,
                                   size_t errstr_size)
{
    size_t used = 0;
    int n;

    memset(hs, 0, sizeof(*hs));
    if (strncmp(p->endpoint, "ws://", 5) && strncmp(p->endpoint, "wss://", 6)) {
        aw_errstr_set(errstr, errstr_size,
                      "speech endpoint must be a ws:// or wss:// URL");
        return AW_ERR_INVAL;
    }
    n = snprintf(hs->url, sizeof(hs->url), "%s", p->endpoint);
    if (n < 0 || (size_t)n >= sizeof(hs->url) ||
        add_param(hs->url, sizeof(hs->url), "language", p->language) ||
        add_param(hs->url, sizeof(hs->url), "format",
                  p->detailed ? "detailed" : "simple")) {
        aw_errstr_set(errstr, errstr_size,
                      "speech endpoint URL too long or language invalid");
        return AW_ERR_INVAL;
    }

    /* The key travels in a header only: unlike the SDK we never copy it
     * into the URL, where proxies and access logs would keep it. */
    hs->headers[hs->nheaders].name = "X-ConnectionId";
    hs->headers[hs->nheaders++].value = connection_id;
    if (p->token) {
        n = snprintf(hs->storage + used, sizeof(hs->storage) - used,
                     "Bearer %s", p->token);
        if (n < 0 || (size_t)n >= sizeof(hs->storage) - used) {
            aw_errstr_set(errstr, errstr_size, "bearer token too long");
            return AW_ERR_INVAL;
        }
        hs->headers[hs->nheaders].name = "Authorization";
        hs->headers[hs->nheaders++].value = hs->storage + used;
        used += (size_t)n + 1;
    } else if (p->key) {
        hs->headers[hs->nheaders].name = "Ocp-Apim-Subscription-Key";
        hs->headers[hs->nheaders++].value = p->key;
    }
    return AW_OK;
}

static enum aw_err json_frame(const char *path, const char *request_id,
                              json_t *body, uint8_t *buf, size_t cap,
                              size_t *len)
{
    char *text = json_dumps(body, JSON_COMPACT);
    enum aw_err err;

    json_decref(body);
    if (!text)
        return AW_ERR_NOMEM;
    err = aw_usp_build_text(buf, cap, len, path, request_id, "application/json",
                            text, strlen(text));
    free(text);
    return err;
}

static enum aw_err azure_open_frame(const struct aw_stt_params *p, uint8_t *buf,
                                    size_t cap, size_t *len)
{
    json_t *body;

    (void)p;
    /* The fields the Bing spec requires, plus the SDK's audio source
     * description; the service reads none of them back to us. */
    body = json_pack(
        "{s:{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},"
        "s:{s:{s:i,s:i,s:s,s:s,s:s,s:i,s:s}}},s:s}",
        "context", "system", "name", "airwave", "version", AW_VERSION, "build",
        "C", "lang", "C", "os", "platform", "Linux", "name", "airwave",
        "version", AW_VERSION, "device", "manufacturer", "airwave", "model",
        "stream", "version", AW_VERSION, "audio", "source", "bitspersample", 16,
        "channelcount", 1, "connectivity", "Unknown", "manufacturer", "airwave",
        "model", "Stream", "samplerate", AW_AUDIO_RATE_HZ, "type", "Stream",
        "recognition", "conversation");
    if (!body)
        return AW_ERR_NOMEM;
    return json_frame("speech.config", NULL, body, buf, cap, len);
}

static enum aw_err context_frame(const struct aw_stt_params *p,
                                 const char *request_id, uint8_t *buf,
                                 size_t cap, size_t *len)
{
    json_t *body, *output;

    if (p->detailed) {
        output = json_pack("{s:s}", "format", "Detailed");
        if (output && p->word_timings)
            json_object_set_new(output, "detailed",
                                json_pack("{s:[s]}", "options", "WordTimings"));
    } else {
        output = json_object();
    }
    body = json_pack("{s:{s:s,s:s,s:{}},s:o}", "phraseDetection", "mode",
                     "Conversation", "language", p->language, "enrichment",
                     "phraseOutput", output);
    if (!body)
        return AW_ERR_NOMEM;
    return json_frame("speech.context", request_id, body, buf, cap, len);
}

static enum aw_err azure_turn_frame(const struct aw_stt_params *p,
                                    const char *request_id, unsigned index,
                                    uint8_t *buf, size_t cap, size_t *len,
                                    bool *binary)
{
    uint8_t riff[AW_USP_RIFF_BYTES];

    *binary = index == 1;
    switch (index) {
    case 0:
        return context_frame(p, request_id, buf, cap, len);
    case 1:
        /* Its own message, as the SDK sends it: the first audio message
         * of a turn carries the format. */
        aw_usp_riff_build(riff, AW_AUDIO_RATE_HZ, 16, 1);
        return aw_usp_build_audio(buf, cap, len, request_id, "audio/x-wav",
                                  riff, sizeof(riff));
    default:
        *len = 0;
        return AW_OK;
    }
}

static enum aw_err azure_audio_frame(const char *request_id, const uint8_t *pcm,
                                     size_t n, uint8_t *buf, size_t cap,
                                     size_t *len)
{
    return aw_usp_build_audio(buf, cap, len, request_id, NULL, pcm, n);
}

static enum aw_err azure_after_turn_frame(const char *request_id,
                                          const char *connection_id,
                                          int64_t connected_wall_ms,
                                          uint8_t *buf, size_t cap, size_t *len)
{
    char start[32], end[32];
    json_t *body;

    aw_time_format_iso8601(connected_wall_ms, start, sizeof(start));
    aw_time_format_iso8601(aw_clock_wall_ms(), end, sizeof(end));
    /* "Clients must send one telemetry per X-RequestId soon after
     * turn.end" (Bing spec); the body is the documented minimum. */
    body = json_pack("{s:[{s:s,s:s,s:s,s:s}],s:{}}", "Metrics", "Name",
                     "Connection", "Id", connection_id, "Start", start, "End",
                     end, "ReceivedMessages");
    if (!body)
        return AW_ERR_NOMEM;
    return json_frame("telemetry", request_id, body, buf, cap, len);
}

static size_t azure_audio_overhead(void)
{
    return aw_usp_audio_frame_size("00000000000000000000000000000000", NULL, 0);
}

static const struct {
    const char *path;
    enum aw_stt_msg_type type;
} paths[] = {
    {"turn.start", AW_STT_MSG_TURN_START},
    {"speech.startDetected", AW_STT_MSG_SPEECH_START},
    {"speech.hypothesis", AW_STT_MSG_HYPOTHESIS},
    {"speech.fragment", AW_STT_MSG_HYPOTHESIS},
    {"speech.phrase", AW_STT_MSG_PHRASE},
    {"speech.endDetected", AW_STT_MSG_SPEECH_END},
    {"turn.end", AW_STT_MSG_TURN_END},
};

/* Offsets are numbers; the old docs show strings, so accept both. */
static int get_ticks(json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        *out = (int64_t)json_real_value(v);
    } else if (json_is_string(v)) {
        char *end;
        long long t = strtoll(json_string_value(v), &end, 10);

        if (*end || end == json_string_value(v))
            return -1;
        *out = t;
    } else {
        return v ? -1 : 0;
    }
    return *out < 0 ? -1 : 0;
}

static char *dup_string(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? strdup(s) : NULL;
}

static enum aw_err parse_words(json_t *best, struct aw_stt_msg *msg)
{
    json_t *words = json_object_get(best, "Words"), *w;
    size_t i;

    if (!json_is_array(words) || !json_array_size(words))
        return AW_OK;
    msg->words = calloc(json_array_size(words), sizeof(*msg->words));
    if (!msg->words)
        return AW_ERR_NOMEM;
    json_array_foreach(words, i, w)
    {
        struct aw_stt_word *out = &msg->words[msg->nwords];

        if (!json_is_string(json_object_get(w, "Word")) ||
            get_ticks(w, "Offset", &out->offset_ticks) ||
            get_ticks(w, "Duration", &out->duration_ticks))
            return AW_ERR_PROTO;
        out->word = dup_string(w, "Word");
        if (!out->word)
            return AW_ERR_NOMEM;
        msg->nwords++;
    }
    return AW_OK;
}

static enum aw_err parse_phrase(json_t *root, struct aw_stt_msg *msg,
                                char *errstr, size_t errstr_size)
{
    const char *status =
        json_string_value(json_object_get(root, "RecognitionStatus"));
    json_t *nbest = json_object_get(root, "NBest"), *best;

    msg->status = AW_STT_UNKNOWN;
    if (!status) {
        aw_errstr_set(errstr, errstr_size,
                      "speech.phrase without RecognitionStatus");
        return AW_ERR_PROTO;
    }
    for (size_t i = 0; i < AW_ARRAY_SIZE(statuses); i++)
        if (!strcmp(statuses[i].name, status))
            msg->status = statuses[i].status;
    if (msg->status != AW_STT_SUCCESS)
        return AW_OK;

    best = json_is_array(nbest) ? json_array_get(nbest, 0) : NULL;
    if (best) {
        json_t *conf = json_object_get(best, "Confidence");

        msg->text = dup_string(best, "Display");
        msg->lexical = dup_string(best, "Lexical");
        if (json_is_number(conf))
            msg->confidence = json_number_value(conf);
        if (parse_words(best, msg)) {
            aw_errstr_set(errstr, errstr_size, "speech.phrase: bad Words");
            return AW_ERR_PROTO;
        }
    }
    if (!msg->text)
        msg->text = dup_string(root, "DisplayText");
    if (!msg->text) {
        aw_errstr_set(errstr, errstr_size,
                      "speech.phrase Success without DisplayText");
        return AW_ERR_PROTO;
    }
    return AW_OK;
}

static enum aw_err azure_parse(const uint8_t *data, size_t len, bool binary,
                               struct aw_stt_msg *msg, char *errstr,
                               size_t errstr_size)
{
    struct aw_usp_msg usp;
    const char *reason = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    enum aw_err err;

    memset(msg, 0, sizeof(*msg));
    msg->confidence = -1;
    err = aw_usp_parse(data, len, binary, &service_limits, &usp, &reason);
    if (err) {
        aw_errstr_set(errstr, errstr_size, "bad message from service: %s",
                      reason);
        return AW_ERR_PROTO;
    }
    if (!usp.path) {
        aw_errstr_set(errstr, errstr_size, "message from service has no Path");
        return AW_ERR_PROTO;
    }
    if (usp.request_id && usp.request_id_len < AW_STT_ID_LEN) {
        memcpy(msg->request_id, usp.request_id, usp.request_id_len);
        msg->request_id[usp.request_id_len] = '\0';
    }
    msg->type = AW_STT_MSG_OTHER;
    for (size_t i = 0; i < AW_ARRAY_SIZE(paths); i++)
        if (aw_usp_path_is(&usp, paths[i].path))
            msg->type = paths[i].type;
    if (msg->type == AW_STT_MSG_OTHER || msg->type == AW_STT_MSG_TURN_START ||
        msg->type == AW_STT_MSG_TURN_END)
        return AW_OK;

    root = json_loadb((const char *)usp.body, usp.body_len, 0, &jerr);
    if (!json_is_object(root)) {
        aw_errstr_set(errstr, errstr_size, "%.*s: body is not a JSON object",
                      (int)usp.path_len, usp.path);
        err = AW_ERR_PROTO;
        goto out;
    }
    if (get_ticks(root, "Offset", &msg->offset_ticks) ||
        get_ticks(root, "Duration", &msg->duration_ticks)) {
        aw_errstr_set(errstr, errstr_size, "%.*s: bad Offset or Duration",
                      (int)usp.path_len, usp.path);
        err = AW_ERR_PROTO;
        goto out;
    }
    if (msg->type == AW_STT_MSG_PHRASE) {
        err = parse_phrase(root, msg, errstr, errstr_size);
    } else if (msg->type == AW_STT_MSG_HYPOTHESIS) {
        msg->text = dup_string(root, "Text");
        err = AW_OK;
    }
out:
    json_decref(root);
    if (err)
        aw_stt_msg_clear(msg);
    return err;
}

const struct aw_stt_ops aw_stt_azure_ops = {
    .name = "azure",
    .handshake = azure_handshake,
    .open_frame = azure_open_frame,
    .turn_frame = azure_turn_frame,
    .audio_frame = azure_audio_frame,
    .after_turn_frame = azure_after_turn_frame,
    .parse = azure_parse,
    .audio_overhead = azure_audio_overhead,
};

const struct aw_stt_ops *aw_stt_find(const char *name)
{
    if (name && !strcasecmp(name, aw_stt_azure_ops.name))
        return &aw_stt_azure_ops;
    return NULL;
}
