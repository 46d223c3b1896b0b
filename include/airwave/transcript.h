/*
 * airwave - what leaves the connector: one recognised phrase
 * ("airwave.transcript.v1", Kafka topic `transcripts`, key = stream id) and
 * the source events beside it ("airwave.stream-event.v1", topic
 * `stream-events`). JSON Schemas of both: docs/schema/.
 *
 * All pointers are borrowed for the duration of the call that receives the
 * struct; sinks copy what they keep.
 */
#ifndef AIRWAVE_TRANSCRIPT_H
#define AIRWAVE_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#define AW_TRANSCRIPT_SCHEMA "airwave.transcript.v1"
#define AW_EVENT_SCHEMA      "airwave.stream-event.v1"

struct aw_word {
    const char *word;
    int64_t offset_ms; /* capture session timeline */
    int64_t duration_ms;
};

struct aw_transcript {
    char id[37]; /* UUIDv5(stream id, capture session, start sample) */
    const char *stream_id;
    const char *source; /* URL with credentials and query removed */
    const char *language;
    const char *text;    /* display form */
    const char *lexical; /* NULL when the provider gives none */
    double confidence;   /* < 0 when the provider gives none */
    int64_t start_wall_ms;
    int64_t end_wall_ms;
    int64_t offset_ms; /* on the capture session's timeline */
    int64_t duration_ms;
    char capture_session[37];
    const char *stream_title; /* NULL when unknown */
    const char *provider;     /* "azure" */
    const struct aw_word *words;
    size_t nwords;
};

enum aw_event_type {
    AW_EVENT_START,         /* a capture session began (source connected) */
    AW_EVENT_END,           /* the source ended or was lost */
    AW_EVENT_DISCONTINUITY, /* audio was lost: reconnect gap or drops */
    AW_EVENT_TITLE,         /* ICY/HLS title changed */
    AW_EVENT_ROTATION,      /* speech connection replaced */
    AW_EVENT_ERROR,         /* the stream stopped on an error */
};

struct aw_stream_event {
    enum aw_event_type type;
    char id[37]; /* UUIDv5: deterministic like transcript ids */
    const char *stream_id;
    const char *source;
    int64_t wall_ms;
    char capture_session[37];
    int64_t offset_ms;     /* where on the capture session's timeline */
    double lost_seconds;   /* DISCONTINUITY: audio lost */
    double replay_seconds; /* ROTATION: audio sent again */
    const char *title;     /* TITLE */
    const char *reason;    /* END, DISCONTINUITY, ROTATION, ERROR */
};

/** "start", "end", "discontinuity", "title", "rotation", "error". */
const char *aw_event_type_name(enum aw_event_type type);

#endif
