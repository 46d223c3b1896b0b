/*
 * airwave-speechd - the Azure protocol rules of one connection. See proto.h
 * and the refusal table in docs/speechd.md.
 */
#include "speechd/proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "airwave/log.h"
#include "common/uuid.h"

#define PCM_BLOCK 2048 /* samples converted per call to ops->audio */

static const struct {
    const char *path;
    enum aw_speechd_mode mode;
} paths[] = {
    {"/speech/recognition/interactive/cognitiveservices/v1",
     AW_SPEECHD_INTERACTIVE},
    {"/speech/recognition/conversation/cognitiveservices/v1",
     AW_SPEECHD_CONVERSATION},
    {"/speech/recognition/dictation/cognitiveservices/v1",
     AW_SPEECHD_DICTATION},
};

static const char reuse_reason[] =
    "Invalid request. Reuse of request identifiers is not allowed.";

/* ---- handshake ---------------------------------------------------------- */

bool aw_speechd_key_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    /* Walk the whole of b whatever a holds, so the time taken says
     * nothing about where the first difference is. */
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return la && !diff;
}

bool aw_speechd_language_ok(const struct aw_speechd_policy *pol,
                            const char *lang)
{
    for (const char *const *l = pol->languages; l && *l; l++)
        if (!strcasecmp(*l, lang))
            return true;
    return false;
}

static bool language_syntax_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
            return false;
    return true;
}

/* First of: header X-ConnectionId, header connectionId, the same two as
 * query parameters (browsers can only use the query, §1.2). */
static enum aw_err find_connection_id(aw_speechd_lookup_fn lookup, void *opaque,
                                      char *buf, size_t cap)
{
    static const struct {
        bool header;
        const char *name;
    } where[] = {
        {true, "X-ConnectionId"},
        {true, "connectionId"},
        {false, "X-ConnectionId"},
        {false, "connectionId"},
    };
    enum aw_err err = AW_ERR_NOT_FOUND;

    for (size_t i = 0; i < AW_ARRAY_SIZE(where); i++) {
        err = lookup(opaque, where[i].header, where[i].name, buf, cap);
        if (err != AW_ERR_NOT_FOUND)
            return err;
    }
    return err;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

int aw_speechd_handshake(const struct aw_speechd_policy *pol, const char *path,
                         aw_speechd_lookup_fn lookup, void *opaque,
                         struct aw_speechd_params *out, const char **body)
{
    char buf[1024];
    struct aw_uuid id;
    size_t i;
    enum aw_err err;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < AW_ARRAY_SIZE(paths); i++)
        if (!strcmp(path, paths[i].path))
            break;
    if (i == AW_ARRAY_SIZE(paths)) {
        *body = "No such endpoint.";
        return 404;
    }
    out->mode = paths[i].mode;

    out->auth = "none";
    if (pol->key) {
        err =
            lookup(opaque, true, "Ocp-Apim-Subscription-Key", buf, sizeof(buf));
        if (err == AW_ERR_NOT_FOUND)
            err = lookup(opaque, false, "Ocp-Apim-Subscription-Key", buf,
                         sizeof(buf));
        if (err == AW_ERR_NOT_FOUND) {
            /* No key: a bearer token from the token endpoint will do. */
            err = lookup(opaque, true, "Authorization", buf, sizeof(buf));
            if (err == AW_ERR_NOT_FOUND)
                err = lookup(opaque, false, "Authorization", buf, sizeof(buf));
            if (err == AW_ERR_NOT_FOUND) {
                *body = "Missing subscription key or authorization token.";
                return 401;
            }
            if (err || strncasecmp(buf, "Bearer ", 7) || !pol->token_ok ||
                !pol->token_ok(pol->token_opaque, buf + 7)) {
                *body = "Invalid or expired token.";
                return 403;
            }
            out->auth = "bearer";
        } else if (err || !aw_speechd_key_equal(buf, pol->key)) {
            *body = "Invalid subscription key.";
            return 401;
        } else {
            out->auth = "key";
        }
    }

    err = find_connection_id(lookup, opaque, buf, sizeof(buf));
    if (err || aw_uuid_parse(buf, strlen(buf), &id)) {
        *body = err == AW_ERR_NOT_FOUND ? "Missing X-ConnectionId."
                                        : "Invalid X-ConnectionId.";
        return 400;
    }
    aw_uuid_format_nodash(&id, out->connection_id);

    err = lookup(opaque, false, "language", buf, sizeof(buf));
    if (err == AW_ERR_NOT_FOUND) {
        *body = "Missing language parameter.";
        return 400;
    }
    if (err || strlen(buf) >= sizeof(out->language) ||
        !language_syntax_ok(buf)) {
        *body = "Invalid language parameter.";
        return 400;
    }
    memcpy(out->language, buf, strlen(buf) + 1);
    out->language_ok = aw_speechd_language_ok(pol, out->language);

    out->turn.mode = out->mode;
    out->turn.initial_silence_ms = pol->initial_silence_ms;
    err = lookup(opaque, false, "format", buf, sizeof(buf));
    if (!err) {
        if (!strcasecmp(buf, "detailed")) {
            out->turn.detailed = true;
        } else if (strcasecmp(buf, "simple") != 0) {
            *body = "Invalid format parameter.";
            return 400;
        }
    } else if (err != AW_ERR_NOT_FOUND) {
        *body = "Invalid format parameter.";
        return 400;
    }
    err = lookup(opaque, false, "wordLevelTimestamps", buf, sizeof(buf));
    if (!err && !strcasecmp(buf, "true"))
        out->turn.word_timings = true;
    err = lookup(opaque, false, "initialSilenceTimeoutMs", buf, sizeof(buf));
    if (!err) {
        unsigned long ms;

        if (!parse_uint(buf, 3600000, &ms)) {
            *body = "Invalid initialSilenceTimeoutMs parameter.";
            return 400;
        }
        out->turn.initial_silence_ms = (uint32_t)ms;
    }
    return 0;
}

