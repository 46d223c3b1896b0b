/*
 * Checks of ffmpeg.* pass-through options against FFmpeg's own option
 * tables, names and values, without opening anything: so a typo is refused
 * by `airwave check-config` with its file and line, instead of surfacing
 * when a stream starts. The ingest applies the options later.
 *
 * @locality any thread; no shared state.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/avstring.h>
#include <libavutil/error.h>
#include <libavutil/eval.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/parseutils.h>

#include "ingest/ingest.h"

/* Added to the level of FFmpeg's messages about a stand-in object: far
 * above AV_LOG_TRACE, so no log callback shows them. */
#define QUIET_LOG_OFFSET 1000

static const char *quiet_item_name(void *obj)
{
    (void)obj;
    return "airwave config check";
}

/* Bytes a stand-in object of class \p cls must span: every option's field,
 * and the fields av_log() reads through the class (its log level offset
 * and parent context), with room to spare for item_name()/get_category()
 * callbacks that look at the object's first members. */
static size_t class_extent(const AVClass *cls)
{
    const AVOption *o = NULL;
    size_t end = 4096;

    while ((o = av_opt_next(&cls, o)) != NULL) {
        if (o->offset > 0 && (size_t)o->offset + 64 > end)
            end = (size_t)o->offset + 64;
    }
    if (cls->log_level_offset_offset > 0 &&
        (size_t)cls->log_level_offset_offset + 64 > end)
        end = (size_t)cls->log_level_offset_offset + 64;
    if (cls->parent_log_context_offset > 0 &&
        (size_t)cls->parent_log_context_offset + 64 > end)
        end = (size_t)cls->parent_log_context_offset + 64;
    return end;
}

/* FFmpeg 5.1's own reading of AV_OPT_TYPE_BOOL (libavutil/opt.c
 * set_string_bool), which has no public av_opt_eval_bool(). */
static int eval_bool(const AVOption *o, const char *value)
{
    long n;
    char *end;

    if (strcmp(value, "auto") == 0)
        n = -1;
    else if (av_match_name(value, "true,y,yes,enable,enabled,on"))
        n = 1;
    else if (av_match_name(value, "false,n,no,disable,disabled,off"))
        n = 0;
    else {
        n = strtol(value, &end, 10);
        if (end == value || *end)
            return AVERROR(EINVAL);
    }
    return (double)n < o->min || (double)n > o->max ? AVERROR(ERANGE) : 0;
}

/* "num:den" or "num/den": set_string_number() tries this form of a
 * rational before it reads an expression, which could not parse it. */
static bool parse_ratio(const char *s, long *num, long *den)
{
    char *end;

    *num = strtol(s, &end, 10);
    if (end == s || (*end != ':' && *end != '/'))
        return false;
    s = end + 1;
    *den = strtol(s, &end, 10);
    return end != s && !*end;
}

/* The default of \p o as FFmpeg's set_string_number() takes it. */
static double default_num(const AVOption *o)
{
    switch (o->type) {
    case AV_OPT_TYPE_INT:
    case AV_OPT_TYPE_INT64:
    case AV_OPT_TYPE_UINT64:
    case AV_OPT_TYPE_CONST:
    case AV_OPT_TYPE_FLAGS:
        return (double)o->default_val.i64;
    default:
        return o->default_val.dbl;
    }
}

/*
 * FFmpeg 5.1's set_string_number(), behind av_opt_eval_*(), reads each
 * piece of a value (a flags value splits at '+' and '-') as a named
 * constant of the option's unit or as an expression over those names and
 * default/max/min/none/all. Its expression parser logs a bad piece through
 * its own class, at the log offset it is given, and it is given 0. Parse
 * each piece the same way first, quietly: only values that parse reach
 * av_opt_eval_*(). \p obj is the quiet stand-in.
 */
