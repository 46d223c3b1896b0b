#!/usr/bin/env python3
"""Live must-show 2: the Icecast source killed and restarted every 30 s for
3 minutes. airwave must reconnect every time, publish each gap, and the
transcripts must cover all audio that was actually broadcast (word recall
>= 98 % of the fault-free run restricted to the broadcast parts), with no
duplicates.

Setup (127.0.0.1): icecast2 (TESTBED.md §5.3, default burst-on-connect)
with the mount /live.mp3; the "station" is ffmpeg -re pushing
samples/long-news.mp3 (copied, 40 kbit/s) to it. Every 30 s the source is
SIGKILLed and started again 1 s later from where the programme would be by
then (-ss: a live station goes on while its link is down, so what is said
meanwhile is never broadcast). Six incarnations over 3 minutes. airwave
reads the mount live into airwave-speechd (PocketSphinx), JSONL output and
/metrics on. Beside it, the fault-free run: airwave on the same MP3 as a
file, unpaced, into its own speechd.

Broadcast parts: for each incarnation, programme positions [ss, ss + the
time it ran], from the test's own clock (ffmpeg -re sends in real time).

Checked:
- airwave reconnected after every kill: one capture session (START event)
  per incarnation, a `discontinuity` ("source reconnected") with
  lost_seconds > 0 for each gap and none without a gap,
  airwave_source_reconnects_total >= 5;
- recall: the fault-free run's phrases that lie inside the broadcast parts
  (1 s margin at both ends) and overlap a reference sentence (words
  PocketSphinx "hears" in the jingle beds come and go); their words are
  recalled >= 98 % by the faulted run's transcripts;
- no duplicates: zero duplicate ids, and no reference sentence transcribed
  twice (transcripts matched to sentences by text);
- records valid against docs/schema; both airwave runs exit 0.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awtest  # noqa: E402

MOUNT = "/live.mp3"
PERIOD_S = 30.0
TOTAL_S = 180.0
DOWN_S = 1.0
MARGIN_S = 1.0
MIN_RECALL = 98.0


def best_ref(text, refp):
    best = (None, 1e9)
    for k, (_, _, rt) in enumerate(refp):
        w = awtest.wer_figures(rt, text)[2]
        if w < best[1]:
            best = (k, w)
    return best


def main():
    c = awtest.Checks("live: icecast source killed and restarted every 30 s for 3 minutes (must-show 2)")
    s = awtest.long_sample()
    tdir = awtest.tmpdir()
    sd = awtest.Speechd(name="speechd").start()
    sd_ref = awtest.Speechd(name="speechd-ref").start()
    ice = awlive.Icecast().start()
    http = awlive.free_port()

    faulted_jsonl = os.path.join(tdir, "faulted.jsonl")
    ref_jsonl = os.path.join(tdir, "fault-free.jsonl")
    src = ice.source(MOUNT, s.mp3, name="source0")
    t0 = src.t_start
    awlive.wait_until(lambda: ice.mounted(MOUNT), 15, what=f"the source on {MOUNT}")
    a = awconn.start_airwave(awlive.airwave_conf(sd.url(), faulted_jsonl, [{"id": "live", "url": ice.url(MOUNT)}],
                                                 http_port=http), name="faulted")
    ref = awconn.start_airwave(awlive.airwave_conf(sd_ref.url(), ref_jsonl,
                                                   [{"id": "ref", "url": s.mp3, "live": "false", "pace": 0}]),
                               name="fault-free")

    spans = []  # programme positions actually pushed
    ss = 0.0
    k = 0
    while True:
        end = min(t0 + (k + 1) * PERIOD_S, t0 + TOTAL_S)
        time.sleep(max(0.0, end - time.time()))
        src.kill()
        spans.append((ss, ss + (src.t_end - src.t_start)))
        k += 1
        if src.t_end - t0 >= TOTAL_S - 0.5:
            break
        time.sleep(DOWN_S)
        ss = time.time() - t0  # the programme went on meanwhile
        src = ice.source(MOUNT, s.mp3, ss=ss, name=f"source{k}")
    awtest.log(f"  {len(spans)} incarnations, broadcast parts (programme s): "
               + ", ".join(f"{a_:.1f}-{b:.1f}" for a_, b in spans))

    # Let the last phrases come out, then stop (a graceful stop delivers the rest).
    time.sleep(8)
    m = awlive.scrape(http)
    a.signal(signal.SIGTERM)
    r = a.wait(60 * awtest.timeout_mult())
    rr = ref.wait(300 * awtest.timeout_mult())
    ice.stop()
    sd.stop()
    sd_ref.stop()
    for name, res in (("faulted", r), ("fault-free", rr)):
        awtest.log(f"  {name}: rc={res.rc}, {res.wall:.1f} s wall, {res.cpu:.2f} s CPU")
        c.equal(res.rc, 0, f"{name}: airwave exit status")
        c.check(not res.sanitizer, f"{name}: no sanitizer report or crash", "\n".join(res.sanitizer[:10]))

    recs = awconn.read_jsonl(faulted_jsonl)
    ref_recs = awconn.read_jsonl(ref_jsonl)
    bad = [p for ln, _ in recs + ref_recs for p in awconn.validate_raw(ln)]
    c.check(not bad, f"all {len(recs) + len(ref_recs)} records valid against docs/schema", "; ".join(bad[:5]))

    # Reconnects and gaps.
    ev = awconn.events(recs, "live")
    starts = [e for e in ev if e["type"] == "start"]
    discs = [e for e in ev if e["type"] == "discontinuity" and "reconnect" in e.get("reason", "")]
    ends = [e for e in ev if e["type"] == "end"]
    awtest.log("  gaps published (lost_seconds): " + ", ".join(f"{e.get('lost_seconds')}" for e in discs))
    real = [e for e in discs if e.get("lost_seconds", 0) > 0]
    c.check(len(real) >= len(spans) - 1, f"{len(real)} 'source reconnected' discontinuities with lost_seconds > 0 "
            f"for {len(spans) - 1} kills")
    # One capture session per incarnation, and a gap event only where audio
    # was lost: a session without the source behind it, or a "reconnected"
    # with nothing lost, is noise a consumer cannot tell from a real event.
    c.equal(len(starts), len(spans), "capture sessions (START events), one per incarnation of the source")
    c.equal(len(discs) - len(real), 0, "'source reconnected' discontinuities with lost_seconds 0")
    c.check(len(ends) >= len(spans) - 1, f"{len(ends)} END events")
    rc_total = awlive.metric(m, "airwave_source_reconnects_total", "live")
    c.check(rc_total is not None and rc_total >= len(spans) - 1,
            f"airwave_source_reconnects_total {rc_total} (>= {len(spans) - 1})")

    # Recall of the fault-free run within the broadcast parts.
    refp = s.phrases
    ok_tr = awconn.transcripts(ref_recs, "ref")
    in_parts = [t for t in ok_tr
                if awlive.inside((t["offset_ms"] / 1000, (t["offset_ms"] + t["duration_ms"]) / 1000), spans, MARGIN_S)
                and any(awconn.overlap_s((t["offset_ms"] / 1000, (t["offset_ms"] + t["duration_ms"]) / 1000), p) > 0
                        for p in refp)]
    f_tr = awconn.transcripts(recs, "live")
    ref_words = awlive.text_in(in_parts)
    rec = awlive.recall_pct(ref_words, awlive.text_in(f_tr))
    n_words = len(awtest._wer.words(ref_words))
    awtest.log(f"  fault-free run: {len(ok_tr)} phrases, {len(in_parts)} inside the broadcast parts "
               f"({n_words} words); faulted run: {len(f_tr)} phrases")
    c.check(rec >= MIN_RECALL, f"word recall of the fault-free run within the broadcast parts: {rec:.2f} % "
            f"(>= {MIN_RECALL:.0f} %)")
    if True:  # which sentences lost words, for the log
        hyp = awlive.text_in(f_tr)
        for t in in_parts:
            r1 = awlive.recall_pct(t["text"], hyp)
            if r1 < 100:
                awtest.log(f"        [{t['offset_ms'] / 1000:.1f} s] {t['text']!r}: {r1:.0f} % recalled")

    # Duplicates.
    ids = [t["id"] for t in f_tr]
    c.check(not awconn.duplicates(ids), f"{len(ids)} transcripts, zero duplicate ids")
    per = {}
    for t in f_tr:
        k_, w = best_ref(t.get("text", ""), refp)
        if k_ is not None and w < 50:
            per.setdefault(k_, []).append(t["text"])
    twice = {refp[k_][2]: v for k_, v in per.items() if len(v) > 1}
    c.check(not twice, f"no reference sentence transcribed twice ({len(per)} sentences heard)",
            "; ".join(f"{k_!r}: {v}" for k_, v in twice.items()))
    c.finish()


if __name__ == "__main__":
    main()