/* ---- connection --------------------------------------------------------- */

void aw_speechd_proto_init(struct aw_speechd_proto *p,
                           const struct aw_speechd_policy *pol,
                           const struct aw_speechd_params *params,
                           const struct aw_speechd_proto_ops *ops, void *opaque)
{
    memset(p, 0, sizeof(*p));
    p->pol = pol;
    p->params = *params;
    p->ops = ops;
    p->opaque = opaque;
}

static void copy_id(char out[AW_UUID_NODASH_LEN], const char *id, size_t len)
{
    size_t i;

    for (i = 0; i < len && i < AW_UUID_NODASH_LEN - 1; i++)
        out[i] = (char)toupper((unsigned char)id[i]);
    out[i] = '\0';
}

static bool id_used(const struct aw_speechd_proto *p, const char *id)
{
    for (size_t i = 0; i < p->nused; i++)
        if (!strcmp(p->used[i], id))
            return true;
    return false;
}

static void remember_used(struct aw_speechd_proto *p, const char *id)
{
    if (id_used(p, id))
        return;
    memcpy(p->used[p->used_next], id, AW_UUID_NODASH_LEN);
    p->used_next = (p->used_next + 1) % AW_SPEECHD_USED_IDS;
    if (p->nused < AW_SPEECHD_USED_IDS)
        p->nused++;
}