static int parse_pieces(void *obj, const AVOption *o, const char *value)
{
    const char *names[64];
    double values[64], d;
    const AVOption *c = NULL;
    size_t n = 0;

    if (o->unit) {
        while ((c = av_opt_next(obj, c)) != NULL && n + 6 < 64) {
            if (c->type == AV_OPT_TYPE_CONST && c->unit &&
                strcmp(c->unit, o->unit) == 0) {
                names[n] = c->name;
                values[n++] = default_num(c);
            }
        }
    }
    names[n] = "default";
    values[n++] = default_num(o);
    names[n] = "max";
    values[n++] = o->max;
    names[n] = "min";
    values[n++] = o->min;
    names[n] = "none";
    values[n++] = 0;
    names[n] = "all";
    values[n++] = ~0;
    names[n] = NULL;
    values[n] = 0;

    for (;;) {
        char piece[256];
        size_t len;
        int ret;

        if (o->type == AV_OPT_TYPE_FLAGS) {
            if (*value == '+' || *value == '-')
                value++;
            len = strcspn(value, "+-");
        } else {
            len = strlen(value);
        }
        if (len >= sizeof(piece))
            return AVERROR(EINVAL);
        memcpy(piece, value, len);
        piece[len] = '\0';
        c = av_opt_find(obj, piece, o->unit, 0, 0);
        if (!c || c->type != AV_OPT_TYPE_CONST) {
            ret =
                av_expr_parse_and_eval(&d, piece, names, values, NULL, NULL,
                                       NULL, NULL, NULL, QUIET_LOG_OFFSET, obj);
            if (ret < 0)
                return ret;
        }
        value += len;
        if (o->type != AV_OPT_TYPE_FLAGS || !len || !*value)
            return 0;
    }
}

/* Parse \p value as option \p o of class \p cls would, with the public
 * av_opt_eval_*() functions: they are what av_opt_set() runs, range checks
 * and named constants ("+genpts") included. Types without an evaluator
 * (strings, dictionaries, sizes) are accepted; ingest still reports any
 * option libavformat leaves unused. */
static int eval_value(const AVClass *cls, const AVOption *o, const char *value)
{
    AVClass quiet;
    size_t extent;
    long num, den;
    void *obj;
    int ret;

    if (o->type == AV_OPT_TYPE_BOOL)
        return eval_bool(o, value);
    if (o->type == AV_OPT_TYPE_RATIONAL && parse_ratio(value, &num, &den))
        return !den || o->max * (double)den < (double)num ||
                       o->min * (double)den > (double)num
                   ? AVERROR(ERANGE)
                   : 0;
    if (o->type == AV_OPT_TYPE_DURATION) {
        int64_t us;

        ret = av_parse_time(&us, value, 1);
        if (ret < 0)
            return ret;
        return (double)us < o->min || (double)us > o->max ? AVERROR(ERANGE) : 0;
    }
    /* The evaluators want an object whose first member is the class and log
     * through it on failure; a zeroed block as large as the real object
     * makes every field they or av_log() might read a harmless zero. The
     * class is a copy whose log level offset (a documented AVClass field,
     * the one codecs use) pushes FFmpeg's own complaint below every log
     * level: the caller reports the problem once, with file and line. */
    extent = (class_extent(cls) + 7) & ~(size_t)7;
    quiet = *cls;
    quiet.log_level_offset_offset = (int)extent;
    /* FFmpeg's expression evaluator logs through its own class, with this
     * object as parent: name it, rather than let AVFormatContext's
     * item_name() call it "NULL". */
    quiet.item_name = quiet_item_name;
    quiet.parent_log_context_offset = 0;
    obj = av_mallocz(extent + sizeof(int));
    if (!obj)
        return AVERROR(ENOMEM);
    *(const AVClass **)obj = &quiet;
    *(int *)(void *)((char *)obj + extent) = QUIET_LOG_OFFSET;
    switch (o->type) {
    case AV_OPT_TYPE_FLAGS: {
        int v = (int)o->default_val.i64;

        ret = parse_pieces(obj, o, value);
        if (ret >= 0)
            ret = av_opt_eval_flags(obj, o, value, &v);
        break;
    }
    case AV_OPT_TYPE_INT: {
        int v = 0;

        ret = parse_pieces(obj, o, value);
        if (ret >= 0)
            ret = av_opt_eval_int(obj, o, value, &v);
        break;
    }
    case AV_OPT_TYPE_INT64: {
        int64_t v = 0;

        ret = parse_pieces(obj, o, value);
        if (ret >= 0)
            ret = av_opt_eval_int64(obj, o, value, &v);
        break;
    }
    case AV_OPT_TYPE_DOUBLE: {
        double v = 0;

        ret = parse_pieces(obj, o, value);
        if (ret >= 0)
            ret = av_opt_eval_double(obj, o, value, &v);
        break;
    }
    case AV_OPT_TYPE_FLOAT: {
        float v = 0;

        ret = parse_pieces(obj, o, value);
        if (ret >= 0)
            ret = av_opt_eval_float(obj, o, value, &v);
        break;
    }
    case AV_OPT_TYPE_RATIONAL: {
        AVRational v = {0, 1};

        ret = parse_pieces(obj, o, value);
        if (ret >= 0)
            ret = av_opt_eval_q(obj, o, value, &v);
        break;
    }
    default:
        ret = 0;
        break;
    }
    av_free(obj);
    return ret;
}

