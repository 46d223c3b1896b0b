/*
 * Prometheus text exposition. See metrics.h.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum aw_err aw_histogram_init(struct aw_histogram *h, const double *bounds,
                              size_t nbounds)
{
    if (nbounds > AW_HISTOGRAM_MAX_BUCKETS)
        return AW_ERR_INVAL;
    h->bounds = bounds;
    h->nbounds = nbounds;
    for (size_t i = 0; i <= AW_HISTOGRAM_MAX_BUCKETS; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->sum_us, 0);
    return AW_OK;
}

void aw_histogram_observe(struct aw_histogram *h, double value)
{
    size_t i = 0;

    if (!(value >= 0))
        value = 0;
    while (i < h->nbounds && value > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(value * 1e6 + 0.5),
                              memory_order_relaxed);
}

uint64_t aw_histogram_count(const struct aw_histogram *h)
{
    uint64_t n = 0;

    for (size_t i = 0; i <= h->nbounds; i++)
        n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return n;
}

static const char *type_name(enum aw_metric_type type)
{
    switch (type) {
    case AW_METRIC_COUNTER:
        return "counter";
    case AW_METRIC_GAUGE:
        return "gauge";
    default:
        return "histogram";
    }
}

enum aw_err aw_metrics_family(struct aw_buf *b, const char *name,
                              enum aw_metric_type type, const char *help)
{
    enum aw_err err = aw_buf_printf(b, "# HELP %s ", name);

    /* HELP text escapes only backslash and newline. */
    for (const char *p = help; !err && *p; p++) {
        if (*p == '\\')
            err = aw_buf_puts(b, "\\\\");
        else if (*p == '\n')
            err = aw_buf_puts(b, "\\n");
        else
            err = aw_buf_append(b, p, 1);
    }
    if (!err)
        err = aw_buf_printf(b, "\n# TYPE %s %s\n", name, type_name(type));
    return err;
}

static enum aw_err put_labels(struct aw_buf *b, const char *const *labels,
                              const char *extra_name, const char *extra_value)
{
    enum aw_err err = AW_OK;
    bool any = false;

    for (size_t i = 0; labels && labels[i] && !err; i += 2) {
        err = aw_buf_printf(b, "%s%s=\"", any ? "," : "{", labels[i]);
        any = true;
        /* Label values escape backslash, quote and newline. */
        for (const char *p = labels[i + 1] ? labels[i + 1] : ""; !err && *p;
             p++) {
            if (*p == '\\' || *p == '"')
                err = aw_buf_printf(b, "\\%c", *p);
            else if (*p == '\n')
                err = aw_buf_puts(b, "\\n");
            else
                err = aw_buf_append(b, p, 1);
        }
        if (!err)
            err = aw_buf_puts(b, "\"");
    }
    if (!err && extra_name) {
        err = aw_buf_printf(b, "%s%s=\"%s\"", any ? "," : "{", extra_name,
                            extra_value);
        any = true;
    }
    if (!err && any)
        err = aw_buf_puts(b, "}");
    return err;
}

static enum aw_err put_value(struct aw_buf *b, double v)
{
    if (isnan(v))
        return aw_buf_puts(b, " NaN\n");
    if (isinf(v))
        return aw_buf_puts(b, v > 0 ? " +Inf\n" : " -Inf\n");
    char txt[32];

    /* Integers print exactly; others in the shortest form that reads
     * back as the same double (6.012, not 6.0119999999999996). */
    if (v == (double)(int64_t)v && fabs(v) < 9e15)
        return aw_buf_printf(b, " %lld\n", (long long)v);
    snprintf(txt, sizeof(txt), "%.15g", v);
    if (strtod(txt, NULL) != v)
        snprintf(txt, sizeof(txt), "%.17g", v);
    return aw_buf_printf(b, " %s\n", txt);
}

enum aw_err aw_metrics_sample(struct aw_buf *b, const char *name,
                              const char *const *labels, double value)
{
    enum aw_err err = aw_buf_puts(b, name);

    if (!err)
        err = put_labels(b, labels, NULL, NULL);
    if (!err)
        err = put_value(b, value);
    return err;
}

enum aw_err aw_metrics_histogram(struct aw_buf *b, const char *name,
                                 const char *const *labels,
                                 const struct aw_histogram *h)
{
    uint64_t cum = 0;
    enum aw_err err = AW_OK;
    char le[32];

    for (size_t i = 0; i <= h->nbounds && !err; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->nbounds)
            snprintf(le, sizeof(le), "%g", h->bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        err = aw_buf_printf(b, "%s_bucket", name);
        if (!err)
            err = put_labels(b, labels, "le", le);
        if (!err)
            err = put_value(b, (double)cum);
    }
    if (!err)
        err = aw_buf_printf(b, "%s_sum", name);
    if (!err)
        err = put_labels(b, labels, NULL, NULL);
    if (!err)
        err = put_value(
            b, (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) /
                   1e6);
    if (!err)
        err = aw_buf_printf(b, "%s_count", name);
    if (!err)
        err = put_labels(b, labels, NULL, NULL);
    if (!err)
        err = put_value(b, (double)cum);
    return err;
}
