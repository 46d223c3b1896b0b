#!/usr/bin/env python3
"""PortAudio capture through the ALSA file plugin (TESTBED.md §4.1): device
listing and naming, and a live device that delivers faster than anyone
reads.

- `airwave devices` lists the plugin's 'filecap' and 'default' inputs (index,
  name, host API, channels, rate, 16 kHz mono s16 supported, '*' on the
  default), exit 0; with no device at all it says "no capture devices",
  exit 0; an argument is a usage error (64).
- A stream naming no device (portaudio:nosuch) fails at once, listing the
  inputs (exit 66); a name part matching two devices (portaudio:a) fails at
  once, naming both (exit 78).
- portaudio:FILE (a case-blind part of 'filecap') opens filecap as 16 kHz
  mono int16. The file plugin has no clock: it fills the ring far faster
  than real time. The capture never waits: what does not fit is dropped,
  counted (a warning) and announced (discontinuity events with the seconds
  lost), and SIGTERM still stops it cleanly (exit 0).

The file plugin cannot pace audio, so transcripts of captured speech are
checked with PulseAudio instead (capture_wer.py, capture_reopen.py).
"""

import os
import re
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "tools"))
sys.path.insert(0, _HERE)
import awconn  # noqa: E402
import awtest  # noqa: E402
import capture_lib  # noqa: E402

ROW = re.compile(r"^([* ]) (\d+)\s+(\S(?:.*\S)?)\s+(ALSA|OSS|JACK Audio Connection Kit)\s+(\d+)\s+(\d+) Hz\s+(yes|no)$")


def main():
    c = awtest.Checks("capture: ALSA file plugin: airwave devices, device names, an unpaced device")
    sample = {s.name: s for s in awtest.load_samples()}["rain-warning"]
    raw = capture_lib.raw_of(sample.wav, "infile", pad_s=5.0)
    alsa = capture_lib.alsa_file_env(raw)

    # --- airwave devices ----------------------------------------------------
    r = awconn.run_cli(["devices"], env=awconn.airwave_env(alsa), timeout=30)
    c.equal(r.rc, 0, "airwave devices (file plugin) exit status")
    lines = r.stdout.splitlines()
    awtest.log("  " + "\n  ".join(lines))
    rows = [ROW.match(ln) for ln in lines[1:]]
    c.check(lines and lines[0].split()[:2] == ["index", "name"] and len(lines) == 3 and all(rows),
            "a header and one line per input device", r.stdout)
    devs = {m.group(3): m for m in rows if m}
    fc, df = devs.get("filecap"), devs.get("default")
    c.check(fc and fc.group(2) == "0" and fc.group(1) == " " and fc.group(4) == "ALSA" and fc.group(7) == "yes",
            "[0] 'filecap', ALSA, 16 kHz mono s16 supported")
    c.check(df and df.group(2) == "1" and df.group(1) == "*" and df.group(7) == "yes" and int(df.group(5)) >= 1
            and int(df.group(6)) > 0,
            "[1] 'default' marked as the default input, with channels and a default rate")

    r = awconn.run_cli(["devices"], env=awconn.airwave_env(capture_lib.no_device_env()), timeout=30)
    c.equal(r.rc, 0, "airwave devices with no device: exit status")
    if os.path.exists("/dev/snd"):
        awtest.log("  (this machine has /dev/snd: its cards are listed, so 'no capture devices' is not checked)")
    else:
        c.equal(r.stdout.strip(), "no capture devices", "airwave devices with no device: output")
    r = awconn.run_cli(["devices", "extra"], env=awconn.airwave_env(alsa), timeout=30)
    c.equal(r.rc, 64, "airwave devices with an argument: usage error")

    # --- device names that do not resolve -----------------------------------
    with awtest.Speechd(engine="null") as sd:
        def run_url(url, name, **kw):
            conf = {"speech": {"endpoint": sd.url()},
                    "output": {"jsonl": os.path.join(awtest.tmpdir(), f"{name}.jsonl")},
                    "streams": [{"id": "card", "url": url}]}
            return awconn.start_airwave(conf, name=name, env=awconn.airwave_env(alsa), **kw)

        for url, rc, want in (("portaudio:nosuch", 66, "no input device matches 'nosuch'; input devices: "
                                                       "[0] 'filecap', [1] 'default'"),
                              ("portaudio:a", 78, "'a' matches 2 input devices (use the index or the exact name): "
                                                  "[0] 'filecap', [1] 'default'")):
            t0 = time.monotonic()
            res = run_url(url, re.sub(r"\W", "_", url)).wait(30 * awtest.timeout_mult())
            last = [ln for ln in res.stderr.splitlines() if ln.startswith("airwave: ")]
            c.check(res.rc == rc and last and want in last[-1],
                    f"{url}: fails at once ({time.monotonic() - t0:.1f} s) with exit {rc} and one line naming "
                    f"the candidates: {last[-1] if last else '(none)'!r}", res.describe())

        # --- a device faster than real time ---------------------------------
        job = run_url("portaudio:FILE", "flood")
        started = capture_lib.wait_log(job, "capture session started")
        c.check(started, "portaudio:FILE: the capture session started", job.stderr_text()[-2000:])
        time.sleep(3)
        job.signal()
        res = job.wait(60 * awtest.timeout_mult())
    c.equal(res.rc, 0, "portaudio:FILE: exit status after SIGTERM")
    c.check(not res.sanitizer, "no sanitizer report or crash", "\n".join(res.sanitizer[:10]))
    c.check("opened [0] 'filecap' (ALSA): 16 kHz mono int16" in res.stderr,
            "portaudio:FILE opened [0] 'filecap' as 16 kHz mono int16 (a case-blind part of its name)")
    m = re.search(r"audio lost: ([\d.]+) s dropped so far", res.stderr)
    c.check(m and float(m.group(1)) > 0, f"the drops are counted and logged ({m.group(0) if m else 'no warning'})")
    recs = awconn.read_jsonl(os.path.join(awtest.tmpdir(), "flood.jsonl"))
    starts = awconn.events(recs, "card", "start")
    gaps = [e for e in awconn.events(recs, "card", "discontinuity")
            if e.get("reason") == "audio dropped before the ring"]
    lost = sum(e.get("lost_seconds", 0) for e in gaps)
    c.check(len(starts) == 1 and starts[0].get("reason") == "portaudio:filecap",
            f"one capture session, portaudio:filecap ({[s.get('reason') for s in starts]})")
    c.check(gaps and lost > 0,
            f"the drops are announced: {len(gaps)} discontinuity events, {lost:.1f} s lost "
            "(the plugin runs far faster than real time)")
    c.finish()


if __name__ == "__main__":
    main()
