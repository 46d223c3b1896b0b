/*
 * Input devices: PortAudio's reference-counted initialisation, the device
 * list, the matcher behind "portaudio:DEVICE", error translation, and
 * `airwave devices`.
 *
 * Pa_Initialize() and Pa_Terminate() are process-global and not
 * thread-safe, and PortAudio as a whole is not meant to be called from
 * several threads at once; every capture of the process and the CLI share
 * it. So: one mutex, a count of users, and every call outside the stream
 * callback made with the mutex held. PortAudio builds its device list in
 * Pa_Initialize(); terminating after the last user lets the next
 * initialisation see a device plugged in meanwhile.
 *
 * Pa_Initialize() probes every ALSA and JACK device, and both libraries
 * report each failed probe on stderr (dozens of lines on a machine without
 * sound cards). ALSA's and JACK's reports are routed into our log at debug
 * level. PortAudio's own "Expression ... failed" lines (when a device
 * fails under a running stream) cannot be: its hook is not exported.
 */
#include "capture/capture_int.h"

#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ALSA is PortAudio's backend here (libasound is in portaudio-2.0.pc):
 * only for its error hook. */
#include <alsa/error.h>

#include "airwave/audio.h"
#include "airwave/log.h"

static pthread_mutex_t pa_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned pa_users; /* @locks pa_mutex */

/* --- errors -------------------------------------------------------------- */

enum aw_err aw_capture_pa_error(PaError pe)
{
    switch (pe) {
    case paNoError:
        return AW_OK;
    case paInsufficientMemory:
        return AW_ERR_NOMEM;
    case paInvalidChannelCount:
    case paInvalidSampleRate:
    case paSampleFormatNotSupported:
    case paBadIODeviceCombination:
    case paIncompatibleHostApiSpecificStreamInfo:
    case paIncompatibleStreamHostApi:
        return AW_ERR_UNSUPPORTED;
    case paTimedOut:
        return AW_ERR_TIMEOUT;
    default:
        /* paDeviceUnavailable, paInvalidDevice, host errors: a device
         * that is busy, gone or failing, which may come back. */
        return AW_ERR_IO;
    }
}

void aw_capture_pa_errstr(PaError pe, char *buf, size_t size)
{
    const PaHostErrorInfo *hi;

    if (pe != paUnanticipatedHostError) {
        aw_errstr_set(buf, size, "%s", Pa_GetErrorText(pe));
        return;
    }
    hi = Pa_GetLastHostErrorInfo();
    if (hi && hi->errorText && hi->errorText[0])
        aw_errstr_set(buf, size, "host error %ld: %s", hi->errorCode,
                      hi->errorText);
    else if (hi)
        aw_errstr_set(buf, size, "host error %ld", hi->errorCode);
    else
        aw_errstr_set(buf, size, "%s", Pa_GetErrorText(pe));
}

/* --- initialisation ------------------------------------------------------ */

static void jack_log(const char *msg)
{
    AW_DEBUG("jack", NULL, "%s", msg);
}

/* libjack comes with libportaudio, but airwave does not link it: its hooks
 * are looked up among the libraries already loaded, and skipped when the
 * PortAudio build has no JACK. */
static void quiet_jack(void)
{
    void (*set)(void (*)(const char *));
    void *self = dlopen(NULL, RTLD_LAZY);

    if (!self)
        return;
    set = (void (*)(void (*)(const char *)))dlsym(self,
                                                  "jack_set_error_function");
    if (set)
        set(jack_log);
    set =
        (void (*)(void (*)(const char *)))dlsym(self, "jack_set_info_function");
    if (set)
        set(jack_log);
    dlclose(self);
}