/* speech.context: per-turn settings that override the handshake's. */
static int handle_context(struct aw_speechd_proto *p, const char *id,
                          const struct aw_usp_msg *msg, const char **reason)
{
    struct aw_speechd_turn_conf conf = p->params.turn;
    json_t *root, *pd, *po, *v;
    json_error_t jerr;
    int code = 0;

    if (id_used(p, id)) {
        *reason = reuse_reason;
        return AW_SPEECHD_CLOSE_PROTOCOL;
    }
    if (p->turn_open && !strcmp(id, p->turn_id))
        return 0; /* the turn is running: too late to change it */
    if (!msg->body_len) {
        root = NULL;
        goto store;
    }
    root = json_loadb((const char *)msg->body, msg->body_len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        *reason = "Invalid speech.context payload.";
        return AW_SPEECHD_CLOSE_PAYLOAD;
    }
    pd = json_object_get(root, "phraseDetection");
    v = json_object_get(pd, "language");
    if (json_is_string(v) &&
        !aw_speechd_language_ok(p->pol, json_string_value(v))) {
        char tag[AW_SPEECHD_LANG_MAX];

        aw_errstr_set(tag, sizeof(tag), "%s", json_string_value(v));
        aw_errstr_set(p->reason, sizeof(p->reason), "Unsupported locale: %s.",
                      tag);
        *reason = p->reason;
        code = AW_SPEECHD_CLOSE_PAYLOAD;
        goto out;
    }
    v = json_object_get(pd, "mode");
    if (json_is_string(v)) {
        const char *m = json_string_value(v);

        if (!strcasecmp(m, "interactive"))
            conf.mode = AW_SPEECHD_INTERACTIVE;
        else if (!strcasecmp(m, "conversation"))
            conf.mode = AW_SPEECHD_CONVERSATION;
        else if (!strcasecmp(m, "dictation"))
            conf.mode = AW_SPEECHD_DICTATION;
    }
    v = json_object_get(pd, "initialSilenceTimeout");
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= 3600000)
        conf.initial_silence_ms = (uint32_t)json_integer_value(v);
    po = json_object_get(root, "phraseOutput");
    v = json_object_get(po, "format");
    if (json_is_string(v) && !strcasecmp(json_string_value(v), "detailed"))
        conf.detailed = true;
    v = json_object_get(json_object_get(po, "detailed"), "options");
    if (json_is_array(v)) {
        size_t i;
        json_t *o;

        json_array_foreach(v, i, o)
        {
            if (json_is_string(o) &&
                !strcasecmp(json_string_value(o), "WordTimings"))
                conf.word_timings = true;
        }
    }
store:
    memcpy(p->ctx_id, id, AW_UUID_NODASH_LEN);
    p->ctx_conf = conf;
    p->ctx_valid = true;
out:
    json_decref(root);
    return code;
}

/* Little-endian s16 bytes to samples, keeping an odd byte for later. */
static void feed_pcm(struct aw_speechd_proto *p, const uint8_t *b, size_t n)
{
    int16_t pcm[PCM_BLOCK];
    size_t k = 0;

    p->audio_bytes += n;
    if (p->have_carry && n) {
        pcm[k++] = (int16_t)(uint16_t)(p->carry | (uint16_t)b[0] << 8);
        p->have_carry = false;
        b++;
        n--;
    }
    while (n >= 2) {
        pcm[k++] = (int16_t)(uint16_t)(b[0] | (uint16_t)b[1] << 8);
        b += 2;
        n -= 2;
        if (k == PCM_BLOCK) {
            p->ops->audio(p->opaque, pcm, k);
            k = 0;
        }
    }
    if (n) {
        p->carry = b[0];
        p->have_carry = true;
    }
    if (k)
        p->ops->audio(p->opaque, pcm, k);
}

static void send_turn_start(struct aw_speechd_proto *p)
{
    char tag[AW_UUID_NODASH_LEN], body[96];
    struct aw_uuid u;

    if (aw_uuid_v4(&u))
        memset(&u, 0, sizeof(u));
    aw_uuid_format_nodash(&u, tag);
    aw_errstr_set(body, sizeof(body), "{\"context\":{\"serviceTag\":\"%s\"}}",
                  tag);
    p->ops->send(p->opaque, "turn.start", p->turn_id, body);
}

static void end_current(struct aw_speechd_proto *p)
{
    p->turn_ended = true;
    p->have_carry = false;
    remember_used(p, p->turn_id);
    p->ops->turn_end(p->opaque);
}

