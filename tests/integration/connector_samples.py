#!/usr/bin/env python3
"""Connector must-show 1: every sample file through airwave -> airwave-speechd
-> Kafka (aw-kafka-mock) -> consumed back.

One `airwave run` takes all eight short samples twice, as MP3 (the radio
case) and as WAV: 16 streams, unpaced, in one process, against one speechd
(PocketSphinx) and a one-broker mock cluster; output.jsonl keeps a local
copy. Then aw-kafka-mock consume reads both topics back. Checked:

- airwave exits 0 once every stream has ended and Kafka is flushed, and the
  sink's counters say every record was delivered;
- every record read back (transcripts and stream events) is valid against
  docs/schema/, keyed by its stream id; Kafka holds exactly the JSONL copy;
- per stream: one partition, Kafka offsets and offset_ms both increasing,
  ids distinct, phrases not overlapping;
- word error rate per stream at most 2 points above PocketSphinx's own
  decoding of the same audio (tests/tools/ps_baseline.sh; the MP3 decoded
  by FFmpeg as airwave decodes it). The decoded MP3s start with 0.569 s of
  near-silence, and speechd's engine decodes a turn that starts with more
  than 0.5 s of it from 0.5 s before the first audible sample
  (docs/speechd.md §6, a deliberate departure from pocketsphinx_continuous).
  That changes a word now and then (road-closed.mp3: "closed" -> "closer",
  exactly what pocketsphinx_continuous says on the trimmed audio, and what
  the official SDK gets from speechd too). So the check compares with
  PocketSphinx's decoding of the audio as speechd decodes it as well, and
  passes when airwave is within 2 points of either; the table shows both;
- one phrase per reference sentence, start and end within 0.5 s of its
  boundaries (samples/*.phrases.tsv, WAV timeline; +0.069 s for the MP3s,
  samples/README.md "MP3 delay"), and the wall-clock start/end agree with
  offset_ms/duration_ms counted from the capture session's start event.

speech.final_timeout_seconds is raised to 60: 16 unpaced sessions on two
cores keep speechd's queues full, and this test is about accuracy and
records, not about the overload path (a cut turn is replayed; the rotation,
restart and outage tests cover that).
"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awtest  # noqa: E402

MAX_DELTA = 2.0  # WER points above PocketSphinx's own
TOL = 0.5  # seconds, phrase boundaries
WALL_TOL = 0.003  # seconds: start/end are milliseconds, as are offsets


def main():
    c = awtest.Checks("connector: every sample through airwave -> speechd -> Kafka (must-show 1)")
    awtest.require_tools("ffmpeg", "pocketsphinx_continuous")
    samples = awtest.load_samples()
    c.check(len(samples) >= 8, f"{len(samples)} short samples (need >= 8): " + ", ".join(s.name for s in samples))
    streams = {}  # id -> (sample, format, path)
    for s in samples:
        if s.mp3:
            streams[f"{s.name}-mp3"] = (s, "mp3", s.mp3)
        if s.wav:
            streams[f"{s.name}-wav"] = (s, "wav", s.wav)

    # PocketSphinx baselines of the same audio, niced, beside the run.
    base = {}

    view = {}  # id -> seconds speechd's engine skips at the start

    def baselines():
        for sid, (s, fmt, path) in streams.items():
            wav = awtest.decode_wav(path) if fmt == "mp3" else s.wav
            v, cut = awconn.speechd_view(wav)
            base[sid] = (awtest.ps_baseline(wav), awtest.ps_baseline(v) if cut else None)
            view[sid] = cut

    bt = threading.Thread(target=baselines, daemon=True)
    bt.start()

    tdir = awtest.tmpdir()
    jsonl = os.path.join(tdir, "transcripts.jsonl")
    mock = awconn.KafkaMock(brokers=1)
    with awtest.Speechd() as sd:
        conf = {
            "speech": {"endpoint": sd.url(), "pace": 0, "final_timeout_seconds": 60},
            "kafka": {"bootstrap.servers": mock.bootstrap},
            "output": {"jsonl": jsonl},
            "streams": awconn.file_streams({sid: p for sid, (_, _, p) in streams.items()}),
        }
        r = awconn.run_airwave(conf, name="run", timeout=240)
        sd_alive = sd.alive()
    awtest.log(f"  airwave run: {len(streams)} streams, rc={r.rc}, {r.wall:.1f} s wall, {r.cpu:.2f} s CPU, "
               f"peak RSS {r.maxrss_kb / 1024:.0f} MB")
    c.equal(r.rc, 0, "airwave run exit status once every stream ended")
    c.check(not r.sanitizer, "no sanitizer report or crash in airwave's stderr", "\n".join(r.sanitizer[:10]))
    c.check(sd_alive, "airwave-speechd still running after the run")
    counts = awconn.kafka_counts(r.stderr)
    lines = awconn.read_jsonl(jsonl)
    j_tr = awconn.transcripts(lines)
    j_ev = awconn.events(lines)
    for topic, n in (("transcripts", len(j_tr)), ("stream-events", len(j_ev))):
        got = counts.get(topic)
        c.check(got and got["produced"] == got["delivered"] == n and got["failed"] == got["dropped"] == 0,
                f"sink counters for {topic}: {got} (JSONL has {n})")

    bad = [f"{ln[:80]!r}: {p}" for ln, _ in lines for p in awconn.validate_raw(ln)]
    c.check(not bad, f"JSONL copy: all {len(lines)} records valid against docs/schema", "; ".join(bad[:5]))

    msgs = {}
    for topic, schema, n in (("transcripts", awconn.TRANSCRIPT, len(j_tr)),
                             ("stream-events", awconn.EVENT, len(j_ev))):
        rc, m, err = awconn.consume(mock.bootstrap, topic, expect=n, timeout_ms=10000)
        msgs[topic] = m
        c.check(rc == 0 and len(m) == n, f"{topic}: read back {len(m)} of {n} records", err[-500:])
        problems = awconn.validate_messages(m, schema)
        c.check(not problems, f"{topic}: every record read back valid against its schema and keyed by its stream id",
                "; ".join(problems[:5]))
        ids = [x["record"]["id"] for x in m if x["record"]]
        c.check(not awconn.duplicates(ids), f"{topic}: ids distinct", str(awconn.duplicates(ids)[:5]))
        # Kafka holds the JSONL copy: same records, and per stream in the same order.
        kv = {}
        for x in sorted(m, key=lambda x: (x["partition"], x["offset"])):
            kv.setdefault(x["key"], []).append(x["value"].encode("utf-8"))
        jv = {}
        for raw, rec in lines:
            if rec and rec.get("schema") == schema:
                jv.setdefault(rec["stream_id"], []).append(raw)
        c.check(kv == jv, f"{topic}: Kafka holds the JSONL records byte for byte, in the same order per stream")
    awtest.log()

    bt.join(timeout=900 * awtest.timeout_mult())
    rows = []
    tot = {"words": 0, "ps": 0, "aw": 0, "psv": 0}
    worst = 0.0
    for sid, (s, fmt, path) in streams.items():
        mine = [x for x in msgs["transcripts"] if x["key"] == sid]
        parts = {x["partition"] for x in mine}
        mine.sort(key=lambda x: (x["partition"], x["offset"]))
        trs = [x["record"] for x in mine]
        offs = [t["offset_ms"] for t in trs]
        c.check(len(parts) == 1 and all(b > a for a, b in zip(offs, offs[1:])),
                f"{sid}: {len(trs)} transcripts in one partition, in order (Kafka offsets and offset_ms increasing)",
                f"partitions {sorted(parts)}, offset_ms {offs}")
        c.check(not awconn.overlaps(trs), f"{sid}: phrases do not overlap",
                str([(a['offset_ms'], a['duration_ms'], b['offset_ms']) for a, b in awconn.overlaps(trs)]))
        starts = awconn.events(msgs_records(msgs["stream-events"]), sid, "start")
        sess = {t["capture_session"] for t in trs}
        c.check(len(starts) == 1 and sess <= {starts[0]["capture_session"]},
                f"{sid}: one capture session, announced by one start event ({len(starts)} start events)")

        shift = awconn.MP3_DELAY_S if fmt == "mp3" else 0.0
        ref = [(a + shift, b + shift, t) for a, b, t in s.phrases]
        m = awtest.match_phrases(awconn.phrases(trs), ref, TOL)
        errs = [max(abs(x["d_start"]), abs(x["d_end"])) for x in m if x["d_start"] is not None]
        berr = max(errs, default=float("nan"))
        worst = max(worst, berr) if errs else worst
        matched = sorted({x["ref"] for x in m if x["match"]})
        c.check(len(m) == len(ref) and all(x["match"] for x in m) and matched == list(range(len(ref))),
                f"{sid}: one phrase per reference sentence, each within {TOL} s of its boundaries "
                f"({sum(1 for x in m if x['match'])}/{len(m)} phrases match, {len(ref)} sentences, "
                f"worst {berr:.3f} s)",
                "; ".join(f"[{x['start']:.2f}-{x['end']:.2f}] vs ref {x['ref_start']}-{x['ref_end']}: {x['text']}"
                          for x in m))
        if starts:
            t0 = awconn.parse_time(starts[0]["time"])
            werr = []
            for t in trs:
                ws = awconn.parse_time(t["start"]) - t0
                we = awconn.parse_time(t["end"]) - t0
                werr.append(max(abs(ws - t["offset_ms"] / 1000), abs(we - (t["offset_ms"] + t["duration_ms"]) / 1000)))
            c.check(all(e <= WALL_TOL for e in werr),
                    f"{sid}: start/end wall clock = capture session start + offset_ms/duration_ms "
                    f"(worst {max(werr, default=0) * 1000:.0f} ms)")

        hyp = awconn.text_of(trs)
        if sid not in base:
            c.check(False, f"{sid}: PocketSphinx baseline computed")
            continue
        b, bv = base[sid]
        e_ps, n, w_ps = awtest.wer_figures(s.reference, b)
        e_aw, _, w_aw = awtest.wer_figures(s.reference, hyp)
        w_v = awtest.wer_figures(s.reference, bv)[2] if bv is not None else None
        tot["words"] += n
        tot["ps"] += e_ps
        tot["aw"] += e_aw
        tot["psv"] += awtest.wer_figures(s.reference, bv if bv is not None else b)[0]
        ok_full = w_aw <= w_ps + MAX_DELTA
        ok_view = w_v is not None and w_aw <= w_v + MAX_DELTA
        what = f"{sid}: airwave WER {w_aw:.1f} % <= PocketSphinx {w_ps:.1f} % + {MAX_DELTA:.0f}"
        if not ok_full and w_v is not None:
            what += (f" (no: {w_aw - w_ps:+.1f}); or <= PocketSphinx on the audio as speechd decodes it "
                     f"(first {view[sid]:.3f} s skipped, docs/speechd.md §6) {w_v:.1f} % + {MAX_DELTA:.0f}")
        c.check(ok_full or ok_view, what,
                f"reference: {s.reference}\n        pocketsphinx: {b.strip()}\n"
                + (f"        pocketsphinx, speechd's view: {bv.strip()}\n" if bv is not None else "")
                + f"        airwave: {hyp}")
        rows.append([s.name, fmt, n, f"{w_ps:.1f} %", "-" if w_v is None else f"{w_v:.1f} %", f"{w_aw:.1f} %",
                     f"{w_aw - w_ps:+.1f}", f"{sum(1 for x in m if x['match'])}/{len(ref)}", f"{berr:.3f} s"])
    n = tot["words"]
    pct = lambda e: 100.0 * e / n if n else 0.0  # noqa: E731
    rows.append(["ALL", "", n, f"{pct(tot['ps']):.1f} %", f"{pct(tot['psv']):.1f} %", f"{pct(tot['aw']):.1f} %",
                 f"{pct(tot['aw']) - pct(tot['ps']):+.1f}", "", f"{worst:.3f} s"])
    awtest.log()
    awtest.print_table(["sample", "format", "words", "PocketSphinx WER", "PS, speechd's view", "airwave WER",
                        "delta (vs PS)",
                        "sentences within 0.5 s", "max boundary error"], rows,
                       title="airwave run -> speechd -> Kafka, read back "
                             "(vs pocketsphinx_continuous on the same audio):")
    awtest.log()
    c.equal(mock.quit(), 0, "aw-kafka-mock exits cleanly")
    c.finish()


def msgs_records(msgs):
    return [x["record"] for x in sorted(msgs, key=lambda x: (x["partition"], x["offset"])) if x["record"]]


if __name__ == "__main__":
    main()
