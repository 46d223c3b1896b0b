/*
 * Metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * No registry: the owner of the figures (the pipeline) writes them out on
 * request, family by family, from the counters each module already keeps.
 * That keeps one source of truth per figure and nothing to unregister when
 * a stream goes away. Names follow Prometheus conventions: an airwave_
 * prefix, base units (seconds, bytes), _total for counters.
 *
 * The histogram is the one piece of state kept here: observations come
 * from one thread (the transport's), reads from any.
 */
#ifndef AW_METRICS_METRICS_H
#define AW_METRICS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airwave/err.h"
#include "common/buf.h"

#define AW_HISTOGRAM_MAX_BUCKETS 16

enum aw_metric_type {
    AW_METRIC_COUNTER,
    AW_METRIC_GAUGE,
    AW_METRIC_HISTOGRAM,
};

struct aw_histogram {
    const double *bounds; /* upper bounds, increasing; +Inf is implicit */
    size_t nbounds;
    _Atomic uint64_t buckets[AW_HISTOGRAM_MAX_BUCKETS + 1]; /* not cumulative */
    _Atomic uint64_t sum_us; /* sum of observations, in millionths */
};

/** @returns AW_OK or AW_ERR_INVAL (too many bounds). */
enum aw_err aw_histogram_init(struct aw_histogram *h, const double *bounds,
                              size_t nbounds);
void aw_histogram_observe(struct aw_histogram *h, double value);
uint64_t aw_histogram_count(const struct aw_histogram *h);

/**
 * @brief Start a family: its HELP and TYPE lines. Every sample of a family
 *        must follow before the next family starts.
 */
enum aw_err aw_metrics_family(struct aw_buf *b, const char *name,
                              enum aw_metric_type type, const char *help);

/**
 * @brief One sample: name{label="value",...} value.
 * @param labels  pairs of name, value; NULL-terminated; may be NULL
 */
enum aw_err aw_metrics_sample(struct aw_buf *b, const char *name,
                              const char *const *labels, double value);

/** All the samples of one histogram (_bucket, _sum, _count). */
enum aw_err aw_metrics_histogram(struct aw_buf *b, const char *name,
                                 const char *const *labels,
                                 const struct aw_histogram *h);

#endif
