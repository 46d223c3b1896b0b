#!/usr/bin/env python3
"""Connector must-show 2: the long recording over 20-s speech connections.

airwave-speechd closes every connection after 20 s (--max-connection-seconds
20, close 1000 "Maximum connection duration exceeded.", wherever the turn
is), as Azure does after 10 minutes. Two airwave runs of
samples/long-news.mp3 (288 s) at speech.pace 1.65 (about 175 s, so at least
8 rotations) against it, side by side:

- "proactive": speech.rotate_seconds 15, rotate_grace_seconds 4, the scale
  model of production (Azure cuts at 600 s, airwave rotates from 540 s and
  waits up to 45 s for a pause): airwave replaces each connection itself,
  at a pause when one comes, before the limit. No connection may reach it.
- "forced": airwave's rotation left at the default 540 s, so every cut is
  the service's, mid-phrase or not (a service that cuts earlier than
  expected): airwave must reconnect, replay the audio after the last final
  phrase, rebase the offsets and drop replayed duplicates.

Beside them, on a second speechd without a limit, a run of the same file
at the same pace gives the reference ("unrestricted", one connection). All three publish to Kafka
(aw-kafka-mock) and a JSONL copy.

Checked for both rotating runs:
- at least 8 rotations (speechd's close log lines, mapped to the run by
  connection id), and one `rotation` stream event per reconnect;
- zero duplicate ids; phrases sorted and not overlapping; one capture
  session throughout (offsets on one timeline);
- offsets continuous across rotations: every speech phrase of the
  unrestricted run (one overlapping a reference sentence; words PocketSphinx
  "hears" in the jingle beds vary with the decoder's state) is found, by
  time overlap, in the rotating run; every sentence a cut fell in is
  published once; no gap between speech phrases is larger than the
  reference run's largest plus 2 s;
- WER at most one point above the unrestricted run's for "proactive"
  (one-sided: a rotating run may come out better, with fewer words "heard"
  in the jingle beds; the delta is printed, and on failure the sentences
  that came out worse). For "forced" at most 2.5 points: each forced cut
  restarts PocketSphinx mid-stream on replayed audio, and its result moves
  with where the cut falls. Measured: +0.6 to +1.7 over six runs; the
  official SDK, run the same way (pace 1.65, same 20-s speechd), 12.0 %
  where airwave had 9.9 % and the unrestricted run 10.3 %.
And: what Kafka holds is the JSONL copy, valid against the schema.
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awtest  # noqa: E402

CAP_S = 20
PACE = 1.65  # 288 s / 1.65 = 175 s of wall time: 8 cuts at 20 s with room
MIN_ROTATIONS = 8
# The reference run is paced like the others (all three last 175 s): unpaced
# it would take a core for 45 s beside them, and the decoding load then
# makes speechd stop reading the paced clients (backpressure), which delays
# its cuts (docs/speechd.md §4.3) and, in slow builds, airwave's close
# frames; under load its one turn can also outlast
# speech.final_timeout_seconds and be replayed, which changes the reference.
REF_PACE = PACE
MAX_DELTA = {"proactive": 1.0, "forced": 2.5}  # WER points above the unrestricted run
RUNS = {
    "proactive": f"speechd max {CAP_S} s, rotate_seconds 15, pace {PACE}",
    "forced": f"speechd max {CAP_S} s, pace {PACE} (every cut forced)",
    "unrestricted": f"no limit, pace {REF_PACE}",
}


def main():
    c = awtest.Checks(f"connector: long recording over {CAP_S}-s speech connections (must-show 2)")
    s = awtest.long_sample()
    tdir = awtest.tmpdir()
    mock = awconn.KafkaMock(brokers=1)
    capped = awtest.Speechd(name="capped", extra=["--max-connection-seconds", str(CAP_S)]).start()
    free = awtest.Speechd(name="unrestricted", extra=["--max-connection-seconds", "0"]).start()
    jobs = {}
    for name, sd, speech in (("proactive", capped, {"pace": PACE, "rotate_seconds": 15, "rotate_grace_seconds": 4}),
                             ("forced", capped, {"pace": PACE}),
                             ("unrestricted", free, {"pace": REF_PACE})):
        conf = {
            "speech": dict(endpoint=sd.url(), **speech),
            "kafka": {"bootstrap.servers": mock.bootstrap},
            "output": {"jsonl": os.path.join(tdir, f"{name}.jsonl")},
            "streams": awconn.file_streams({f"long-{name}": s.mp3}),
        }
        jobs[name] = awconn.start_airwave(conf, name=name)
    # 288 s at 1.65x is 175 s; the bound leaves room for slow builds.
    res = awconn.wait_all(jobs, 400 * awtest.timeout_mult())
    c.check(capped.alive() and free.alive(), "both airwave-speechd instances still running")
    closes = awconn.speechd_closes(capped)
    free_opens = free.sessions_opened()
    capped.stop()
    free.stop()

    conn_ids = {}
    for name, r in res.items():
        awtest.log(f"  {name}: rc={r.rc}, {r.wall:.1f} s wall, {r.cpu:.2f} s CPU, peak RSS {r.maxrss_kb / 1024:.0f} MB")
        c.equal(r.rc, 0, f"{name} run: airwave exit status")
        c.check(not r.sanitizer, f"{name} run: no sanitizer report or crash", "\n".join(r.sanitizer[:10]))
        conn_ids[name] = {m[:8] for m in re.findall(r"speech connection ([0-9A-F]{32}) open", r.stderr)}

    c.equal(free_opens, 1, "unrestricted run: speechd sessions (the reference is one uncut connection)")

    recs, trs = {}, {}
    for name in jobs:
        lines = awconn.read_jsonl(os.path.join(tdir, f"{name}.jsonl"))
        recs[name] = lines
        trs[name] = awconn.transcripts(lines, f"long-{name}")
        bad = [p for ln, _ in lines for p in awconn.validate_raw(ln)]
        c.check(not bad, f"{name}: all {len(lines)} JSONL records valid against docs/schema", "; ".join(bad[:5]))
    # Kafka: everything published, read back.
    n_tr = sum(len(t) for t in trs.values())
    rc, msgs, err = awconn.consume(mock.bootstrap, "transcripts", expect=n_tr, timeout_ms=10000)
    c.check(rc == 0 and len(msgs) == n_tr, f"Kafka: read back {len(msgs)} of {n_tr} transcripts", err[-300:])
    problems = awconn.validate_messages(msgs, awconn.TRANSCRIPT)
    c.check(not problems, "Kafka: every transcript valid against the schema and keyed by its stream id",
            "; ".join(problems[:5]))
    for name in jobs:
        k = [x["record"] for x in sorted(msgs, key=lambda x: (x["partition"], x["offset"]))
             if x["key"] == f"long-{name}"]
        c.check([t["id"] for t in k] == [t["id"] for t in trs[name]],
                f"Kafka holds the {name} run's {len(trs[name])} transcripts in JSONL order")

    ref_run = trs["unrestricted"]
    P_ref = awconn.phrases(ref_run)
    e_f, n, w_f = awtest.wer_figures(s.reference, awconn.text_of(ref_run))
    rec_f = 100 * awtest._wer.recall(s.reference, awconn.text_of(ref_run))
    refp = s.phrases
    # Words "heard" in the jingle beds (phrases overlapping no sentence) are
    # not part of the recording: they come and go with the decoder's state.
    speech = [p for p in P_ref if any(awconn.overlap_s(p, r) > 0 for r in refp)]
    music = [p for p in P_ref if p not in speech]
    # Gaps between phrases of speech (jingle-bed phrases come and go).
    in_speech = lambda P: [p for p in P if any(awconn.overlap_s(p, r) > 0 for r in refp)]  # noqa: E731
    gaps = lambda P: [b[0] - a[1] for a, b in zip(in_speech(P), in_speech(P)[1:])]  # noqa: E731
    g_ref = max(gaps(P_ref), default=0)
    table = []

    for name in ("proactive", "forced"):
        rot = trs[name]
        sid = f"long-{name}"
        conns = [x for x in closes if x.get("session", "")[:8] in conn_ids[name]]
        awtest.log()
        awtest.log(f"  --- {name}: {RUNS[name]}")
        ids = [t["id"] for t in rot]
        c.check(not awconn.duplicates(ids), f"{name}: {len(ids)} transcripts, zero duplicate ids",
                str(awconn.duplicates(ids)))
        c.check(not awconn.overlaps(rot), f"{name}: phrases sorted, zero overlapping phrases",
                "; ".join(f"{a['offset_ms']}+{a['duration_ms']} / {b['offset_ms']}: {a['text']} | {b['text']}"
                          for a, b in awconn.overlaps(rot)[:5]))
        dup_text = [(a["offset_ms"], a["text"]) for a, b in zip(rot, rot[1:]) if a["text"] == b["text"] and a["text"]]
        c.check(not dup_text, f"{name}: no phrase repeated back to back (replayed duplicate)", str(dup_text))
        c.equal(len({t["capture_session"] for t in rot}), 1, f"{name}: capture sessions (one timeline throughout)")

        by_limit = [x for x in conns if "Maximum connection duration" in x.get("close.reason", "")]
        by_us = [x for x in conns if x.get("close.reason", "") == "rotation"]
        ev = awconn.events(recs[name], sid, "rotation")
        if name == "forced":
            c.check(len(by_limit) >= MIN_ROTATIONS,
                    f"{name}: speechd ended {len(by_limit)} of its {len(conns)} connections at the {CAP_S}-s limit "
                    f"(need >= {MIN_ROTATIONS})", "; ".join(x.get("msg", "") for x in conns))
        else:
            c.check(len(by_us) >= MIN_ROTATIONS and not by_limit,
                    f"{name}: airwave rotated {len(by_us)} of its {len(conns)} connections itself, "
                    f"{len(by_limit)} reached speechd's limit (need >= {MIN_ROTATIONS} and 0)",
                    "; ".join(x.get("msg", "") for x in conns))
        c.check(len(ev) >= MIN_ROTATIONS and len(ev) == len(conns) - 1,
                f"{name}: {len(ev)} rotation events, one per replaced connection "
                f"({len(conns)} connections, the last one closed at the end)")
        replay = [e.get("replay_seconds", 0) for e in ev]
        cuts = [e["offset_ms"] / 1000 + e.get("replay_seconds", 0) for e in ev]
        awtest.log(f"  rotations at (s of audio): {', '.join(f'{x:.1f}' for x in cuts)}")
        awtest.log(f"  replayed per rotation (s): {', '.join(f'{x:.1f}' for x in replay)}")

        # Accuracy against the unrestricted run.
        e_r, _, w_r = awtest.wer_figures(s.reference, awconn.text_of(rot))
        rec_r = 100 * awtest._wer.recall(s.reference, awconn.text_of(rot))
        # One-sided: rotation must not cost accuracy. A rotating run can come
        # out better (a fresh decoder after a rotation "hears" fewer words in
        # the next jingle bed); the delta is printed either way.
        worse = []
        for k, (a, b, txt) in enumerate(refp):
            said = lambda trs: " ".join(t["text"] for t in trs if awconn.overlap_s(  # noqa: E731
                (a, b), (t["offset_ms"] / 1000, (t["offset_ms"] + t["duration_ms"]) / 1000)) > 0)
            er, ef = awtest.wer_figures(txt, said(rot))[0], awtest.wer_figures(txt, said(ref_run))[0]
            if er > ef:
                near = [f"{x:.1f}" for x in cuts if a - 10 < x < b + 1]
                worse.append(f"sentence {k + 1} [{a:.1f}-{b:.1f}] {er} errors vs {ef} (cuts near: {near}): "
                             f"{said(rot)!r} / unrestricted {said(ref_run)!r}")
        c.check(w_r <= w_f + MAX_DELTA[name],
                f"{name}: WER {w_r:.1f} % at most {MAX_DELTA[name]:g} point(s) above unrestricted {w_f:.1f} % "
                f"(delta {w_r - w_f:+.1f}; recall {rec_r:.1f} % vs {rec_f:.1f} %)", "\n        ".join(worse))

        # Continuity: nothing the unrestricted run found in the speech is missing.
        P_rot = awconn.phrases(rot)
        missing = [p for p in speech if awconn.found_in(p, P_rot) is None]
        c.check(not missing, f"{name}: every one of the unrestricted run's {len(speech)} speech phrases is found "
                f"(by time overlap) among its {len(P_rot)} phrases",
                "; ".join(f"[{a:.2f}-{b:.2f}] {t}" for a, b, t in missing[:8]))
        m_missing = [p for p in music if awconn.found_in(p, P_rot) is None]
        awtest.log(f"  (jingle beds: the unrestricted run heard {len(music)} phrases there; "
                   f"{len(m_missing)} of them not here"
                   + (": " + "; ".join(f"[{a:.1f}-{b:.1f}] {t}" for a, b, t in m_missing) if m_missing else "") + ")")
        # The sentences a cut fell in: each published exactly once.
        inside = 0
        for cut in cuts:
            for k, (a, b, txt) in enumerate(refp):
                if a < cut < b:
                    inside += 1
                    hits = [p for p in P_rot if awconn.overlap_s(p, (a, b)) > 0.5 * min(b - a, p[1] - p[0])]
                    c.check(len(hits) == 1, f"{name}: cut at {cut:.1f} s fell in sentence {k + 1} "
                            f"({a:.1f}-{b:.1f} s): published in {len(hits)} phrase(s)",
                            f"{txt} -> {[h[2] for h in hits]}")
        awtest.log(f"  {inside} of {len(cuts)} cuts fell inside a sentence")
        g_rot = max(gaps(P_rot), default=0)
        c.check(g_rot <= g_ref + 2.0,
                f"{name}: largest gap between speech phrases {g_rot:.1f} s (unrestricted: {g_ref:.1f} s)")
        m = awtest.match_phrases(P_rot, refp, 0.5)
        awtest.log(f"  {len(P_rot)} phrases, {sum(1 for x in m if x['match'])} within 0.5 s of a reference sentence, "
                   f"{len({x['ref'] for x in m if not x['outside']})} of {len(refp)} sentences heard, "
                   f"{sum(1 for x in m if x['outside'])} outside any sentence")
        table.append([RUNS[name], len(conns), len(ev), len(rot), f"{w_r:.1f} %", f"{rec_r:.1f} %",
                      f"{res[name].wall:.0f}", f"{res[name].cpu:.2f}"])
    awtest.log()
    table.append([RUNS["unrestricted"], free_opens, 0, len(ref_run), f"{w_f:.1f} %",
                  f"{rec_f:.1f} %", f"{res['unrestricted'].wall:.0f}", f"{res['unrestricted'].cpu:.2f}"])
    awtest.print_table(["run", "connections", "rotation events", "phrases", "WER", "recall", "wall s",
                        "airwave CPU s"], table, title=f"long-news.mp3 ({n} words):")
    c.equal(mock.quit(), 0, "aw-kafka-mock exits cleanly")
    c.finish()


if __name__ == "__main__":
    main()
