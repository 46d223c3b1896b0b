#!/usr/bin/env python3
"""Connector must-show 4: the Kafka broker down for 10 s mid-run: every
transcript delivered exactly once, in order.

aw-kafka-mock runs one broker. airwave runs two streams (four samples joined
each, 44.7 s and 40.9 s, at speech.pace 1.5: about 30 s) with Kafka and a
JSONL copy (output.jsonl: the ground truth of what airwave published). 8 s
into the run the broker goes down ("down 1"), 10 s later it comes back
("up 1"); transcripts published meanwhile wait in librdkafka's queue.

Checked after airwave exits 0 (every stream ended, Kafka flushed):
- transcripts were published while the broker was down, and airwave saw the
  outage (its Kafka connection warnings);
- the sink's counters: produced = delivered, nothing failed or dropped;
- read back: exactly the JSONL records, each once (distinct ids, same set),
  per stream in one partition and in order (Kafka offsets, offset_ms and
  the JSONL order agree); every record valid against the schema; the same
  for the stream-events topic.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awtest  # noqa: E402

DOWN_AT = 8.0
DOWN_FOR = 10.0
PACE = 1.5
STREAMS = {
    "joined-a": ("rain-warning", "aid-convoy", "river-flood", "health-clinic"),
    "joined-b": ("road-closed", "election-day", "water-repair", "school-return"),
}


def count_transcripts(path):
    return len(awconn.transcripts(awconn.read_jsonl(path)))


def main():
    c = awtest.Checks("connector: Kafka broker down for 10 s mid-run (must-show 4)")
    by_name = {s.name: s for s in awtest.load_samples()}
    paths, refs = {}, {}
    for sid, names in STREAMS.items():
        if any(n not in by_name for n in names):
            awtest.fail(f"samples missing for {sid}: {names}")
        paths[sid], refs[sid], _ = awconn.concat_wavs([by_name[n] for n in names], sid)
    tdir = awtest.tmpdir()
    jsonl = os.path.join(tdir, "published.jsonl")
    mock = awconn.KafkaMock(brokers=1)
    with awtest.Speechd() as sd:
        conf = {
            "speech": {"endpoint": sd.url(), "pace": PACE},
            "kafka": {"bootstrap.servers": mock.bootstrap},
            "output": {"jsonl": jsonl},
            "streams": awconn.file_streams(paths),
        }
        a = awconn.start_airwave(conf, name="run")
        time.sleep(max(0.0, a.t0 + DOWN_AT - time.monotonic()))
        c.check(a.running(), f"airwave still running {DOWN_AT:.0f} s into the run")
        n_down = count_transcripts(jsonl)
        c.equal(mock.command("down 1"), "OK", f"mock: broker 1 down at {time.monotonic() - a.t0:.1f} s")
        time.sleep(max(0.0, a.t0 + DOWN_AT + DOWN_FOR - time.monotonic()))
        n_up = count_transcripts(jsonl)
        up_running = a.running()
        c.equal(mock.command("up 1"), "OK", f"mock: broker 1 up at {time.monotonic() - a.t0:.1f} s")
        r = a.wait((90 + 60) * awtest.timeout_mult())
    awtest.log(f"  airwave: rc={r.rc}, {r.wall:.1f} s wall; transcripts published before the outage {n_down}, "
               f"during it {n_up - n_down}")
    c.equal(r.rc, 0, "airwave exit status")
    c.check(not r.sanitizer, "no sanitizer report or crash", "\n".join(r.sanitizer[:10]))
    c.check(up_running and n_up - n_down >= 2,
            f"{n_up - n_down} transcripts published while the broker was down (airwave still running at 'up')")
    warn = [x for x in awconn.logfmt_lines(r.stderr, mod="kafka") if x.get("level") in ("warn", "error")]
    c.check(warn, f"airwave logged the outage ({len(warn)} Kafka warnings, e.g. "
            f"{warn[0].get('msg', '')[:120] if warn else '-'!r})")

    lines = awconn.read_jsonl(jsonl)
    counts = awconn.kafka_counts(r.stderr)
    for topic, schema in (("transcripts", awconn.TRANSCRIPT), ("stream-events", awconn.EVENT)):
        mine = [(raw, rec) for raw, rec in lines if rec and rec.get("schema") == schema]
        got = counts.get(topic)
        c.check(got and got["produced"] == got["delivered"] == len(mine) and got["failed"] == got["dropped"] == 0,
                f"{topic}: sink counters {got}, JSONL {len(mine)}")
        rc, msgs, err = awconn.consume(mock.bootstrap, topic, expect=len(mine), timeout_ms=10000)
        # Anything beyond what was published would be a duplicate: look for it.
        rc2, extra, _ = awconn.consume(mock.bootstrap, topic, timeout_ms=2000)
        c.check(rc == 0 and len(msgs) == len(mine) and len(extra) == len(mine),
                f"{topic}: {len(extra)} records in Kafka for {len(mine)} published", err[-300:])
        problems = awconn.validate_messages(extra, schema)
        c.check(not problems, f"{topic}: every record valid against its schema and keyed by its stream id",
                "; ".join(problems[:5]))
        ids = [m["record"]["id"] for m in extra if m["record"]]
        c.check(not awconn.duplicates(ids) and set(ids) == {rec["id"] for _, rec in mine},
                f"{topic}: each published record exactly once (distinct ids, the JSONL set)",
                f"duplicates {awconn.duplicates(ids)[:5]}")
        for sid in STREAMS:
            ks = sorted((m for m in extra if m["key"] == sid), key=lambda m: (m["partition"], m["offset"]))
            js = [raw for raw, rec in mine if rec["stream_id"] == sid]
            parts = {m["partition"] for m in ks}
            c.check(len(parts) == 1 and [m["value"].encode() for m in ks] == js,
                    f"{topic} {sid}: {len(ks)} records, one partition, in publication order")
            if schema == awconn.TRANSCRIPT:
                offs = [m["record"]["offset_ms"] for m in ks]
                c.check(all(b > a for a, b in zip(offs, offs[1:])), f"{topic} {sid}: offset_ms increasing")
                e, n, w = awtest.wer_figures(refs[sid], awconn.text_of([m["record"] for m in ks]))
                awtest.log(f"    {sid}: WER {w:.1f} % ({e}/{n}) of what Kafka holds")
    c.equal(mock.quit(), 0, "aw-kafka-mock exits cleanly")
    c.finish()


if __name__ == "__main__":
    main()
