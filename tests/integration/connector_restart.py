#!/usr/bin/env python3
"""Connector must-show 3: airwave-speechd killed mid-stream and restarted 3 s
later on the same port: no phrase of the recording lost (replay), none
duplicated.

The recording: four samples joined (rain-warning, aid-convoy, river-flood,
health-clinic; 44.7 s, 11 sentences), sent by airwave at real time
(speech.pace 1) so the kill lands mid-stream: speechd is killed with
SIGKILL 15 s into the run (inside aid-convoy's first sentence) and started
again on the same port 3 s later. airwave must reconnect (its backoff) and
replay the audio after its last final phrase.

Beside it, a fault-free run of the same audio (unpaced, its own speechd)
gives the comparison. Checked, on the JSONL records (Kafka delivery has
its own tests):
- airwave exits 0; the kill landed while it was running;
- every phrase of the fault-free run is present in the faulted one (by
  time overlap, with similar text), and every reference sentence is
  published exactly once;
- zero duplicate ids, no overlapping phrases, one capture session;
- a `rotation` event records the reconnect and the audio replayed
  (offset_ms + replay_seconds = where the lost connection had got).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awtest  # noqa: E402

KILL_AT = 15.0  # seconds into the run
DOWN_FOR = 3.0
SAMPLES = ("rain-warning", "aid-convoy", "river-flood", "health-clinic")
TEXT_TOL = 0.34  # word error rate between a faulted phrase and its fault-free twin


def main():
    c = awtest.Checks("connector: speechd killed mid-stream and restarted (must-show 3)")
    by_name = {s.name: s for s in awtest.load_samples()}
    missing = [n for n in SAMPLES if n not in by_name]
    if missing:
        awtest.fail(f"samples missing: {missing}")
    wav, ref_text, ref = awconn.concat_wavs([by_name[n] for n in SAMPLES], "joined")
    dur = awtest.wav_seconds(wav)
    awtest.log(f"  recording: {', '.join(SAMPLES)} joined: {dur:.1f} s, {len(ref)} sentences")
    tdir = awtest.tmpdir()

    first = awtest.Speechd(name="speechd-before").start()
    port = first.port
    clean = awtest.Speechd(name="speechd-clean").start()
    jobs = {}
    for name, sd, pace in (("faulted", first, 1), ("fault-free", clean, 0)):
        conf = {
            "speech": {"endpoint": sd.url(), "pace": pace},
            "output": {"jsonl": os.path.join(tdir, f"{name}.jsonl")},
            "streams": awconn.file_streams({"joined": wav}),
        }
        jobs[name] = awconn.start_airwave(conf, name=name)
    t0 = jobs["faulted"].t0

    time.sleep(max(0.0, t0 + KILL_AT - time.monotonic()))
    was_running = jobs["faulted"].running()
    before = len(awconn.transcripts(awconn.read_jsonl(os.path.join(tdir, "faulted.jsonl"))))
    first.proc.kill()
    first.proc.wait()
    t_kill = time.monotonic() - t0
    awtest.log(f"  SIGKILL to speechd (port {port}) {t_kill:.1f} s into the run; "
               f"{before} transcripts published before it")
    time.sleep(DOWN_FOR)
    second = awconn.speechd_on_port(port, name="speechd-after").start()
    awtest.log(f"  speechd restarted on port {second.port} {time.monotonic() - t0:.1f} s into the run")
    c.check(was_running and before < len(ref), f"the kill landed mid-stream ({before} of {len(ref)} sentences "
            f"published, airwave running)")
    c.equal(second.port, port, "speechd restarted on the same port")

    res = awconn.wait_all(jobs, (dur + 120) * awtest.timeout_mult())
    sessions_after = second.sessions_opened()
    c.check(second.alive() and clean.alive(), "the restarted and the fault-free speechd still running")
    second.stop()
    clean.stop()
    for name, r in res.items():
        awtest.log(f"  {name}: rc={r.rc}, {r.wall:.1f} s wall, {r.cpu:.2f} s CPU")
        c.equal(r.rc, 0, f"{name} run: airwave exit status")
        c.check(not r.sanitizer, f"{name} run: no sanitizer report or crash", "\n".join(r.sanitizer[:10]))
    c.check(sessions_after >= 1, f"airwave reconnected to the restarted speechd ({sessions_after} session(s))")

    lines = {n: awconn.read_jsonl(os.path.join(tdir, f"{n}.jsonl")) for n in jobs}
    for n, ls in lines.items():
        bad = [p for ln, _ in ls for p in awconn.validate_raw(ln)]
        c.check(not bad, f"{n}: all {len(ls)} JSONL records valid against docs/schema", "; ".join(bad[:5]))
    f_tr, ok_tr = awconn.transcripts(lines["faulted"]), awconn.transcripts(lines["fault-free"])
    ids = [t["id"] for t in f_tr]
    c.check(not awconn.duplicates(ids), f"faulted run: {len(ids)} transcripts, zero duplicate ids")
    c.check(not awconn.overlaps(f_tr), "faulted run: phrases sorted and not overlapping",
            "; ".join(f"{a['offset_ms']}+{a['duration_ms']} / {b['offset_ms']}: {a['text']} | {b['text']}"
                      for a, b in awconn.overlaps(f_tr)))
    c.equal(len({t["capture_session"] for t in f_tr}), 1, "faulted run: capture sessions")
    rot = awconn.events(lines["faulted"], "joined", "rotation")
    c.check(len(rot) >= 1, f"faulted run: {len(rot)} rotation event(s) for the reconnect: "
            + "; ".join(f"at {e['offset_ms'] / 1000:.1f} s, replay {e.get('replay_seconds', 0):.1f} s, "
                        f"{e.get('reason', '')}" for e in rot))

    # The event must say what happened: the audio from the last final phrase
    # up to where the lost connection had got (about KILL_AT s at pace 1)
    # was sent again.
    if rot:
        e = rot[0]
        cut = e["offset_ms"] / 1000 + e.get("replay_seconds", 0)
        c.check(t_kill - 1.5 <= cut <= t_kill + 0.5,
                f"rotation event: offset {e['offset_ms'] / 1000:.1f} s + replay_seconds {e.get('replay_seconds')} "
                f"reaches where the lost connection had got (about {t_kill:.1f} s of audio)",
                f"reason {e.get('reason')!r}; the restarted speechd's log: "
                + "; ".join(ln.split("msg=", 1)[-1] for ln in second.log_text().splitlines() if "msg=\"close" in ln))

    P_f, P_ok = awconn.phrases(f_tr), awconn.phrases(ok_tr)
    lost, differ = [], []
    for p in P_ok:
        q = awconn.found_in(p, P_f)
        if q is None:
            lost.append(p)
        elif awtest.wer_figures(p[2], q[2])[2] > 100 * TEXT_TOL:
            differ.append((p, q))
    c.check(not lost, f"every one of the fault-free run's {len(P_ok)} phrases is in the faulted run ({len(P_f)})",
            "; ".join(f"[{a:.2f}-{b:.2f}] {t}" for a, b, t in lost))
    c.check(not differ, "each with similar text",
            "; ".join(f"{p[2]!r} vs {q[2]!r}" for p, q in differ))
    m = awtest.match_phrases(P_f, ref, 0.5)
    per_ref = [sum(1 for x in m if x["ref"] == k and not x["outside"]) for k in range(len(ref))]
    c.check(all(n == 1 for n in per_ref),
            f"every reference sentence published exactly once (phrases per sentence: {per_ref})")
    e_f, n, w_f = awtest.wer_figures(ref_text, awconn.text_of(f_tr))
    e_ok, _, w_ok = awtest.wer_figures(ref_text, awconn.text_of(ok_tr))
    awtest.log(f"  WER faulted {w_f:.1f} % ({e_f}/{n}), fault-free {w_ok:.1f} % ({e_ok}/{n})")
    c.check(w_f <= w_ok + 2.0, f"faulted WER {w_f:.1f} % within 2 points of fault-free {w_ok:.1f} %")
    c.finish()


if __name__ == "__main__":
    main()