static int start_turn(struct aw_speechd_proto *p, const char *id,
                      const struct aw_usp_msg *msg, const char **reason)
{
    struct aw_usp_wav_format fmt;
    size_t skip = 0;

    if (msg->body_len) {
        if (aw_usp_riff_parse(msg->body, msg->body_len, &fmt, reason))
            return AW_SPEECHD_CLOSE_PAYLOAD;
        if (fmt.format_tag != 1 || fmt.channels != 1 ||
            fmt.sample_rate_hz != AW_SPEECHD_RATE_HZ ||
            fmt.bits_per_sample != 16) {
            aw_errstr_set(
                p->reason, sizeof(p->reason),
                "Unsupported audio format: format %u, %u channel(s), "
                "%u Hz, %u bits; need PCM, 1 channel, 16000 Hz, 16 bits.",
                fmt.format_tag, fmt.channels, fmt.sample_rate_hz,
                fmt.bits_per_sample);
            *reason = p->reason;
            return AW_SPEECHD_CLOSE_PAYLOAD;
        }
        skip = fmt.data_offset;
    }
    if (p->turn_open && !p->turn_ended) {
        /* The service drops what it still had for the old turn. */
        remember_used(p, p->turn_id);
        p->ops->turn_abort(p->opaque);
    }
    memcpy(p->turn_id, id, AW_UUID_NODASH_LEN);
    p->turn_open = true;
    p->turn_ended = false;
    p->have_carry = false;
    p->turn_conf = p->params.turn;
    if (p->ctx_valid && !strcmp(p->ctx_id, id))
        p->turn_conf = p->ctx_conf;
    p->ctx_valid = false;
    p->turns++;
    send_turn_start(p);
    p->ops->turn_begin(p->opaque, p->turn_id, &p->turn_conf);
    if (!msg->body_len) {
        /* An end of audio with no audio at all: an empty turn. */
        end_current(p);
        return 0;
    }
    feed_pcm(p, msg->body + skip, msg->body_len - skip);
    return 0;
}

static int handle_audio(struct aw_speechd_proto *p, const char *id,
                        const struct aw_usp_msg *msg, const char **reason)
{
    if (p->turn_open && !strcmp(id, p->turn_id)) {
        if (p->turn_ended) {
            if (!msg->body_len)
                return 0; /* repeated end of audio: tolerated */
            *reason = reuse_reason;
            return AW_SPEECHD_CLOSE_PROTOCOL;
        }
        if (!msg->body_len) {
            end_current(p);
            return 0;
        }
        feed_pcm(p, msg->body, msg->body_len);
        return 0;
    }
    if (id_used(p, id)) {
        if (!msg->body_len)
            return 0;
        *reason = reuse_reason;
        return AW_SPEECHD_CLOSE_PROTOCOL;
    }
    return start_turn(p, id, msg, reason);
}

int aw_speechd_proto_message(struct aw_speechd_proto *p, const uint8_t *data,
                             size_t len, bool binary, const char **reason)
{
    struct aw_usp_msg msg;
    char id[AW_UUID_NODASH_LEN];
    bool need_id;
    enum aw_err err;

    p->messages++;
    err = aw_usp_parse(data, len, binary, &p->pol->limits, &msg, reason);
    if (err == AW_ERR_TOO_LARGE)
        return AW_SPEECHD_CLOSE_TOO_BIG;
    if (err)
        return AW_SPEECHD_CLOSE_PAYLOAD;
    need_id = !aw_usp_path_is(&msg, "speech.config") &&
              !aw_usp_path_is(&msg, "telemetry");
    if (aw_usp_require(&msg, need_id, reason))
        return AW_SPEECHD_CLOSE_PROTOCOL;
    copy_id(id, msg.request_id ? msg.request_id : "",
            msg.request_id ? msg.request_id_len : 0);
    AW_DEBUG("proto", p->tag, "recv %.*s %s %zu bytes", (int)msg.path_len,
             msg.path, id, msg.body_len);

    if (aw_usp_path_is(&msg, "audio")) {
        if (!binary)
            return 0; /* audio only comes in binary frames; ignore */
        return handle_audio(p, id, &msg, reason);
    }
    if (binary)
        return 0;
    if (aw_usp_path_is(&msg, "speech.config")) {
        p->config_seen = true; /* once per connection; repeats tolerated */
        return 0;
    }
    if (aw_usp_path_is(&msg, "speech.context"))
        return handle_context(p, id, &msg, reason);
    /* telemetry and anything else: accepted and ignored. */
    return 0;
}
