#!/usr/bin/env python3
"""Live must-show 7: adding, changing and removing streams in the
configuration file while two live streams run leaves those two undisturbed
(no reconnect, no gap).

Two live stations (tests/tools/icy_server.py, samples/long-news.mp3 looped
at real time, ICY titles every 20 s) feed streams "alpha" and "bravo";
airwave runs them against airwave-speechd --engine null (recognition is not
what this is about) with /metrics on. Then, with pauses between the steps:

  1  the file is rewritten with a third stream "charlie" (a third station):
     picked up by the file watch (no signal)
  2  charlie's language is changed, and SIGHUP is sent
  3  charlie is removed and "delta" added (file watch)
  4  delta is removed, and SIGHUP is sent

Checked:
- alpha and bravo: after their first START, no new START, END,
  DISCONTINUITY or ROTATION event; their airwave_speech_connections_total
  and airwave_source_reconnects_total did not change from before step 1 to
  the end; their stations saw exactly one connection each; their decoded
  audio kept growing at the stations' rate (no gap: within 3 s of the wall
  time between the first and the last scrape);
- charlie started after step 1, was restarted by step 2 (END, then a new
  START), and ended at step 3; delta started at step 3 and ended at step 4;
  the metrics of removed streams are gone; the log reports each reload;
- airwave exits 0 on SIGTERM; records valid against docs/schema.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awtest  # noqa: E402

KEPT = ("alpha", "bravo")
PAUSE_S = 6


def main():
    c = awtest.Checks("live: reload adds, changes and removes streams; two others undisturbed (must-show 7)")
    s = awtest.long_sample()
    st = {n: awlive.IcyServer([s.mp3], name=f"station-{n}", loop=True, title_every=20).start()
          for n in ("alpha", "bravo", "charlie", "delta")}
    sd = awtest.Speechd(name="speechd", engine="null").start()
    http = awlive.free_port()
    jsonl = os.path.join(awtest.tmpdir(), "out.jsonl")

    def conf(extra):
        streams = [{"id": n, "url": st[n].url()} for n in KEPT] + extra
        return awlive.airwave_conf(sd.url(), jsonl, streams, http_port=http)

    a = awconn.start_airwave(conf([]), name="airwave")
    path = a.config_path

    def started(sid, n=1):
        return len(awconn.events(awconn.read_jsonl(jsonl), sid, "start")) >= n

    awlive.wait_until(lambda: all(started(n) for n in KEPT), 30, what="alpha and bravo to start")
    time.sleep(2)
    t_first = time.monotonic()
    m0 = awlive.scrape(http)
    before = awlive.counts_by_stream(awconn.read_jsonl(jsonl))

    def rewrite(extra, hup=False):
        time.sleep(1.1)  # a new mtime, even on coarse file systems
        awconn.write_config(conf(extra), path)
        if hup:
            a.signal(signal.SIGHUP)

    def ended(sid, n=1):
        return len(awconn.events(awconn.read_jsonl(jsonl), sid, "end")) >= n

    charlie = {"id": "charlie", "url": st["charlie"].url()}
    rewrite([charlie])
    awlive.wait_until(lambda: started("charlie"), 20, what="charlie to start after the file changed")
    time.sleep(PAUSE_S)
    rewrite([dict(charlie, language="en-GB")], hup=True)
    awlive.wait_until(lambda: started("charlie", 2), 20, what="charlie to restart after SIGHUP")
    time.sleep(PAUSE_S)
    rewrite([{"id": "delta", "url": st["delta"].url()}])
    awlive.wait_until(lambda: started("delta"), 20, what="delta to start")
    m_mid = awlive.scrape(http)
    time.sleep(PAUSE_S)
    rewrite([], hup=True)
    awlive.wait_until(lambda: ended("delta"), 20, what="delta to end")
    time.sleep(PAUSE_S)
    m1 = awlive.scrape(http)
    t_last = time.monotonic()
    after = awlive.counts_by_stream(awconn.read_jsonl(jsonl))  # before the stop's END
    a.signal(signal.SIGTERM)
    r = a.wait(30 * awtest.timeout_mult())
    sd.stop()
    for x in st.values():
        x.stop()
    c.equal(r.rc, 0, "airwave exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash", "\n".join(r.sanitizer[:10]))

    recs = awconn.read_jsonl(jsonl)
    bad = [p for ln, _ in recs for p in awconn.validate_raw(ln)]
    c.check(not bad, f"all {len(recs)} records valid against docs/schema", "; ".join(bad[:5]))
    wall = t_last - t_first
    rows = []
    for n in KEPT:
        evs = [e["type"] for e in awconn.events(recs, n) if e["type"] != "title"]
        c.equal(after.get(n), before.get(n), f"{n}: start/end/discontinuity/rotation events before and after "
                "the reloads")
        c.check(evs[:1] == ["start"] and "end" not in evs[:-1] and "discontinuity" not in evs
                and "rotation" not in evs, f"{n}: events {evs} (one start, an end only at the stop)")
        for name in ("airwave_speech_connections_total", "airwave_source_reconnects_total"):
            v0, v1 = awlive.metric(m0, name, n), awlive.metric(m1, name, n)
            c.check(v0 is not None and v0 == v1, f"{n}: {name} {v0} -> {v1}")
        d0 = awlive.metric(m0, "airwave_audio_decoded_seconds_total", n)
        d1 = awlive.metric(m1, "airwave_audio_decoded_seconds_total", n)
        grown = (d1 or 0) - (d0 or 0)
        rows.append([n, d0, d1, f"{grown:.1f}", f"{wall:.1f}"])
        c.check(abs(grown - wall) <= 3.0, f"{n}: {grown:.1f} s of audio decoded over {wall:.1f} s of wall time "
                "(no gap)")
        c.equal(len(st[n].events("connect")), 1, f"{n}: connections seen by its station")
    awtest.print_table(["stream", "decoded s (before)", "decoded s (after)", "grown", "wall s"], rows)

    ev_c = [e["type"] for e in awconn.events(recs, "charlie") if e["type"] in ("start", "end")]
    ev_d = [e["type"] for e in awconn.events(recs, "delta") if e["type"] in ("start", "end")]
    c.equal(ev_c, ["start", "end", "start", "end"], "charlie: started, restarted on its change, ended on removal")
    c.equal(ev_d, ["start", "end"], "delta: started and ended")
    c.check(awlive.metric(m_mid, "airwave_source_up", "delta") == 1.0, "delta: airwave_source_up 1 while it ran")
    c.check(awlive.metric(m1, "airwave_source_up", "charlie") is None
            and awlive.metric(m1, "airwave_source_up", "delta") is None,
            "charlie and delta: gone from /metrics after their removal")
    reloads = [ln for ln in r.stderr.splitlines() if "configuration reloaded" in ln]
    for ln in reloads:
        awtest.log("  " + ln.split("msg=", 1)[-1])
    c.check(len(reloads) >= 4, f"{len(reloads)} reloads logged (>= 4)")
    c.check(any("SIGHUP" in ln for ln in r.stderr.splitlines()) and
            any("file changed" in ln for ln in r.stderr.splitlines()),
            "reloads by SIGHUP and by the file watch")
    c.finish()


if __name__ == "__main__":
    main()
