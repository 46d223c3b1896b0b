#!/usr/bin/env python3
"""Must-show 1 (short samples): the official Azure Speech SDK, pointed at
airwave-speechd with fromEndpoint(ws://127.0.0.1:PORT/...), transcribes every
sample by continuous recognition, in simple and in detailed format, with a
word error rate at most 2 points above PocketSphinx's own decoding of the
same WAV (pocketsphinx_continuous, same model).

A key is configured. The simple runs use the SDK's default Node transport
(`ws`: key and connection id in handshake headers and query); the detailed
runs use Node's global WebSocket (`node --experimental-websocket`: no custom
headers, key and connection id only in the query string).

Also: phrase offsets strictly increase, and each sample gives one phrase per
reference sentence (NAME.phrases.tsv) within 0.5 s of its boundaries.
Prints a per-sample table a reviewer can quote.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awtest  # noqa: E402

MAX_DELTA = 2.0  # WER points above PocketSphinx's own
KEY = "conformance-key-1"
PARALLEL = 2  # samples in flight (each runs simple and detailed at once)


def main():
    c = awtest.Checks("speechd: SDK transcription of the short samples vs PocketSphinx")
    awtest.require_node_modules()
    samples = awtest.load_samples()
    c.check(len(samples) >= 8, f"{len(samples)} short samples in samples/ (need >= 8): "
            + ", ".join(s.name for s in samples))
    if not samples:
        c.finish()

    wavs = {s.name: s.pcm_wav() for s in samples}
    # PocketSphinx baselines run in the background (one at a time) while the
    # SDK runs go.
    base_jobs = {}

    def baselines():
        for s in samples:
            base_jobs[s.name] = awtest.ps_baseline(wavs[s.name])

    import threading
    bt = threading.Thread(target=baselines, daemon=True)
    bt.start()

    runs = {}
    with awtest.Speechd(key=KEY) as sd:
        url = sd.url()
        pending = list(samples)
        active = []
        while pending or active:
            while pending and len(active) < PARALLEL:
                s = pending.pop(0)
                w = wavs[s.name]
                active.append((s, awtest.start_transcribe(url, w, "simple", key=KEY, label=f"{s.name}-simple"),
                               awtest.start_transcribe(url, w, "detailed", key=KEY, global_websocket=True,
                                                       label=f"{s.name}-detailed")))
            s, js, jd = active.pop(0)
            runs[s.name] = (js.result(), jd.result())
        alive = sd.alive()
        code = sd.stop()
    c.check(alive, "airwave-speechd still running after all sessions")
    c.equal(code, 0, "airwave-speechd exit status on SIGTERM")

    bt.join()
    rows = []
    tot = {"words": 0, "ps": 0, "simple": 0, "detailed": 0}
    for s in samples:
        rs, rd = runs[s.name]
        base = base_jobs.get(s.name)
        if base is None:
            awtest.fail(f"no PocketSphinx baseline for {s.name}")
        e_ps, n, w_ps = awtest.wer_figures(s.reference, base)
        e_s, _, w_s = awtest.wer_figures(s.reference, rs.text)
        e_d, _, w_d = awtest.wer_figures(s.reference, rd.text)
        tot["words"] += n
        tot["ps"] += e_ps
        tot["simple"] += e_s
        tot["detailed"] += e_d
        bounds = []
        for r in (rs, rd):
            m = awtest.match_phrases(awtest.phrases_from_result(r), s.phrases, 0.5)
            bounds.append((sum(1 for x in m if x["match"]), len(m)))
        rows.append([s.name, s.voice or "?", n, f"{awtest.wav_seconds(wavs[s.name]):.1f}",
                     f"{w_ps:.1f} %", f"{w_s:.1f} %", f"{w_d:.1f} %", f"{w_s - w_ps:+.1f} / {w_d - w_ps:+.1f}",
                     f"{bounds[0][0]}/{bounds[0][1]}, {bounds[1][0]}/{bounds[1][1]} of {len(s.phrases)}"])
        c.check(all(ok == tot == len(s.phrases) for ok, tot in bounds),
                f"{s.name}: one phrase per reference sentence, each within 0.5 s of its boundaries "
                f"(simple {bounds[0][0]}/{bounds[0][1]}, detailed {bounds[1][0]}/{bounds[1][1]}, "
                f"{len(s.phrases)} sentences)")
        for fmt, r, w in (("simple", rs, w_s), ("detailed", rd, w_d)):
            path = "ws headers" if fmt == "simple" else "global WebSocket, query only"
            c.check(r.ok, f"{s.name} {fmt} ({path}): session ran to sessionStopped without error",
                    r.describe())
            c.check(w <= w_ps + MAX_DELTA,
                    f"{s.name} {fmt}: SDK WER {w:.1f} % <= PocketSphinx {w_ps:.1f} % + {MAX_DELTA:.0f}",
                    f"reference: {s.reference}\n        pocketsphinx: {base.strip()}\n        sdk: {r.text}")
            offs = [e["offset"] for e in r.recognized]
            c.check(all(b > a for a, b in zip(offs, offs[1:])),
                    f"{s.name} {fmt}: phrase offsets strictly increase ({len(offs)} phrases)", str(offs))
        c.check(all(e.get("lexical") is not None for e in rd.recognized),
                f"{s.name} detailed: every phrase has NBest[0].Lexical")
        c.check(rs.summary.get("global_websocket") is False and rd.summary.get("global_websocket") is True,
                f"{s.name}: simple ran on the ws header path, detailed on the global WebSocket path")

    n = tot["words"]
    pct = lambda e: 100.0 * e / n if n else 0.0  # noqa: E731
    rows.append(["ALL", "", n, "", f"{pct(tot['ps']):.1f} %", f"{pct(tot['simple']):.1f} %",
                 f"{pct(tot['detailed']):.1f} %",
                 f"{pct(tot['simple']) - pct(tot['ps']):+.1f} / {pct(tot['detailed']) - pct(tot['ps']):+.1f}", ""])
    awtest.log()
    awtest.print_table(["sample", "voice", "words", "audio s", "PocketSphinx WER", "SDK simple WER",
                        "SDK detailed WER", "delta simple / detailed", "phrases within 0.5 s (s, d)"], rows,
                       title="Word error rates (SDK via airwave-speechd vs pocketsphinx_continuous on the same WAV):")
    awtest.log()
    c.finish()


if __name__ == "__main__":
    main()
