#!/usr/bin/env python3
"""ctest fixture setup for integration.speechd.long and .rotation: runs every
transcription of samples/long-news.mp3 at once, so the suite spends the
long recording's ~2.5 minutes once, and saves what happened to
BUILD/test-results/speechd-long.json for the two checking tests.

- PocketSphinx's own decoding of the WAV (tests/tools/ps_baseline.sh, niced)
- speechd "unrestricted" (--max-connection-seconds 0, a key):
  - SDK simple, default SDK pacing (5 s at once, then 2x real time), ws headers
  - SDK detailed with word timings, unthrottled, global WebSocket (query only)
- speechd "capped" (--max-connection-seconds 5, a key):
  - SDK simple, default SDK pacing, ws headers
  - then a raw-protocol turn whose audio ends 3.5 s into a 5-s connection

This test passes when everything ran and the results were saved; the checks
are in speechd_long.py (must-show 1) and speechd_rotation.py (must-show 2).
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awtest  # noqa: E402

KEY = "conformance-key-2"
MAX_CONN_S = 5
RESULTS = "speechd-long"


def speechd_info(sd, alive, code):
    logs = os.path.join(os.path.dirname(awtest.results_path(RESULTS)), f"{RESULTS}-{sd.name}.log")
    shutil.copyfile(sd.log_path, logs)
    return {"argv": sd.argv, "opens": sd.sessions_opened(), "alive": alive, "exit": code, "log": logs}


def main():
    t0 = time.monotonic()
    awtest.require_node_modules()
    s = awtest.long_sample()
    wav = awtest.decode_wav(s.media)
    secs = awtest.wav_seconds(wav)
    awtest.log(f"long-news: {secs:.1f} s, {len(s.phrases)} reference phrases, {s.words} words")

    base_job = awtest.start_ps_baseline(wav)
    free = awtest.Speechd(name="unrestricted", key=KEY, extra=["--max-connection-seconds", "0"]).start()
    capped = awtest.Speechd(name="capped", key=KEY, extra=["--max-connection-seconds", str(MAX_CONN_S)]).start()
    jobs = {
        "capped": awtest.start_transcribe(capped.url(), wav, "simple", key=KEY, unthrottled=False, timeout=420,
                                          label="capped"),
        "simple": awtest.start_transcribe(free.url(), wav, "simple", key=KEY, unthrottled=False, timeout=420,
                                          label="simple"),
        "detailed": awtest.start_transcribe(free.url(), wav, "detailed", key=KEY, unthrottled=True,
                                            global_websocket=True, word_timings=True, timeout=420,
                                            label="detailed"),
    }
    runs = {}
    for name, job in jobs.items():
        runs[name] = job.result()
        r = runs[name]
        awtest.log(f"  {name}: exit {r.rc}, {len(r.recognized)} phrases, {r.summary.get('connects')} connection(s), "
                   f"{r.wall:.0f} s")

    # A turn whose audio ends 3.5 s into a 5-s connection, with seconds of
    # decoding still to do when the limit strikes.
    clip = awtest.wav_clip(wav, 0, 20)
    tail = awtest.raw(capped.base, [{"case": "turn", "label": "end of audio just before the cap", "delay": 3500,
                                     "turnTimeout": 60}], key=KEY, wav=clip, timeout=5)[0]
    awtest.log(f"  tail turn: turn.end {'received' if tail.get('turn_end') else 'missing'}, "
               f"{len(tail.get('phrases') or [])} phrases, close {tail.get('close')}")

    opened = {"unrestricted": free.sessions_opened(), "capped": capped.sessions_opened()}
    alive = {"unrestricted": free.alive(), "capped": capped.alive()}
    codes = {"unrestricted": free.stop(), "capped": capped.stop()}
    baseline = base_job.result()
    out = {
        "created": time.time(), "wav_seconds": secs, "max_connection_seconds": MAX_CONN_S,
        "baseline": baseline,
        "runs": {k: v.to_dict() for k, v in runs.items()},
        "speechd": {sd.name: speechd_info(sd, alive[sd.name], codes[sd.name]) for sd in (free, capped)},
        "tail": tail,
        "opens": opened,
    }
    path = awtest.save_results(RESULTS, out)
    awtest.log(f"results: {path} ({time.monotonic() - t0:.0f} s)")
    awtest.log("1 passed, 0 failed")


if __name__ == "__main__":
    main()