static const char *type_text(enum AVOptionType type)
{
    switch (type) {
    case AV_OPT_TYPE_FLAGS:
        return "flags or an integer";
    case AV_OPT_TYPE_INT:
    case AV_OPT_TYPE_INT64:
        return "an integer";
    case AV_OPT_TYPE_DOUBLE:
    case AV_OPT_TYPE_FLOAT:
        return "a number";
    case AV_OPT_TYPE_RATIONAL:
        return "a rational number";
    case AV_OPT_TYPE_BOOL:
        return "a boolean";
    case AV_OPT_TYPE_DURATION:
        return "a duration";
    default:
        return "a valid value";
    }
}

struct ffmpeg_search {
    const char *name;
    const char *value;
    int found;     /* classes that define an input option of this name */
    int accepted;  /* of which, classes that accept the value */
    int first_err; /* the first refusal, for the message */
    const char *first_class;
    const AVOption *first_opt;
};

/* Depth-first over the option classes reachable from AVFormatContext: the
 * context itself, every demuxer's private class, AVIOContext, URLContext and
 * every protocol's private class (http, tcp, rtmp, ...). The same name can
 * mean different things in different classes (tcp and rtmp "timeout"), so
 * a value counts as valid if any class that defines it accepts it, which is
 * the most libavformat could do with it. Depth is bounded by FFmpeg's own
 * class tree (four levels in 5.1). */
static void search_class(const AVClass *cls, struct ffmpeg_search *fs)
{
    const AVClass *child;
    const AVOption *o;
    void *iter = NULL;

    /* AV_OPT_FLAG_DECODING_PARAM: options of muxers and output protocols
     * would be ignored on input, so they are unknown here. */
    o = av_opt_find2(&cls, fs->name, NULL, AV_OPT_FLAG_DECODING_PARAM,
                     AV_OPT_SEARCH_FAKE_OBJ, NULL);
    if (o && !(o->flags & AV_OPT_FLAG_READONLY)) {
        int ret = eval_value(cls, o, fs->value);

        fs->found++;
        if (ret >= 0)
            fs->accepted++;
        else if (fs->found - fs->accepted == 1) {
            fs->first_err = ret;
            fs->first_class = cls->class_name;
            fs->first_opt = o;
        }
    }
    while ((child = av_opt_child_class_iterate(cls, &iter)) != NULL)
        search_class(child, fs);
}

enum aw_err aw_ingest_check_option(const char *name, const char *value,
                                   char *err, size_t err_size)
{
    struct ffmpeg_search fs = {.name = name, .value = value};
    char others[32];

    if (!name || !*name || !value) {
        aw_errstr_set(err, err_size, "ffmpeg option without a name or value");
        return AW_ERR_INVAL;
    }
    aw_ingest_global_init();
    /* Demuxing and protocol options, then the decoders' (the ingest hands
     * the same dictionary to avcodec_open2()). */
    search_class(avformat_get_class(), &fs);
    search_class(avcodec_get_class(), &fs);
    if (!fs.found) {
        aw_errstr_set(err, err_size,
                      "unknown ffmpeg option (not an input option of "
                      "libavformat, a demuxer, a protocol or a decoder)");
        return AW_ERR_INVAL;
    }
    if (fs.accepted)
        return AW_OK;
    if (fs.first_err == AVERROR(ENOMEM)) {
        aw_errstr_set(err, err_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    /* Several classes may define the name (tcp, rtmp, ... "timeout"); all
     * refused, so name the first and say there were more. */
    aw_errstr_set(others, sizeof(others), " and %d more", fs.found - 1);
    if (fs.first_err == AVERROR(ERANGE))
        aw_errstr_set(err, err_size,
                      "out of range %g .. %g (ffmpeg %s option%s)",
                      fs.first_opt->min, fs.first_opt->max, fs.first_class,
                      fs.found > 1 ? others : "");
    else
        aw_errstr_set(err, err_size, "expected %s (ffmpeg %s option%s)",
                      type_text(fs.first_opt->type), fs.first_class,
                      fs.found > 1 ? others : "");
    return AW_ERR_INVAL;
}
