/*
 * Fuzz target for the configuration loader: YAML as an operator (or anyone
 * who can edit the ConfigMap) writes it, through libyaml, the property
 * table, the librdkafka and libavformat option checks, and the stream list.
 * aw_conf_load_string() does not read the environment, so each input means
 * the same thing on every run.
 */
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

/* NOLINTNEXTLINE(readability-identifier-naming): name fixed by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NOLINTNEXTLINE(readability-identifier-naming) */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aw_conf conf;
    char errs[4096], err[256];

    if (aw_conf_load_string(&conf, "fuzz.yaml", (const char *)data, size, errs,
                            sizeof(errs)) == AW_OK) {
        /* A loaded configuration must take later layers too. */
        if (conf.nstreams)
            (void)aw_conf_stream(&conf, conf.streams[0].id);
        (void)aw_conf_set(&conf, "speech.region", "westeurope", err,
                          sizeof(err));
        (void)aw_conf_set(&conf, "kafka.bootstrap.servers", NULL, err,
                          sizeof(err));
    }
    aw_conf_free(&conf);
    return 0;
}
