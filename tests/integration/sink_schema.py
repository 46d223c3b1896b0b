#!/usr/bin/env python3
"""Sink records end to end, against the JSON Schemas.

1. docs/schema/*.json use only keywords tests/tools/validate_schema.py
   implements, and the validator rejects broken records (so a pass means
   something).
2. aw-kafka-mock (3 brokers, standalone process) with Produce errors
   injected through its stdin; aw-sink-sample publishes sample records
   (odd UTF-8, optional members present and absent, every event type)
   through the real sinks to it and to a JSONL file.
3. aw-kafka-mock consume reads both topics back: every record validates,
   equals its JSONL copy byte for byte, is keyed by its stream id, arrives
   exactly once and in order within its key. kcat, if installed, reads the
   same counts.
"""

import copy
import json
import os
import select
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import awtest  # noqa: E402
import validate_schema as vs  # noqa: E402

TRANSCRIPT = "airwave.transcript.v1"
EVENT = "airwave.stream-event.v1"
STREAMS = 3
COUNT = 10  # transcripts per stream (aw-sink-sample --count)
EVENTS_PER_STREAM = 7  # every type, plus an error before any audio


def schema_checks(c, schemas):
    good_t = {
        "schema": TRANSCRIPT,
        "id": "5f0c1a2b-3c4d-5e6f-8a9b-0c1d2e3f4a5b",
        "stream_id": "radio-okapi",
        "source": "http://example.org/okapi.mp3",
        "language": "fr-FR",
        "text": "Display form of the phrase.",
        "lexical": "display form of the phrase",
        "confidence": 0.87,
        "start": "2026-11-26T12:00:01.230Z",
        "end": "2026-11-26T12:00:03.530Z",
        "offset_ms": 123456,
        "duration_ms": 2300,
        "capture_session": "3b1e0000-1111-4222-8333-444455556666",
        "stream_title": "Morning news",
        "provider": "azure",
        "words": [{"word": "display", "offset_ms": 123456, "duration_ms": 300}],
    }
    good_e = {
        "schema": EVENT,
        "id": "5f0c1a2b-3c4d-5e6f-8a9b-0c1d2e3f4a5b",
        "stream_id": "radio-okapi",
        "type": "discontinuity",
        "time": "2026-11-26T12:00:01.230Z",
        "capture_session": "3b1e0000-1111-4222-8333-444455556666",
        "offset_ms": 5000,
        "lost_seconds": 2.5,
        "reason": "reconnect",
    }
    c.equal(vs.validate(schemas[TRANSCRIPT], good_t), [],
            "the ARCHITECTURE.md transcript example validates")
    c.equal(vs.validate(schemas[EVENT], good_e), [],
            "a discontinuity event validates")

    def mutated(rec, fn):
        r = copy.deepcopy(rec)
        fn(r)
        return r

    bad = [
        ("transcript without text", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.pop("text"))),
        ("transcript with an unknown member", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(extra=1))),
        ("transcript id not a UUID", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(id="5f0c"))),
        ("stream id with a space", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(stream_id="radio okapi"))),
        ("start without milliseconds", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(start="2026-11-26T12:00:01Z"))),
        ("confidence above 1", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(confidence=1.2))),
        ("negative offset", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(offset_ms=-1))),
        ("duration as a float", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(duration_ms=2.5))),
        ("word without timing", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r["words"][0].pop("offset_ms"))),
        ("wrong schema name", schemas[TRANSCRIPT],
         mutated(good_t, lambda r: r.update(schema=EVENT))),
        ("unknown event type", schemas[EVENT],
         mutated(good_e, lambda r: r.update(type="restart"))),
        ("discontinuity without lost_seconds", schemas[EVENT],
         mutated(good_e, lambda r: r.pop("lost_seconds"))),
        ("start event with lost_seconds", schemas[EVENT],
         mutated(good_e, lambda r: r.update(type="start"))),
        ("title event without title", schemas[EVENT],
         mutated(good_e, lambda r: (r.pop("lost_seconds"), r.update(type="title")))),
    ]
    for what, schema, rec in bad:
        errors = vs.validate(schema, rec)
        c.check(errors, f"validator rejects: {what}", detail=json.dumps(rec))
    for what, raw in [("invalid UTF-8", b'{"a":"\xff"}'),
                      ("a lone surrogate", b'{"a":"\\ud800"}'),
                      ("NaN", b'{"a":NaN}'),
                      ("a duplicate key", b'{"a":1,"a":2}')]:
        try:
            vs.parse_record(raw)
            ok = False
        except (UnicodeError, ValueError):
            ok = True
        c.check(ok, f"validator refuses a record with {what}")


