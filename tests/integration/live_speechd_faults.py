#!/usr/bin/env python3
"""Live must-show 4: the speech service fails under a live stream, two ways:
forced to close every connection after 15 s, and, separately, killed
(SIGKILL) and restarted on the same port. Word recall against a fault-free
run of the same audio must be at least 99 %, with zero duplicates.

The programme: the eight short samples joined frame by frame into one MP3
(86 s, 21 sentences), played live at real time by tests/tools/icy_server.py.
Each of the three runs has its own station (started just before its
airwave, with a 30-s burst on connect so airwave gets the programme from
its start) and its own airwave-speechd (PocketSphinx):

  fault-free   speechd without limits
  closes       speechd --max-connection-seconds 15 (close 1000 wherever the
               turn is, as Azure does at its limit)
  killed       speechd SIGKILLed 29 s into the programme (in the sentence
               "Nurses are offering free vaccines ...", 26.6-30.3 s),
               restarted on the same port 3 s later

Checked for each faulted run, on its JSONL records:
- word recall of the fault-free run's transcript >= 99 %;
- zero duplicate ids, phrases sorted and not overlapping, no reference
  sentence published twice, one capture session (the source never broke);
- closes: >= 4 connections ended by speechd's limit, one `rotation` event
  per replaced connection; killed: the kill landed mid-programme, airwave
  reconnected to the restarted speechd, and the `rotation` event says what
  happened: offset_ms + replay_seconds reach where the killed connection
  had got (the kill's programme position, within 1.5 s);
- records valid against docs/schema; airwave exits 0.

Where the kill lands. airwave replays from the end of the last final
phrase, bit for bit (checked separately with a recording fake service),
and the restarted speechd decodes it with a fresh PocketSphinx decoder.
PocketSphinx's first sentence after a fresh start depends on the exact
first sample: started at the phrase ends of this programme, a fresh decoder
gets the next sentence worse at 3.598, 8.998, 22.378, 34.398 and 63.128 s
(e.g. 22.378 s: "America for another comparison are but." for "The new
health clinic at a camp is now open.") and the same as the fault-free run
at the other fourteen (12.238, 17.878, 25.838 ... s, each also 10 ms
either side). The kill is placed so that the replay starts at 25.838 s
(the last phrase published before 29 s ends there, with 3 s to spare), so
the test measures airwave's replay rather than the decoder's cold start.
The speechd-closes run rotates through warm decoders (speechd keeps idle
decoders for new sessions) and is not sensitive to this.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awtest  # noqa: E402

CAP_S = 15
KILL_AT = 29.0  # programme seconds: inside "Nurses are offering ..." (26.6-30.3)
DOWN_S = 3.0
MIN_RECALL = 99.0


def main():
    c = awtest.Checks("live: speech service closes and restarts under a live stream (must-show 4)")
    samples = awtest.load_samples()
    mp3, ref_text, refp, dur = awlive.mp3_programme(samples, "programme")
    awtest.log(f"  programme: {len(samples)} samples joined, {dur:.1f} s, {len(refp)} sentences")
    tdir = awtest.tmpdir()

    sds = {
        "fault-free": awtest.Speechd(name="speechd-free", extra=["--max-connection-seconds", "0"]).start(),
        "closes": awtest.Speechd(name="speechd-closes", extra=["--max-connection-seconds", str(CAP_S)]).start(),
        "killed": awtest.Speechd(name="speechd-killed").start(),
    }
    kill_port = sds["killed"].port
    runs, stations = {}, {}
    for name, sd in sds.items():
        st = awlive.IcyServer([mp3], name=f"station-{name}", burst=30).start()
        stations[name] = st
        conf = awlive.airwave_conf(sd.url(), os.path.join(tdir, f"{name}.jsonl"),
                                   [{"id": name, "url": st.url()}])
        runs[name] = awconn.start_airwave(conf, name=name)
    # The station's programme runs on its own clock from its start.
    t0 = stations["killed"].events("listen")[0]["t"]

    # The kill, mid-programme.
    time.sleep(max(0.0, t0 + KILL_AT - time.time()))
    before = len(awconn.transcripts(awconn.read_jsonl(os.path.join(tdir, "killed.jsonl"))))
    sds["killed"].proc.kill()
    sds["killed"].proc.wait()
    t_kill = time.time() - t0
    time.sleep(DOWN_S)
    second = awconn.speechd_on_port(kill_port, name="speechd-killed-again").start()
    awtest.log(f"  speechd of the 'killed' run SIGKILLed {t_kill:.1f} s in ({before} transcripts before), "
               f"back on port {second.port} {time.time() - t0:.1f} s in")
    c.check(0 < before < len(refp), f"the kill landed mid-programme ({before} of {len(refp)} sentences published)")

    # The programme ends; the stations then answer 404 and airwave keeps
    # retrying, as it would for a station off the air. Wait for the last
    # sentence's transcript in every run, then stop airwave gracefully.
    def done(name):
        trs = awconn.transcripts(awconn.read_jsonl(os.path.join(tdir, f"{name}.jsonl")))
        return trs and trs[-1]["offset_ms"] / 1000 >= refp[-1][0] - 1.0
    awlive.wait_until(lambda: time.time() - t0 > dur and all(done(n) for n in runs), dur + 60)
    time.sleep(2)
    results = {}
    for name, a in runs.items():
        a.signal(signal.SIGTERM)
    for name, a in runs.items():
        results[name] = a.wait(60 * awtest.timeout_mult())
    closes = awconn.speechd_closes(sds["closes"])
    after_sessions = second.sessions_opened()
    for sd in list(sds.values()) + [second]:
        sd.stop()
    for st in stations.values():
        st.stop()

    recs, trs = {}, {}
    for name, r in results.items():
        awtest.log(f"  {name}: rc={r.rc}, {r.wall:.1f} s wall, {r.cpu:.2f} s CPU")
        c.equal(r.rc, 0, f"{name}: airwave exit status after SIGTERM")
        c.check(not r.sanitizer, f"{name}: no sanitizer report or crash", "\n".join(r.sanitizer[:10]))
        recs[name] = awconn.read_jsonl(os.path.join(tdir, f"{name}.jsonl"))
        trs[name] = awconn.transcripts(recs[name], name)
        bad = [p for ln, _ in recs[name] for p in awconn.validate_raw(ln)]
        c.check(not bad, f"{name}: all {len(recs[name])} records valid against docs/schema", "; ".join(bad[:5]))

    ref_run = awlive.text_in(trs["fault-free"])
    e, n, w = awtest.wer_figures(ref_text, ref_run)
    awtest.log(f"  fault-free run: {len(trs['fault-free'])} phrases, WER {w:.1f} % against the reference text")
    rows = [["fault-free", len(trs["fault-free"]), f"{w:.1f} %", "-", "-", "-"]]
    for name in ("closes", "killed"):
        t = trs[name]
        ids = [x["id"] for x in t]
        rec = awlive.recall_pct(ref_run, awlive.text_in(t))
        _, _, wn = awtest.wer_figures(ref_text, awlive.text_in(t))
        rot = awconn.events(recs[name], name, "rotation")
        rows.append([name, len(t), f"{wn:.1f} %", f"{rec:.2f} %", len(rot), len(awconn.duplicates(ids))])
        c.check(rec >= MIN_RECALL, f"{name}: word recall of the fault-free run {rec:.2f} % (>= {MIN_RECALL:.0f} %)")
        c.check(not awconn.duplicates(ids), f"{name}: {len(ids)} transcripts, zero duplicate ids")
        c.check(not awconn.overlaps(t), f"{name}: phrases sorted and not overlapping",
                "; ".join(f"{a['offset_ms']}+{a['duration_ms']} / {b['offset_ms']}: {a['text']} | {b['text']}"
                          for a, b in awconn.overlaps(t)[:5]))
        m = awtest.match_phrases(awconn.phrases(t), refp, 1.0)
        per = [sum(1 for x in m if x["ref"] == k and not x["outside"]) for k in range(len(refp))]
        c.check(max(per, default=0) <= 1, f"{name}: no reference sentence published twice (per sentence: {per})")
        c.equal(len({x["capture_session"] for x in t}), 1, f"{name}: capture sessions")
    awtest.print_table(["run", "phrases", "WER vs text", "recall of fault-free", "rotation events",
                        "duplicate ids"], rows)

    by_limit = [x for x in closes if "Maximum connection duration" in x.get("close.reason", "")]
    rot = awconn.events(recs["closes"], "closes", "rotation")
    c.check(len(by_limit) >= 4, f"closes: speechd ended {len(by_limit)} connections at its {CAP_S}-s limit (>= 4)")
    c.check(len(rot) >= len(by_limit), f"closes: {len(rot)} rotation events for {len(by_limit)} forced closes")
    rot_k = awconn.events(recs["killed"], "killed", "rotation")
    c.check(after_sessions >= 1, f"killed: airwave reconnected to the restarted speechd ({after_sessions} session(s))")
    c.check(len(rot_k) >= 1, f"killed: {len(rot_k)} rotation event(s): "
            + "; ".join(f"{e.get('reason', '')} (replay {e.get('replay_seconds')} s)" for e in rot_k))
    if rot_k:
        e = rot_k[0]
        reached = e["offset_ms"] / 1000 + e.get("replay_seconds", 0)
        c.check(abs(reached - t_kill) <= 1.5,
                f"killed: rotation event offset {e['offset_ms'] / 1000:.1f} s + replay_seconds "
                f"{e.get('replay_seconds')} = {reached:.1f} s reaches where the killed connection had got "
                f"(~{t_kill:.1f} s of programme); reason {e.get('reason')!r}")
    c.finish()


if __name__ == "__main__":
    main()
