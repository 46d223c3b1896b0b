/*
 * Fan-out of encoded records to JSONL and Kafka (see sink.h). JSONL is
 * written first: it is the local copy from which a record that Kafka later
 * fails can be recovered, so it should hold everything Kafka was offered.
 */
#include "sink/sink.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "airwave/log.h"
#include "common/buf.h"
#include "sink/json.h"

struct aw_sink {
    struct aw_kafka *kafka;
    struct aw_jsonl *jsonl;
    bool jsonl_events;
    _Atomic uint64_t encode_errors;
};

struct aw_sink *aw_sink_new(const struct aw_conf *conf, char *errstr,
                            size_t errstr_size)
{
    struct aw_sink *s;

    if (!conf) {
        aw_errstr_set(errstr, errstr_size, "no configuration");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->jsonl_events = true;
    if (conf->output_jsonl) {
        s->jsonl = aw_jsonl_open(conf->output_jsonl, errstr, errstr_size);
        if (!s->jsonl)
            goto fail;
    }
    if (conf->kafka_enabled) {
        s->kafka = aw_kafka_new(conf, errstr, errstr_size);
        if (!s->kafka)
            goto fail;
    }
    return s;

fail:
    aw_sink_destroy(s);
    return NULL;
}

static enum aw_err publish(struct aw_sink *s, enum aw_kafka_topic topic,
                           const char *stream_id, const char *id,
                           struct aw_buf *b, enum aw_err enc)
{
    enum aw_err err = AW_OK, e;

    if (enc) {
        atomic_fetch_add(&s->encode_errors, 1);
        /* A caller bug or an oversized record: written nowhere, so say
         * which one it was. */
        AW_ERROR("sink", stream_id, "record %s not encoded: %s",
                 id && id[0] ? id : "-", aw_err_str(enc));
        return enc;
    }
    if (s->jsonl && (topic == AW_KAFKA_TRANSCRIPTS || s->jsonl_events)) {
        e = aw_jsonl_write(s->jsonl, b->data, b->len);
        if (e)
            err = e;
    }
    if (s->kafka) {
        e = aw_kafka_produce(s->kafka, topic, stream_id, b->data, b->len,
                             aw_kafka_stream_get(s->kafka, stream_id));
        if (e)
            err = e;
    }
    return err;
}

enum aw_err aw_sink_transcript(struct aw_sink *s, const struct aw_transcript *t)
{
    struct aw_buf b;
    enum aw_err err;

    if (!s || !t)
        return AW_ERR_INVAL;
    aw_buf_init(&b, AW_SINK_MAX_RECORD_BYTES);
    err = publish(s, AW_KAFKA_TRANSCRIPTS, t->stream_id, t->id, &b,
                  aw_json_transcript(&b, t));
    aw_buf_fini(&b);
    return err;
}

enum aw_err aw_sink_event(struct aw_sink *s, const struct aw_stream_event *ev)
{
    struct aw_buf b;
    enum aw_err err;

    if (!s || !ev)
        return AW_ERR_INVAL;
    aw_buf_init(&b, AW_SINK_MAX_RECORD_BYTES);
    err = publish(s, AW_KAFKA_EVENTS, ev->stream_id, ev->id, &b,
                  aw_json_event(&b, ev));
    aw_buf_fini(&b);
    return err;
}

void aw_sink_set_jsonl_events(struct aw_sink *s, bool on)
{
    if (s)
        s->jsonl_events = on;
}

struct aw_kafka *aw_sink_kafka(const struct aw_sink *s)
{
    return s ? s->kafka : NULL;
}

struct aw_jsonl *aw_sink_jsonl(const struct aw_sink *s)
{
    return s ? s->jsonl : NULL;
}

uint64_t aw_sink_encode_errors(const struct aw_sink *s)
{
    return s ? atomic_load(&s->encode_errors) : 0;
}

void aw_sink_destroy(struct aw_sink *s)
{
    if (!s)
        return;
    aw_kafka_destroy(s->kafka);
    aw_jsonl_destroy(s->jsonl);
    free(s);
}
