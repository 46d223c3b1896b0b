/*
 * The source modules, in the order they are asked whether they handle a
 * URL: the most specific first.
 */
#include "pipeline/source.h"

static const struct aw_source_ops *const sources[] = {
    &aw_source_portaudio_ops,
    &aw_source_ffmpeg_ops,
};

const struct aw_source_ops *aw_source_for(const char *url)
{
    for (size_t i = 0; i < AW_ARRAY_SIZE(sources); i++)
        if (sources[i]->accepts(url))
            return sources[i];
    return NULL;
}

const char *aw_source_state_name(enum aw_source_state state)
{
    static const char *const names[] = {
        [AW_SOURCE_IDLE] = "idle",
        [AW_SOURCE_OPENING] = "opening",
        [AW_SOURCE_RUNNING] = "running",
        [AW_SOURCE_RECONNECTING] = "reconnecting",
        [AW_SOURCE_ENDED] = "ended",
        [AW_SOURCE_FAILED] = "failed",
    };

    return (unsigned)state < AW_ARRAY_SIZE(names) ? names[state] : "unknown";
}
