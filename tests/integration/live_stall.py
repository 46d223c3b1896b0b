#!/usr/bin/env python3
"""Live must-show 3: an HTTP station that stalls mid-stream (stops sending
and keeps the socket open): the stall watchdog reopens it within the
configured time. Also: servers that accept a connection and then send
nothing at all, or only the response headers.

The station is tests/tools/icy_server.py playing samples/long-news.mp3 as a
live programme (its clock runs whether or not anyone listens), with a plan
per connection:

    0  play 4 s, then stall (no bytes, socket kept open)
    1  play 4 s, then stall again
    2  silent: accept, read the request, never answer
    3  headers-only: answer 200 with ICY headers, then nothing
    4  play

airwave runs it with ingest.stall_seconds 3 against speechd --engine null
(recognition is not what this test is about) and /metrics on. Checked:
- each mid-stream stall is detected ("no audio from URL for 3 s") 3 s after
  the last audio (within 0.75 s), and the station sees the reconnect within
  the watchdog time plus the documented first backoff delays (500 ms, then
  1000 ms, +-20 %) plus 1 s of slack (scaled for sanitizer builds);
- the silent and headers-only servers are given up within the read
  timeout (stall + 5 s, plus slack) and reopened;
- stream-events: END with the watchdog's reason, START of each new capture
  session, and a DISCONTINUITY per reconnect whose lost_seconds matches the
  programme the station broadcast while nobody listened (within 0.5 s);
- /metrics: airwave_source_reconnects_total counts airwave's reopens and
  airwave_source_up is 1 at the end; airwave exits 0 on SIGTERM.
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awtest  # noqa: E402

STALL_S = 3
PLAY_S = 4
BACKOFF_MS = (500, 1000, 2000, 5000, 10000)  # src/ingest: aw_ingest_default_backoff
JITTER = 0.2
PLAN = f"stall:{PLAY_S},stall:{PLAY_S},silent,headers-only,play"


def log_ts(line):
    m = re.search(r"\bts=(\S+)", line)
    return awconn.parse_time(m.group(1)) if m else None


def main():
    c = awtest.Checks("live: a stalled station is reopened by the watchdog (must-show 3)")
    slack = 1.0 * awtest.timeout_mult()
    s = awtest.long_sample()
    st = awlive.IcyServer([s.mp3], name="station", plan=PLAN, loop=True).start()
    sd = awtest.Speechd(name="speechd", engine="null").start()
    http = awlive.free_port()
    jsonl = os.path.join(awtest.tmpdir(), "out.jsonl")
    conf = awlive.airwave_conf(sd.url(), jsonl, [{"id": "radio", "url": st.url()}], http_port=http,
                               ingest={"stall_seconds": STALL_S})
    a = awconn.start_airwave(conf, name="airwave")

    # Wait for the fifth connection (the one that plays) and a few seconds of it.
    awlive.wait_until(lambda: len(st.events("connect")) >= 5, 90, what="the fifth connection to the station")
    time.sleep(3)
    m = awlive.scrape(http)
    a.signal(signal.SIGTERM)
    r = a.wait(30 * awtest.timeout_mult())
    sd.stop()
    st.stop()
    c.equal(r.rc, 0, "airwave exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash", "\n".join(r.sanitizer[:10]))

    conns = st.events("connect")
    stalls = st.events("stall")
    gone = {e["conn"]: e for e in st.events("gone")}
    watchdog = [ln for ln in r.stderr.splitlines() if "no audio from" in ln and "reopening in" in ln]
    awtest.log(f"  station: {len(conns)} connections, {len(stalls)} stalls; airwave logged {len(watchdog)} "
               "watchdog reopens")
    rows = []
    for k, e in enumerate(stalls[:2]):
        n = e["conn"]
        nxt = next((x for x in conns if x["conn"] == n + 1), None)
        det = next((log_ts(ln) for ln in watchdog if log_ts(ln) and log_ts(ln) > e["t"]), None)
        if det is None or nxt is None:
            c.check(False, f"stall {k + 1} (connection {n}): detected and reopened",
                    f"watchdog log line: {det}, next connection: {nxt}")
            continue
        detect = det - e["t"]
        reopen = nxt["t"] - e["t"]
        bound = STALL_S + BACKOFF_MS[k] * (1 + JITTER) / 1000 + slack
        rows.append([f"stall {k + 1}", f"{detect:.2f}", f"{reopen:.2f}", f"{bound:.2f}"])
        c.check(STALL_S - 0.25 <= detect <= STALL_S + 0.75 * awtest.timeout_mult(),
                f"stall {k + 1}: watchdog fired {detect:.2f} s after the station stopped sending "
                f"(ingest.stall_seconds {STALL_S})")
        c.check(reopen <= bound, f"stall {k + 1}: reopened {reopen:.2f} s after the stall "
                f"(<= {STALL_S} s + backoff {BACKOFF_MS[k]} ms +20 % + {slack:.1f} s)")
    c.equal(len(rows), 2, "mid-stream stalls measured")

    for n, what in ((2, "silent server"), (3, "headers-only server")):
        e = next((x for x in conns if x["conn"] == n), None)
        g = gone.get(n)
        if e is None or g is None:
            c.check(False, f"{what} (connection {n}) given up", f"connect {e}, gone {g}")
            continue
        held = g["t"] - e["t"]
        bound = STALL_S + 5 + slack
        rows.append([what, f"{held:.2f}", "", f"{bound:.2f}"])
        c.check(held <= bound, f"{what}: airwave gave up on it after {held:.2f} s (<= stall + 5 s read timeout "
                f"+ {slack:.1f} s)")
    awtest.print_table(["case", "detected / given up after (s)", "reopened after (s)", "bound (s)"], rows)

    recs = awconn.read_jsonl(jsonl)
    ev = awconn.events(recs, "radio")
    kinds = [e["type"] for e in ev]
    ends = [e for e in ev if e["type"] == "end"]
    starts = [e for e in ev if e["type"] == "start"]
    discs = [e for e in ev if e["type"] == "discontinuity"]
    awtest.log("  events: " + ", ".join(kinds))
    c.check(sum(1 for e in ends if "no audio from" in e.get("reason", "")) >= 2,
            "END events with the watchdog's reason for both stalls",
            "; ".join(e.get("reason", "") for e in ends))
    c.equal(len(starts), 3, "START events (three capture sessions: two stalls, then the playing connection)")
    c.equal(len(discs), 2, "DISCONTINUITY events (one per reconnect after audio)")
    # What the station broadcast while airwave was away: the programme moved
    # on from where the stalled connection stopped to where the next
    # connection that played started.
    playing = [x for x in conns if x["conn"] in (1, 4)]
    for d, e, nxt in zip(discs, stalls[:2], playing):
        lost = nxt["pos"] - e["pos"]
        c.check(abs(d.get("lost_seconds", -1) - lost) <= 0.5,
                f"discontinuity {d['time']}: lost_seconds {d.get('lost_seconds')} vs the "
                f"{lost:.2f} s the station broadcast meanwhile")
    problems = [p for ln, _ in recs for p in awconn.validate_raw(ln)]
    c.check(not problems, f"all {len(recs)} records valid against docs/schema", "; ".join(problems[:5]))

    # airwave reopened three times (after each stall and after the silent
    # server's failed open); the headers-only connection was replaced by
    # libavformat's own http reconnect inside that third open.
    reconnects = awlive.metric(m, "airwave_source_reconnects_total", "radio")
    c.check(reconnects is not None and reconnects >= 3,
            f"airwave_source_reconnects_total {reconnects} counts airwave's 3 reopens")
    c.equal(awlive.metric(m, "airwave_source_up", "radio"), 1.0, "airwave_source_up at the end")
    c.finish()


if __name__ == "__main__":
    main()
