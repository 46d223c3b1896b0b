#!/usr/bin/env python3
"""PortAudio capture must-show: a sample played into a sound card is
transcribed as well as the same sample read from its file (word error rate
within 1 point).

No sound card: a private PulseAudio daemon with a 16 kHz mono null sink
(TESTBED.md §4.2) is the card. `airwave run` captures `portaudio:default`
(ALSA's default device, routed to PulseAudio, reading the sink's monitor)
while paplay plays two samples (two voices, 1 s apart) into the sink in
real time; then SIGTERM, and the graceful stop publishes the last phrases.
The same audio as a file goes through `airwave transcribe`. Both through one
airwave-speechd (PocketSphinx). Checked:

- airwave exits 0 after SIGTERM, with no sanitizer report;
- the device was opened 16 kHz mono int16 (no resampling), one capture
  session, announced by one start event, and no audio lost (no
  discontinuity event);
- one phrase per reference sentence, and each phrase's wall-clock start
  within 0.25 s of when its sentence was played (SESSION dates the first
  sample by the callback's first buffer);
- captured WER <= file WER + 1 point (the must-show), and both printed.
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

SAMPLES = ("rain-warning", "water-repair")  # kal16 and rms
MAX_DELTA = 1.0  # WER points
# seconds: measured within 0.025 s here; the rest is room for paplay's start
# and a loaded machine
WALL_TOL = 0.25


def main():
    c = awtest.Checks("capture: a sample played into a sound card (PulseAudio null sink) is transcribed "
                      "as well as its file (must-show)")
    pulse = capture_lib.Pulse()
    by_name = {s.name: s for s in awtest.load_samples()}
    picked = [by_name[n] for n in SAMPLES]
    wav, ref, ref_phrases = awconn.concat_wavs(picked, "played", gap_s=1.0)
    raw = capture_lib.raw_of(wav, "played")
    secs = awtest.wav_seconds(wav)
    pulse.start()

    jsonl = os.path.join(awtest.tmpdir(), "captured.jsonl")
    with awtest.Speechd() as sd:
        # The file, as `airwave transcribe` reads it.
        t0 = time.monotonic()
        tr = awconn.run_cli(["transcribe", "--quiet", "--endpoint", sd.url(), wav], timeout=60)
        c.equal(tr.rc, 0, f"airwave transcribe {os.path.basename(wav)} ({secs:.1f} s) exit status")
        file_text = tr.stdout
        awtest.log(f"  transcribe: {time.monotonic() - t0:.1f} s")

        # The same audio, played into the sound card while airwave listens.
        conf = {
            "speech": {"endpoint": sd.url()},
            "output": {"jsonl": jsonl},
            "streams": [{"id": "mic", "url": "portaudio:default"}],
        }
        job = awconn.start_airwave(conf, name="capture", env=awconn.airwave_env(pulse.client_env()))
        started = capture_lib.wait_log(job, "capture session started")
        c.check(started, "airwave run: the capture session started (first audio from the device)",
                job.stderr_text()[-2000:])
        if not started:
            c.finish()
        t_play = time.time()
        pulse.play(raw)
        awtest.log(f"  paplay: {secs:.1f} s of audio in {time.time() - t_play:.1f} s")
        time.sleep(1.5)
        job.signal()
        r = job.wait(60 * awtest.timeout_mult())
        sd_alive = sd.alive()
    pulse.stop()

    awtest.log(f"  airwave run: rc={r.rc}, {r.wall:.1f} s wall, {r.cpu or 0:.2f} s CPU")
    c.equal(r.rc, 0, "airwave run exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash in airwave's stderr", "\n".join(r.sanitizer[:10]))
    c.check(sd_alive, "airwave-speechd still running")
    c.check("16 kHz mono int16" in r.stderr and "opened [" in r.stderr,
            "the device was opened as 16 kHz mono int16 (no resampling)")

    recs = awconn.read_jsonl(jsonl)
    starts = awconn.events(recs, "mic", "start")
    disc = awconn.events(recs, "mic", "discontinuity")
    trs = awconn.transcripts(recs, "mic")
    c.check(len(starts) == 1 and starts[0].get("reason") == "portaudio:default",
            f"one capture session, announced by one start event ({len(starts)}: "
            f"{[s.get('reason') for s in starts]})")
    c.check(not disc, f"no audio lost: no discontinuity event ({[d.get('reason') for d in disc]})")
    sess = {t["capture_session"] for t in trs}
    c.check(starts and sess <= {starts[0]["capture_session"]}, "every phrase in that capture session")

    # Each phrase starts (wall clock) when its sentence was played.
    got = [(awconn.parse_time(t["start"]) - t_play, t["text"]) for t in trs]
    c.equal(len(got), len(ref_phrases), "one phrase per reference sentence")
    signed = [g[0] - p[0] for g, p in zip(got, ref_phrases)]
    errs = [abs(x) for x in signed]
    awtest.log("  phrase start - played start: " + ", ".join(f"{x:+.3f} s" for x in signed))
    c.check(errs and max(errs) <= WALL_TOL,
            f"each phrase's wall-clock start within {WALL_TOL} s of when its sentence was played "
            f"(worst {max(errs, default=float('nan')):.3f} s)",
            "; ".join(f"{g[0]:.2f} s vs {p[0]:.2f} s: {g[1]}" for g, p in zip(got, ref_phrases)))

    cap_text = awconn.text_of(trs)
    e_f, n, w_f = awtest.wer_figures(ref, file_text)
    e_c, _, w_c = awtest.wer_figures(ref, cap_text)
    awtest.log()
    awtest.print_table(["input", "words", "errors", "WER"],
                       [["file (airwave transcribe)", n, e_f, f"{w_f:.1f} %"],
                        ["sound card (airwave run, portaudio:default)", n, e_c, f"{w_c:.1f} %"],
                        ["delta", "", e_c - e_f, f"{w_c - w_f:+.1f}"]],
                       title=f"{' + '.join(SAMPLES)} ({secs:.1f} s), airwave-speechd (PocketSphinx):")
    awtest.log()
    c.check(w_c <= w_f + MAX_DELTA,
            f"captured WER {w_c:.1f} % within {MAX_DELTA:.0f} point of the file's {w_f:.1f} %",
            f"reference: {ref}\n        file: {file_text.strip()}\n        captured: {cap_text}")
    c.finish()


if __name__ == "__main__":
    main()