static void alsa_log(const char *file, int line, const char *function, int err,
                     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ALSA's error hook (snd_lib_error_handler_t): its probe noise, as debug
 * lines of our log. Process-wide, like ALSA's own default. */
static void alsa_log(const char *file, int line, const char *function, int err,
                     const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (AW_LOG_DEBUG > aw_log_threshold)
        return;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    AW_DEBUG("alsa", NULL, "%s:%d (%s) %s%s%s", file ? file : "?", line,
             function ? function : "?", msg, err ? ": " : "",
             err ? snd_strerror(err) : "");
}

enum aw_err aw_capture_pa_acquire(char *errstr, size_t errstr_size)
{
    enum aw_err err = AW_OK;
    PaError pe;

    pthread_mutex_lock(&pa_mutex);
    if (!pa_users) {
        (void)snd_lib_error_set_handler(alsa_log);
        quiet_jack();
        pe = Pa_Initialize();
        if (pe != paNoError) {
            char why[AW_CAPTURE_ERRSTR];

            aw_capture_pa_errstr(pe, why, sizeof(why));
            aw_errstr_set(errstr, errstr_size,
                          "PortAudio cannot initialise: %s", why);
            err = AW_ERR_IO;
        }
    }
    if (!err)
        pa_users++;
    pthread_mutex_unlock(&pa_mutex);
    return err;
}

void aw_capture_pa_release(void)
{
    pthread_mutex_lock(&pa_mutex);
    if (pa_users && !--pa_users)
        Pa_Terminate();
    pthread_mutex_unlock(&pa_mutex);
}

void aw_capture_pa_lock(void)
{
    pthread_mutex_lock(&pa_mutex);
}

void aw_capture_pa_unlock(void)
{
    pthread_mutex_unlock(&pa_mutex);
}

/* --- the list ------------------------------------------------------------ */

static bool mono16k_supported(PaDeviceIndex idx, double latency_s)
{
    PaStreamParameters p;

    memset(&p, 0, sizeof(p));
    p.device = idx;
    p.channelCount = 1;
    p.sampleFormat = paInt16;
    p.suggestedLatency = latency_s;
    return Pa_IsFormatSupported(&p, NULL, AW_AUDIO_RATE_HZ) ==
           paFormatIsSupported;
}

enum aw_err aw_capture_devices(struct aw_capture_dev **devs, size_t *n,
                               char *errstr, size_t errstr_size)
{
    PaDeviceIndex count = Pa_GetDeviceCount(), def;
    struct aw_capture_dev *out;
    size_t k = 0;

    *devs = NULL;
    *n = 0;
    if (count < 0) {
        char why[AW_CAPTURE_ERRSTR];

        aw_capture_pa_errstr(count, why, sizeof(why));
        aw_errstr_set(errstr, errstr_size, "PortAudio cannot list devices: %s",
                      why);
        return AW_ERR_IO;
    }
    if (!count)
        return AW_OK;
    out = calloc((size_t)count, sizeof(*out));
    if (!out) {
        aw_errstr_set(errstr, errstr_size, "out of memory");
        return AW_ERR_NOMEM;
    }
    def = Pa_GetDefaultInputDevice();
    for (PaDeviceIndex i = 0; i < count; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        const PaHostApiInfo *api;
        struct aw_capture_dev *d = &out[k];

        if (!info || info->maxInputChannels < 1)
            continue;
        api = Pa_GetHostApiInfo(info->hostApi);
        d->index = i;
        aw_errstr_set(d->name, sizeof(d->name), "%s",
                      info->name ? info->name : "?");
        aw_errstr_set(d->host_api, sizeof(d->host_api), "%s",
                      api && api->name ? api->name : "?");
        d->max_input_channels = info->maxInputChannels;
        d->default_rate_hz = info->defaultSampleRate;
        d->default_high_latency_s = info->defaultHighInputLatency;
        d->is_default = i == def;
        k++;
    }
    if (!k) {
        free(out);
        return AW_OK;
    }
    *devs = out;
    *n = k;
    return AW_OK;
}

/* --- the matcher --------------------------------------------------------- */

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);

    for (; *hay; hay++) {
        size_t i = 0;

        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) ==
                   tolower((unsigned char)needle[i]))
            i++;
        if (i == nl)
            return true;
    }
    return nl == 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Append "[i] 'name'" of the devices \p pick selects (all when NULL) to
 * \p buf, after \p used bytes. */
static void list_candidates(char *buf, size_t size,
                            const struct aw_capture_dev *devs, size_t n,
                            const bool *pick)
{
    size_t used = strlen(buf);
    bool first = true;

    for (size_t i = 0; i < n && used + 1 < size; i++) {
        if (pick && !pick[i])
            continue;
        aw_errstr_set(buf + used, size - used, "%s[%d] '%s'", first ? "" : ", ",
                      devs[i].index, devs[i].name);
        used += strlen(buf + used);
        first = false;
    }
}

static enum aw_err not_found(const char *what,
                             const struct aw_capture_dev *devs, size_t n,
                             char *errstr, size_t errstr_size)
{
    if (!n) {
        aw_errstr_set(errstr, errstr_size, "%s: no capture devices", what);
        return AW_ERR_NOT_FOUND;
    }
    aw_errstr_set(errstr, errstr_size, "%s; input devices: ", what);
    list_candidates(errstr, errstr_size, devs, n, NULL);
    return AW_ERR_NOT_FOUND;
}

