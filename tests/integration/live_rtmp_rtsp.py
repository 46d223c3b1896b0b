#!/usr/bin/env python3
"""Live sources: RTMP and RTSP, on loopback with ffmpeg alone.

No RTMP or RTSP server is needed: airwave's ingest listens itself, through
libavformat's own listen modes, passed through as ffmpeg.* options:

  rtmp   url rtmp://127.0.0.1:P1/live/news, ffmpeg: {listen: 1}
  rtsp   url rtsp://127.0.0.1:P2/live,      ffmpeg: {rtsp_flags: listen}

and ffmpeg pushes to them (-re, AAC): FLV over RTMP, and RTSP with
interleaved TCP transport. Each stream gets two pushes one after the other
(rain-warning, then aid-convoy): when the first publisher goes away,
airwave must listen again and take the second as a new capture session.
airwave-speechd (PocketSphinx) transcribes.

Checked for each protocol: two capture sessions (START events) with a
`discontinuity` between them; the transcript recalls >= 80 % of the words
of both samples; records valid against docs/schema; airwave exits 0.
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

PUSHES = ("rain-warning", "aid-convoy")


def push(url, fmt_args, mp3, log, deadline_s):
    """ffmpeg -re pushing mp3 to url; retried while airwave is not listening
    yet (connection refused). Returns the exit status of the last try."""
    deadline = time.monotonic() + deadline_s * awtest.timeout_mult()
    rc = None
    while time.monotonic() < deadline:
        with open(log, "ab") as lf:
            p = awtest.popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re", "-i", mp3,
                              "-c:a", "aac", "-b:a", "64k"] + fmt_args + [url],
                             stdout=subprocess.DEVNULL, stderr=lf, stdin=subprocess.DEVNULL)
            rc = p.wait(timeout=120 * awtest.timeout_mult())
        if rc == 0:
            return rc
        time.sleep(0.5)
    return rc


def main():
    c = awtest.Checks("live: RTMP and RTSP pushed to airwave's listening ingest")
    awtest.require_tools("ffmpeg")
    tdir = awtest.tmpdir()
    by_name = {x.name: x for x in awtest.load_samples()}
    ref_text = "\n".join(by_name[n].reference for n in PUSHES)
    sd = awtest.Speechd(name="speechd").start()
    p1, p2 = awlive.free_port(), awlive.free_port()
    urls = {"rtmp": f"rtmp://127.0.0.1:{p1}/live/news", "rtsp": f"rtsp://127.0.0.1:{p2}/live"}
    streams = [{"id": "rtmp", "url": urls["rtmp"], "ffmpeg": {"listen": 1}},
               {"id": "rtsp", "url": urls["rtsp"], "ffmpeg": {"rtsp_flags": "listen"}}]
    jsonl = os.path.join(tdir, "out.jsonl")
    a = awconn.start_airwave(awlive.airwave_conf(sd.url(), jsonl, streams), name="airwave")
    time.sleep(1.0)
    fmt = {"rtmp": ["-f", "flv"], "rtsp": ["-f", "rtsp", "-rtsp_transport", "tcp"]}
    import threading
    rcs = {}

    def publisher(proto):
        rcs[proto] = [push(urls[proto], fmt[proto], by_name[n].mp3, os.path.join(tdir, f"push-{proto}.log"), 30)
                      for n in PUSHES]
    ths = [threading.Thread(target=publisher, args=(p,)) for p in urls]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    time.sleep(4)  # the last phrases
    a.signal(signal.SIGTERM)
    r = a.wait(60 * awtest.timeout_mult())
    sd.stop()
    c.equal(r.rc, 0, "airwave exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash", "\n".join(r.sanitizer[:10]))
    recs = awconn.read_jsonl(jsonl)
    bad = [p for ln, _ in recs for p in awconn.validate_raw(ln)]
    c.check(not bad, f"all {len(recs)} records valid against docs/schema", "; ".join(bad[:5]))
    rows = []
    for proto in urls:
        c.equal(rcs.get(proto), [0, 0], f"{proto}: both ffmpeg pushes succeeded")
        ev = awconn.events(recs, proto)
        starts = [e for e in ev if e["type"] == "start"]
        discs = [e for e in ev if e["type"] == "discontinuity"]
        hyp = awlive.text_in(awconn.transcripts(recs, proto))
        rec = awlive.recall_pct(ref_text, hyp)
        rows.append([proto, len(starts), len(discs), f"{rec:.1f} %", hyp[:60]])
        c.equal(len(starts), 2, f"{proto}: capture sessions (one per publisher)")
        c.check(len(discs) >= 1, f"{proto}: {len(discs)} discontinuity event(s) between the publishers")
        c.check(rec >= 80, f"{proto}: recall {rec:.1f} % of both samples' words (>= 80 %)")
    awtest.print_table(["protocol", "sessions", "discontinuities", "recall", "transcript"], rows)
    c.finish()


if __name__ == "__main__":
    main()
