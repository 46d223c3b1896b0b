#!/usr/bin/env python3
"""Must-show 1 (long recording): the official Azure Speech SDK transcribes
samples/long-news.mp3 (decoded to 16 kHz mono WAV with ffmpeg, the same WAV
PocketSphinx decodes directly) through airwave-speechd by continuous
recognition, simple and detailed, with

- a word error rate at most 2 points above pocketsphinx_continuous's own;
- Success phrases whose offsets strictly increase;
- every recognized phrase's [offset, offset + duration] within 0.5 s, at both
  ends, of the reference phrase (samples/long-news.phrases.tsv) it overlaps
  most, and every reference phrase matched so. A phrase that straddles two
  or more reference sentences is reported as such, with its distance to the
  merged span; it still fails the check. Phrases that overlap no reference
  speech at all (words PocketSphinx "hears" in the jingle beds, as its own
  decoding does) are listed and counted, outside the boundary check; their
  words count in the WER.

The sessions ran in the fixture speechd_long_runs.py (shared with
speechd_rotation.py): a key configured; simple at the SDK's default pacing
over the `ws` header path, detailed with word timings unthrottled over Node's
global WebSocket (query only).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awtest  # noqa: E402

MAX_DELTA = 2.0
TOL = 0.5


def boundary_report(c, label, result, reference):
    """Check phrase order and boundaries; returns figures for the table.

    Recognized phrases that overlap no reference phrase at all (PocketSphinx
    "recognizes" words in the jingle beds between stories, as its own
    decoding of the same WAV does) are listed and counted separately: they
    cannot match a reference boundary, and their words already count in the
    WER. Every other phrase must match its reference phrase within TOL at
    both ends, and every reference phrase must be matched.
    """
    phrases = awtest.phrases_from_result(result)
    offs = [p[0] for p in phrases]
    bad_order = [(i, a, b) for i, (a, b) in enumerate(zip(offs, offs[1:])) if not b > a]
    c.check(not bad_order, f"{label}: Success phrase offsets strictly increase ({len(offs)} phrases)",
            f"not increasing at {bad_order[:5]}")
    m = awtest.match_phrases(phrases, reference, TOL)
    outside = [x for x in m if x["outside"]]
    speech = [x for x in m if not x["outside"]]
    ok = [x for x in speech if x["match"]]
    merged = [x for x in speech if x["merged"]]
    worst_s = max((abs(x["d_start"]) for x in speech), default=0)
    worst_e = max((abs(x["d_end"]) for x in speech), default=0)
    covered = sorted({x["ref"] for x in ok})
    awtest.log(f"  {label}: {len(phrases)} Success phrases: {len(speech)} overlap reference speech, of which "
               f"{len(ok)} match their reference phrase within {TOL} s at both ends (worst |d_start| "
               f"{worst_s:.2f} s, |d_end| {worst_e:.2f} s), {len(merged)} straddle two or more sentences; "
               f"{len(outside)} lie outside all reference speech (jingle beds)")
    if outside:
        awtest.log(f"  {label}: phrases outside reference speech: "
                   + "; ".join(f"{x['start']:.2f}-{x['end']:.2f} \"{x['text']}\"" for x in outside))
    misses = [x for x in speech if not x["match"]]
    if misses:
        rows = []
        for x in misses:
            rows.append([x["i"], f"{x['start']:.2f}-{x['end']:.2f}",
                         f"#{x['ref']} {x['ref_start']:.2f}-{x['ref_end']:.2f}",
                         f"{x['d_start']:+.2f}", f"{x['d_end']:+.2f}",
                         (",".join(f"#{j}" for j in x["merged"]) + (" (span within tol)" if x["merged_match"] else ""))
                         if x["merged"] else "",
                         x["text"][:50] + " | ref: " + reference[x["ref"]][2][:40]])
        awtest.print_table(["phrase", "recognized s", "best reference s", "d start", "d end", "straddles",
                            "text"], rows, title=f"  {label}: phrases off by more than {TOL} s")
    c.check(speech and len(ok) == len(speech),
            f"{label}: {len(ok)}/{len(speech)} phrases on reference speech match its boundaries within {TOL} s"
            + (f" ({len(merged)} straddle sentences, {sum(1 for x in merged if x['merged_match'])} of them "
               f"match the merged span)" if merged else ""))
    c.check(len(covered) == len(reference),
            f"{label}: {len(covered)}/{len(reference)} reference phrases matched by a recognized phrase",
            "unmatched: " + ", ".join(f"#{k} {reference[k][0]:.2f}-{reference[k][1]:.2f}"
                                       for k in range(len(reference)) if k not in covered))
    return len(ok), len(speech), len(covered), worst_s, worst_e, len(merged), len(outside)


def main():
    c = awtest.Checks("speechd: SDK transcription of the long recording (must-show 1)")
    s = awtest.long_sample()
    res = awtest.load_results("speechd-long", "integration.speechd.long_runs",
                              newer_than=[os.path.join(awtest.build_dir(), "airwave-speechd"), s.media, s.txt_path])
    awtest.print_file_on_failure(res["speechd"]["unrestricted"]["log"], "speechd log (unrestricted)")
    secs = res["wav_seconds"]
    c.check(secs >= 240, f"{os.path.basename(s.media)} is {secs:.1f} s long (need >= 240 s)")
    c.check(len(s.phrases) > 0, f"{len(s.phrases)} reference phrases in {s.name}.phrases.tsv")
    sd = res["speechd"]["unrestricted"]
    c.check(sd["alive"], "airwave-speechd still running after the sessions")
    c.equal(sd["exit"], 0, "airwave-speechd exit status on SIGTERM")

    e_ps, n, w_ps = awtest.wer_figures(s.reference, res["baseline"])
    rows = []
    for fmt, path in (("simple", "ws headers, SDK pacing"), ("detailed", "global WebSocket, unthrottled")):
        r = awtest.NodeResult.from_dict(res["runs"][fmt])
        c.check(r.ok, f"long {fmt} ({path}): session ran to sessionStopped without error", r.describe())
        e, _, w = awtest.wer_figures(s.reference, r.text)
        c.check(w <= w_ps + MAX_DELTA, f"long {fmt}: SDK WER {w:.1f} % <= PocketSphinx {w_ps:.1f} % + {MAX_DELTA:.0f}")
        ok, tot, cov, ws_, we_, merged, outside = boundary_report(c, f"long {fmt}", r, s.phrases)
        rows.append([fmt, path, n, f"{w_ps:.1f} % ({e_ps})", f"{w:.1f} % ({e})", f"{w - w_ps:+.1f}",
                     f"{ok}/{tot}", f"{cov}/{len(s.phrases)}", f"{ws_:.2f} / {we_:.2f}", merged, outside,
                     f"{r.summary.get('elapsed_s', r.wall):.0f} s"])
        if fmt == "detailed":
            c.check(any(e.get("words") for e in r.recognized), "long detailed with word timings: NBest[0].Words present")
    awtest.log()
    awtest.print_table(["format", "client", "words", "PocketSphinx WER (errors)", "SDK WER (errors)", "delta",
                        f"phrases within {TOL} s", "ref phrases matched", "worst |d| start/end s", "straddling",
                        "outside speech", "wall"], rows,
                       title=f"long-news ({secs:.0f} s of audio, {len(s.phrases)} reference phrases):")
    awtest.log()
    c.finish()


if __name__ == "__main__":
    main()
