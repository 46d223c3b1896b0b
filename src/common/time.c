/*
 * Timestamp formatting and parsing. UTC only; no locale, no TZ lookups.
 */
#include "airwave/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

uint64_t aw_clock_cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

char *aw_time_format_iso8601(int64_t wall_ms, char *buf, size_t size)
{
    time_t secs =
        (time_t)(wall_ms >= 0 ? wall_ms / 1000 : (wall_ms - 999) / 1000);
    int ms = (int)(wall_ms - (int64_t)secs * 1000);
    struct tm tm;

    if (!gmtime_r(&secs, &tm) ||
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ms) < 0) {
        if (size)
            buf[0] = '\0';
    }
    return buf;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int aw_time_parse_iso8601(const char *s, int64_t *wall_ms)
{
    int y, mo, d, h, mi, sec, frac_ms = 0, off_h, off_m, sign;
    const char *p = s;
    int64_t ms;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (*p == '.' || *p == ',') {
        int scale = 100;

        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (; isdigit((unsigned char)*p); p++, scale /= 10)
            frac_ms += (*p - '0') * scale;
    }
    ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) *
             60000 +
         (int64_t)sec * 1000 + frac_ms;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &off_h))
            return -1;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &off_m))
            return -1;
        ms -= sign * ((int64_t)off_h * 60 + off_m) * 60000;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *wall_ms = ms;
    return 0;
}