enum aw_err aw_capture_match_device(const char *spec,
                                    const struct aw_capture_dev *devs, size_t n,
                                    size_t *out, char *errstr,
                                    size_t errstr_size)
{
    char what[AW_CAPTURE_NAME_MAX + 64];
    bool pick[256];
    size_t hits = 0, hit = 0;

    if (!spec || !*spec || !strcmp(spec, "default")) {
        for (size_t i = 0; i < n; i++) {
            if (devs[i].is_default) {
                *out = i;
                return AW_OK;
            }
        }
        return not_found("no default input device", devs, n, errstr,
                         errstr_size);
    }
    if (all_digits(spec)) {
        long idx = strlen(spec) < 6 ? strtol(spec, NULL, 10) : -1;

        for (size_t i = 0; i < n; i++) {
            if (devs[i].index == idx) {
                *out = i;
                return AW_OK;
            }
        }
        aw_errstr_set(what, sizeof(what), "no input device has index %s", spec);
        return not_found(what, devs, n, errstr, errstr_size);
    }
    /* An exact name wins over a part of a longer one: "default" must not
     * be ambiguous because "sysdefault" exists. */
    for (int pass = 0; pass < 2; pass++) {
        hits = 0;
        for (size_t i = 0; i < n; i++) {
            bool m = pass == 0 ? !strcmp(devs[i].name, spec)
                               : contains_nocase(devs[i].name, spec);

            if (i < AW_ARRAY_SIZE(pick))
                pick[i] = m;
            if (m) {
                hits++;
                hit = i;
            }
        }
        if (hits)
            break;
    }
    if (hits == 1) {
        *out = hit;
        return AW_OK;
    }
    if (!hits) {
        aw_errstr_set(what, sizeof(what), "no input device matches '%s'", spec);
        return not_found(what, devs, n, errstr, errstr_size);
    }
    aw_errstr_set(errstr, errstr_size,
                  "'%s' matches %zu input devices (use the index or the "
                  "exact name): ",
                  spec, hits);
    list_candidates(errstr, errstr_size, devs,
                    n < AW_ARRAY_SIZE(pick) ? n : AW_ARRAY_SIZE(pick), pick);
    return AW_ERR_INVAL;
}

/* --- airwave devices ----------------------------------------------------- */

enum aw_err aw_capture_list_devices(FILE *out, char *errstr, size_t errstr_size)
{
    struct aw_capture_dev *devs = NULL;
    int name_w = 4, api_w = 8;
    bool wfail = false;
    enum aw_err err;
    size_t n = 0;

    err = aw_capture_pa_acquire(errstr, errstr_size);
    if (err)
        return err;
    aw_capture_pa_lock();
    err = aw_capture_devices(&devs, &n, errstr, errstr_size);
    for (size_t i = 0; i < n; i++)
        devs[i].mono16k =
            mono16k_supported(devs[i].index, devs[i].default_high_latency_s);
    aw_capture_pa_unlock();
    aw_capture_pa_release();
    if (err)
        goto end;

    /* The output is the command's result: a failed write is an error. */
    if (!n) {
        wfail = fprintf(out, "no capture devices\n") < 0;
        goto end;
    }
    for (size_t i = 0; i < n; i++) {
        int nw = (int)strlen(devs[i].name), aw = (int)strlen(devs[i].host_api);

        name_w = nw > name_w ? nw : name_w;
        api_w = aw > api_w ? aw : api_w;
    }
    /* '*' marks the default input, what "portaudio:" and
     * "portaudio:default" open. */
    if (fprintf(out, "  %-5s  %-*s  %-*s  %6s  %12s  %s\n", "index", name_w,
                "name", api_w, "host API", "inputs", "default rate",
                "16 kHz mono s16") < 0)
        wfail = true;
    for (size_t i = 0; !wfail && i < n; i++)
        if (fprintf(out, "%c %-5d  %-*s  %-*s  %6d  %9.0f Hz  %s\n",
                    devs[i].is_default ? '*' : ' ', devs[i].index, name_w,
                    devs[i].name, api_w, devs[i].host_api,
                    devs[i].max_input_channels, devs[i].default_rate_hz,
                    devs[i].mono16k ? "yes" : "no") < 0)
            wfail = true;

end:
    if (wfail || (!err && fflush(out) != 0)) {
        aw_errstr_set(errstr, errstr_size, "cannot write the device list");
        err = AW_ERR_IO;
    }
    free(devs);
    return err;
}
