#!/usr/bin/env python3
"""PortAudio capture: a device that disappears is reopened like a dropped
URL, as a new capture session.

The "sound card" is a private PulseAudio daemon (TESTBED.md §4.2). While
`airwave run` captures portaudio:default, the daemon is killed (SIGKILL: as
abrupt as pulling a USB card) and started again a moment later; then a
sample is played into the reopened device. Checked:

- the capture notices (the stream stops), logs it and reopens with backoff
  while the device is gone, and opens it again once it is back;
- the stream events say so, in order: start, end (device lost, not
  final), start of a new capture session, and a discontinuity with the
  seconds lost ("source reconnected");
- the sample played after the reopen is transcribed, all of it in the new
  capture session, as well as the same sample read from its file (WER
  within 1 point);
- airwave exits 0 after SIGTERM, with no sanitizer report.
"""

import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "tools"))
sys.path.insert(0, _HERE)
import awconn  # noqa: E402
import awtest  # noqa: E402
import capture_lib  # noqa: E402

SAMPLE = "health-clinic"
DOWN_S = 2.0  # the device is gone this long
MAX_DELTA = 1.0


def main():
    c = awtest.Checks("capture: a device that disappears is reopened as a new capture session")
    pulse = capture_lib.Pulse()
    sample = {s.name: s for s in awtest.load_samples()}[SAMPLE]
    raw = capture_lib.raw_of(sample.wav, SAMPLE)
    pulse.start()

    jsonl = os.path.join(awtest.tmpdir(), "reopen.jsonl")
    with awtest.Speechd() as sd:
        conf = {
            "speech": {"endpoint": sd.url()},
            "output": {"jsonl": jsonl},
            "streams": [{"id": "mic", "url": "portaudio:default"}],
        }
        job = awconn.start_airwave(conf, name="capture", env=awconn.airwave_env(pulse.client_env()))
        ok = capture_lib.wait_log(job, "capture session started")
        c.check(ok, "the first capture session started", job.stderr_text()[-2000:])
        if not ok:
            c.finish()
        time.sleep(1.0)

        t_kill = time.monotonic()
        pulse.kill()
        lost = capture_lib.wait_log(job, "reopening in", timeout=15)
        c.check(lost, f"the lost device is noticed and a reopen scheduled "
                f"({time.monotonic() - t_kill:.1f} s after the kill)", job.stderr_text()[-2000:])
        time.sleep(DOWN_S)
        pulse.start()
        ok = capture_lib.wait_log(job, "capture session started", count=2, timeout=30)
        c.check(ok, f"a second capture session started once the device was back "
                f"({time.monotonic() - t_kill:.1f} s after the kill)", job.stderr_text()[-2000:])
        if ok:
            pulse.play(raw)
            time.sleep(1.5)
        job.signal()
        r = job.wait(60 * awtest.timeout_mult())
        tr = awconn.run_cli(["transcribe", "--quiet", "--endpoint", sd.url(), sample.wav], timeout=60)
    pulse.stop()

    awtest.log(f"  airwave run: rc={r.rc}, {r.wall:.1f} s wall")
    c.equal(r.rc, 0, "airwave run exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash in airwave's stderr", "\n".join(r.sanitizer[:10]))
    reopen = [ln for ln in r.stderr.splitlines() if "reopening in" in ln]
    c.check(reopen and "device 'default' lost" in reopen[0],
            f"logged: {len(reopen)} reopen attempt(s), the first after \"device 'default' lost\"",
            "\n".join(reopen[:3]))

    recs = awconn.read_jsonl(jsonl)
    evs = [e for e in awconn.events(recs, "mic") if e.get("type") in ("start", "end", "discontinuity")]
    kinds = [e["type"] for e in evs]
    awtest.log("  events: " + ", ".join(f"{e['type']} ({e.get('reason', '')})" for e in evs))
    c.check(kinds[:4] == ["start", "end", "start", "discontinuity"],
            f"stream events start, end, start, discontinuity (got {kinds})")
    if kinds[:4] == ["start", "end", "start", "discontinuity"]:
        s1, end, s2, disc = evs[:4]
        c.check(s1["capture_session"] != s2["capture_session"] and end["capture_session"] == s1["capture_session"]
                and disc["capture_session"] == s2["capture_session"],
                "the reopen is a new capture session; the end closes the first")
        c.check("lost" in end.get("reason", ""), f"the end says why: {end.get('reason')!r}")
        c.check(disc.get("reason") == "source reconnected" and disc.get("lost_seconds", 0) >= DOWN_S,
                f"the discontinuity counts the seconds lost: {disc.get('lost_seconds')} s (down >= {DOWN_S} s)")
        trs = awconn.transcripts(recs, "mic")
        c.check(trs and all(t["capture_session"] == s2["capture_session"] for t in trs),
                f"{len(trs)} phrases, all in the new capture session")
        e_f, n, w_f = awtest.wer_figures(sample.reference, tr.stdout)
        e_c, _, w_c = awtest.wer_figures(sample.reference, awconn.text_of(trs))
        awtest.print_table(["input", "words", "errors", "WER"],
                           [["file (airwave transcribe)", n, e_f, f"{w_f:.1f} %"],
                            ["reopened device", n, e_c, f"{w_c:.1f} %"]],
                           title=f"{SAMPLE}, played after the reopen:")
        c.check(tr.rc == 0 and w_c <= w_f + MAX_DELTA,
                f"the sample played after the reopen: WER {w_c:.1f} % within {MAX_DELTA:.0f} point of the "
                f"file's {w_f:.1f} %", f"file: {tr.stdout.strip()}\n        captured: {awconn.text_of(trs)}")
    c.finish()


if __name__ == "__main__":
    main()