class Mock:
    """aw-kafka-mock with a command pipe."""

    def __init__(self, brokers):
        self.log = open(os.path.join(awtest.tmpdir(), "mock.err"), "w")
        self.p = awtest.popen([awtest.binary("aw-kafka-mock"), "--brokers", str(brokers)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=self.log, text=True)
        line = self.readline(10)
        if not line.startswith("BOOTSTRAP "):
            awtest.fail(f"aw-kafka-mock printed {line!r}, not BOOTSTRAP")
        self.bootstrap = line.split()[1]

    def readline(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout * awtest.timeout_mult())
        if not r:
            awtest.fail("aw-kafka-mock did not answer")
        return self.p.stdout.readline().strip()

    def command(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.readline(10)

    def quit(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        return self.p.wait(timeout=10 * awtest.timeout_mult())


def consume(bootstrap, topic, expect):
    r = subprocess.run([awtest.binary("aw-kafka-mock"), "consume", "--bootstrap", bootstrap,
                        "--topic", topic, "--expect", str(expect), "--timeout-ms",
                        str(10000 * awtest.timeout_mult())],
                       capture_output=True, timeout=60 * awtest.timeout_mult())
    msgs = [json.loads(ln) for ln in r.stdout.decode("utf-8").splitlines() if ln.strip()]
    return r.returncode, msgs, r.stderr.decode("utf-8", "replace")


def topic_checks(c, topic, schema, msgs, jsonl_lines):
    name = topic
    c.equal(len(msgs), len(jsonl_lines), f"{name}: messages read back = JSONL lines")
    invalid = []
    for m in msgs:
        raw = m["value"].encode("utf-8")
        try:
            rec = vs.parse_record(raw)
        except (UnicodeError, ValueError) as e:
            invalid.append(f"offset {m['offset']}: {e}")
            continue
        invalid += [f"p{m['partition']}@{m['offset']}: {p}: {e}"
                    for p, e in vs.validate(schema, rec)]
        if rec.get("stream_id") != m["key"]:
            invalid.append(f"key {m['key']!r} != stream_id {rec.get('stream_id')!r}")
    c.check(not invalid, f"{name}: every record validates and is keyed by its stream id",
            detail="; ".join(invalid[:5]))

    ids = [json.loads(m["value"])["id"] for m in msgs]
    c.equal(len(set(ids)), len(ids), f"{name}: each record exactly once (distinct ids)")

    # Same bytes as the JSONL copy, and the same order within each key (a
    # key lives in one partition; a partition is read in offset order).
    by_key, parts = {}, {}
    for m in sorted(msgs, key=lambda m: (m["partition"], m["offset"])):
        by_key.setdefault(m["key"], []).append(m["value"].encode("utf-8"))
        parts.setdefault(m["key"], set()).add(m["partition"])
    jsonl_by_key = {}
    for ln in jsonl_lines:
        jsonl_by_key.setdefault(json.loads(ln)["stream_id"], []).append(ln)
    c.check(all(len(p) == 1 for p in parts.values()),
            f"{name}: each stream in one partition: "
            + ", ".join(f"{k}->{sorted(p)}" for k, p in sorted(parts.items())))
    c.check(by_key == jsonl_by_key,
            f"{name}: per stream, Kafka holds the JSONL lines byte for byte, in order")


def main():
    c = awtest.Checks("sink records: schemas, Kafka round trip, JSONL copy")
    src = awtest.source_dir()
    tdir = awtest.tmpdir()
    paths = {TRANSCRIPT: os.path.join(src, "docs", "schema", "transcript.v1.json"),
             EVENT: os.path.join(src, "docs", "schema", "stream-event.v1.json")}
    schemas = {}
    for k, p in paths.items():
        try:
            schemas[k] = vs.load_schema(p)
            c.check(True, f"{os.path.relpath(p, src)}: loads, uses supported keywords only")
        except (OSError, ValueError, vs.SchemaError) as e:
            awtest.fail(f"{p}: {e}")
    schema_checks(c, schemas)

    mock = Mock(3)
    awtest.log(f"mock cluster: {mock.bootstrap}")
    # Retriable Produce errors (REQUEST_TIMED_OUT x3, NOT_LEADER x1): the
    # idempotent producer must retry without duplicates.
    c.equal(mock.command("err 0 7 3"), "OK", "mock: inject 3 REQUEST_TIMED_OUT")
    c.equal(mock.command("err 0 6 1"), "OK", "mock: inject 1 NOT_LEADER_FOR_PARTITION")
    c.check(mock.command("bogus").startswith("ERR"), "mock: unknown command answered ERR")

    jsonl = os.path.join(tdir, "sample.jsonl")
    r = subprocess.run([awtest.binary("aw-sink-sample"), "--bootstrap", mock.bootstrap,
                        "--jsonl", jsonl, "--count", str(COUNT)],
                       capture_output=True, text=True, timeout=90 * awtest.timeout_mult())
    c.equal(r.returncode, 0, "aw-sink-sample: every record delivered and written")
    for ln in r.stderr.splitlines():
        if not ln.startswith("ts="):
            awtest.log(f"    {ln}")

    with open(jsonl, "rb") as f:
        data = f.read()
    lines = [ln for ln in data.split(b"\n") if ln]
    t_lines = [ln for ln in lines if json.loads(ln)["schema"] == TRANSCRIPT]
    e_lines = [ln for ln in lines if json.loads(ln)["schema"] == EVENT]
    c.equal(len(t_lines), STREAMS * COUNT, "JSONL: transcripts written")
    c.equal(len(e_lines), STREAMS * EVENTS_PER_STREAM, "JSONL: events written")
    for schema_name, sub in ((TRANSCRIPT, t_lines), (EVENT, e_lines)):
        n, problems = vs.validate_bytes(schemas[schema_name], b"\n".join(sub) + b"\n", "jsonl")
        c.check(n == len(sub) and not problems, f"JSONL: {n} {schema_name} lines validate",
                detail="; ".join(problems[:5]))

    for topic, schema_name, sub in (("transcripts", TRANSCRIPT, t_lines),
                                    ("stream-events", EVENT, e_lines)):
        rc, msgs, err = consume(mock.bootstrap, topic, len(sub))
        c.equal(rc, 0, f"{topic}: aw-kafka-mock consume --expect {len(sub)}")
        if rc:
            awtest.log(err)
        topic_checks(c, topic, schemas[schema_name], msgs, sub)

    if shutil.which("kcat"):
        r = subprocess.run(["kcat", "-C", "-b", mock.bootstrap, "-t", "transcripts",
                            "-o", "beginning", "-e", "-q", "-f", "%k\n"],
                           capture_output=True, text=True, timeout=60 * awtest.timeout_mult())
        keys = [k for k in r.stdout.splitlines() if k]
        c.equal(len(keys), STREAMS * COUNT, "kcat -C -e reads the same number of transcripts")
    else:
        awtest.log("  (kcat not installed: cross-check skipped)")

    c.equal(mock.quit(), 0, "aw-kafka-mock exits cleanly on quit")
    c.finish()


if __name__ == "__main__":
    main()
