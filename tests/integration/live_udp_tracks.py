#!/usr/bin/env python3
"""Live sources: UDP MPEG-TS with two audio tracks, the one to transcribe
chosen by language (TV) or by index.

ffmpeg sends one MPEG-TS programme in real time (-re) with two MP2 audio
tracks, tagged eng (rain-warning + aid-convoy, flite kal16) and fra
(river-flood + road-closed, flite rms: other sentences, so the transcript
says which track was heard), through the tee muxer to two UDP ports on
127.0.0.1. airwave runs two streams against airwave-speechd (PocketSphinx):

  by-language   udp://127.0.0.1:P1, audio_language: eng
  by-index      udp://127.0.0.1:P2, audio_track: 1 (the second track)

Checked: each stream's transcript recalls >= 80 % of its track's reference
words and at most 20 % of the other track's (the tracks differ in every
sentence); the log names the codec and the source as live; records valid
against docs/schema; airwave exits 0 on SIGTERM.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awtest  # noqa: E402

ENG = ("rain-warning", "aid-convoy")
FRA = ("river-flood", "road-closed")
LEAD_S = 2.0  # silence before the speech: the receiver locks on PAT/PMT first


def main():
    c = awtest.Checks("live: UDP MPEG-TS, audio track by language and by index")
    awtest.require_tools("ffmpeg", "sox")
    tdir = awtest.tmpdir()
    by_name = {x.name: x for x in awtest.load_samples()}
    tracks = {}
    for tag, names in (("eng", ENG), ("fra", FRA)):
        wav, text, _ = awconn.concat_wavs([by_name[n] for n in names], f"track-{tag}", gap_s=0.8)
        padded = os.path.join(tdir, f"track-{tag}.padded.wav")
        subprocess.run(["sox", wav, padded, "pad", str(LEAD_S), "1"], check=True)
        tracks[tag] = (padded, text, awtest.wav_seconds(padded))
    dur = max(t[2] for t in tracks.values())

    sd = awtest.Speechd(name="speechd").start()
    p1, p2 = awlive.free_port(), awlive.free_port()
    jsonl = os.path.join(tdir, "out.jsonl")
    streams = [{"id": "by-language", "url": f"udp://127.0.0.1:{p1}", "audio_language": "eng"},
               {"id": "by-index", "url": f"udp://127.0.0.1:{p2}", "audio_track": 1}]
    a = awconn.start_airwave(awlive.airwave_conf(sd.url(), jsonl, streams, ingest={"stall_seconds": 4}),
                             name="airwave")
    # airwave binds its UDP ports when it opens them: let it get there.
    awlive.wait_until(lambda: a.stderr_text().count("udp://") >= 2 or not a.running(), 5)
    time.sleep(1.0)
    sender_log = os.path.join(tdir, "sender.log")
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
            "-i", tracks["eng"][0], "-i", tracks["fra"][0], "-map", "0:a", "-map", "1:a",
            "-c:a", "mp2", "-b:a", "128k", "-ar", "48000",
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
            "-f", "tee",
            f"[f=mpegts]udp://127.0.0.1:{p1}?pkt_size=1316|[f=mpegts]udp://127.0.0.1:{p2}?pkt_size=1316"]
    with open(sender_log, "wb") as lf:
        snd = awtest.popen(argv, stdout=subprocess.DEVNULL, stderr=lf, stdin=subprocess.DEVNULL)
        snd.wait(timeout=(dur + 30) * awtest.timeout_mult())
    awtest.log(f"  sender ffmpeg ended ({snd.returncode}) after {dur:.1f} s of programme")
    # The last sentence, then a graceful stop.
    time.sleep(4)
    a.signal(signal.SIGTERM)
    r = a.wait(60 * awtest.timeout_mult())
    sd.stop()
    c.equal(snd.returncode, 0, "the ffmpeg sender exit status")
    c.equal(r.rc, 0, "airwave exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash", "\n".join(r.sanitizer[:10]))

    recs = awconn.read_jsonl(jsonl)
    bad = [p for ln, _ in recs for p in awconn.validate_raw(ln)]
    c.check(not bad, f"all {len(recs)} records valid against docs/schema", "; ".join(bad[:5]))
    opened = [ln.split("msg=", 1)[-1] for ln in r.stderr.splitlines() if "msg=\"opened udp://" in ln]
    for ln in opened:
        awtest.log("  " + ln)
    c.check(len(opened) >= 2 and all("mpegts" in ln and "live" in ln for ln in opened),
            "both UDP sources opened as live MPEG-TS")
    rows = []
    for sid, want, other in (("by-language", "eng", "fra"), ("by-index", "fra", "eng")):
        hyp = awlive.text_in(awconn.transcripts(recs, sid))
        r_want = awlive.recall_pct(tracks[want][1], hyp)
        r_other = awlive.recall_pct(tracks[other][1], hyp)
        rows.append([sid, want, f"{r_want:.1f} %", f"{r_other:.1f} %", hyp[:70]])
        c.check(r_want >= 80, f"{sid}: recalls {r_want:.1f} % of the {want} track's words (>= 80 %)")
        c.check(r_other <= 20, f"{sid}: and {r_other:.1f} % of the {other} track's (<= 20 %)")
    awtest.print_table(["stream", "track", "recall of it", "recall of the other", "transcript"], rows)
    c.finish()


if __name__ == "__main__":
    main()
