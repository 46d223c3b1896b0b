#!/usr/bin/env python3
"""/metrics, /healthz and /readyz during a live run with forced reconnects.

airwave (`airwave run --config`) transcribes a live station
(tests/tools/icy_server.py playing four samples joined into one 42-s MP3
programme, once, at real time) through airwave-speechd into aw-kafka-mock
and a JSONL file, with http.listen on. Two kinds of speech reconnection are
forced:

  planned   speech.rotate_seconds 8: airwave replaces its own connection
            (airwave_speech_rotations_total)
  lost      speechd SIGKILLed 20 s into the programme and restarted on the
            same port 3 s later, and from then on closing every connection
            after 6 s, before airwave's own rotation is due, as Azure does
            at its limit (airwave_speech_reconnects_total)

A thread scrapes /metrics, /healthz and /readyz every 0.25 s throughout.
Checked:
- every /metrics body parses strictly as the Prometheus text format 0.0.4
  (awops.parse_prometheus: HELP/TYPE, sample syntax, label escapes, one
  family's samples together, no series twice, histogram buckets increasing
  and cumulative with +Inf == _count, a _sum) and follows the naming rules
  (airwave_ prefix, _total on counters and only there, base units);
  Content-Type text/plain; version=0.0.4;
- counters never go down between scrapes;
- /healthz answers 200 on every scrape, speechd down or not;
- /readyz: 200 once connected; 503 (naming the speech session) within 3 s
  of the kill and for as long as speechd is away; 200 again within 15 s
  of its return; airwave_speech_connected follows;
- at the end, with the programme over and Kafka's queue empty, in a
  snapshot (a scrape, the records read back, speechd's log, and a second
  scrape with the same figures):
  airwave_phrases_published_total == transcripts consumed back from Kafka
  == transcripts in the JSONL file == the latency histogram's _count;
  airwave_speech_rotations_total == `rotation` events whose reason is our
  own rotation, airwave_speech_reconnects_total == the other `rotation`
  events (Kafka and JSONL alike), with >= 1 of each; a rotation event is
  published when the replacement opens, so these use the counters of the
  last scrape that saw a connection open, and at most one replacement may
  be pending since (with no audio left to send, none is opened);
  airwave_speech_connections_total == rotation events + 1 == sessions
  speechd logged as opened; one event per close at speechd's limit;
  both counters equal the rotations and losses airwave logged;
  airwave_kafka_delivered_total == every record consumed back (transcripts
  and stream events), airwave_kafka_delivery_errors_total == 0;
  airwave_audio_decoded_seconds_total == the programme's length (+-1.5 s),
  nothing dropped; airwave_speech_connect_failures_total >= 1 (attempts
  while speechd was away);
- the parser itself accepts a valid exposition and refuses 15 broken ones
  (each for the right reason);
- airwave exits 0 on SIGTERM, no sanitizer report.
"""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awops  # noqa: E402
import awtest  # noqa: E402

SID = "ops-metrics"
KILL_AT = 20.0  # programme seconds
DOWN_S = 3.0
ROTATE_S = 8
CAP_S = 6  # the restarted speechd closes every connection after this long
PREFIX = "airwave_"


class Scraper:
    """Scrapes /metrics, /healthz and /readyz every interval seconds."""

    def __init__(self, port, interval=0.25):
        self.port = port
        self.interval = interval
        self.rows = []  # (monotonic, healthz status, readyz status, readyz body, Exposition or None)
        self.problems = {}  # problem text -> first scrape number
        self.content_types = set()
        self.regressions = []
        self.scrapes = 0
        self.errors = []  # (monotonic, path, status, text) of requests that failed
        self._last = None
        self._stop = threading.Event()
        self.lock = threading.Lock()
        self._th = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._th.start()
        return self

    def scrape_once(self):
        st, hdr, body = awops.http(self.port, "/metrics")
        if st != 200 and self.scrapes:
            self.errors.append((time.monotonic(), "/metrics", st, body[:200]))
        ex = None
        if st == 200:
            ex = awops.parse_prometheus(body, PREFIX)
            with self.lock:
                self.scrapes += 1
                self.content_types.add(hdr.get("content-type"))
                for p in ex.problems:
                    self.problems.setdefault(p, self.scrapes)
                if self._last is not None:
                    self.regressions += awops.counter_regressions(self._last, ex)
                self._last = ex
        hz, _, hbody = awops.http(self.port, "/healthz")
        rz, _, rbody = awops.http(self.port, "/readyz")
        for path, code, txt in (("/healthz", hz, hbody), ("/readyz", rz, rbody)):
            if code is None and self.scrapes:
                self.errors.append((time.monotonic(), path, code, txt[:200]))
        row = (time.monotonic(), hz, rz, rbody, ex)
        with self.lock:
            self.rows.append(row)
        return row

    def _run(self):
        while not self._stop.is_set():
            self.scrape_once()
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._th.join(10)

    def last(self):
        with self.lock:
            return self.rows[-1] if self.rows else None

    def since(self, t0):
        with self.lock:
            return [r for r in self.rows if r[0] >= t0]


# The parser's own check: texts it must refuse, each with the problem it
# must name, and one it must accept.
GOOD = r"""# HELP airwave_x_total Things \\ and\nmore.
# TYPE airwave_x_total counter
airwave_x_total{stream="a\\\"b"} 3
# HELP airwave_lat_seconds Latency.
# TYPE airwave_lat_seconds histogram
airwave_lat_seconds_bucket{stream="a",le="0.5"} 1
airwave_lat_seconds_bucket{stream="a",le="+Inf"} 2
airwave_lat_seconds_sum{stream="a"} 1.25
airwave_lat_seconds_count{stream="a"} 2
"""
BAD = [
    ("counter without _total", GOOD.replace("airwave_x_total", "airwave_x"), "does not end in _total"),
    ("gauge named _total", GOOD.replace("x_total counter", "x_total gauge"), "named like a counter"),
    ("no prefix", GOOD.replace("airwave_x_total", "x_total"), "prefix"),
    ("milliseconds", GOOD.replace("airwave_lat_seconds", "airwave_lat_milliseconds"), "non-base unit"),
    ("+Inf != _count", GOOD.replace("_count{stream=\"a\"} 2", "_count{stream=\"a\"} 3"), "!= _count"),
    ("buckets not cumulative", GOOD.replace('le="0.5"} 1', 'le="0.5"} 5'), "not cumulative"),
    ("no +Inf bucket", GOOD.replace('le="+Inf"} 2', 'le="9"} 2'), "not +Inf"),
    ("sample before TYPE", "airwave_y 1\n" + GOOD, "no declared family"),
    ("bad value", GOOD.replace("} 3", "} three"), "not a number"),
    ("bad escape", GOOD.replace('a\\\\\\"b', 'a\\qb'), "bad escape"),
    ("bad HELP escape", GOOD.replace("Things", "Thin\\gs"), "bad escape in HELP"),
    ("series twice", GOOD + 'airwave_lat_seconds_count{stream="a"} 2\n', "given twice"),
    ("no final newline", GOOD.rstrip("\n"), "newline"),
    ("family split", GOOD + '# HELP airwave_z Z.\n# TYPE airwave_z gauge\nairwave_z 1\n'
     'airwave_x_total{stream="b"} 1\n', "not together"),
    ("unknown type", GOOD.replace("x_total counter", "x_total countr"), "unknown type"),
]


def parser_self_check(c):
    ex = awops.parse_prometheus(GOOD)
    ok = not ex.problems and ex.value("airwave_x_total", stream='a\\"b') == 3
    missed = []
    for what, text, want in BAD:
        probs = awops.parse_prometheus(text).problems
        if not any(want in p for p in probs):
            missed.append(f"{what}: {probs}")
    c.check(ok and not missed, f"the strict parser accepts a valid exposition and refuses {len(BAD)} broken ones",
            "; ".join(ex.problems + missed))


def main():
    c = awtest.Checks("ops: /metrics counters, /healthz and /readyz through forced reconnects")
    parser_self_check(c)
    samples = awtest.load_samples()[:4]
    mp3, _ref_text, refp, dur = awlive.mp3_programme(samples, "programme")
    awtest.log(f"  programme: {', '.join(s.name for s in samples)}: {dur:.1f} s, {len(refp)} sentences")
    tdir = awtest.tmpdir()
    jsonl = os.path.join(tdir, "out.jsonl")

    sd = awtest.Speechd(name="speechd-1").start()
    port = sd.port
    mock = awconn.KafkaMock(brokers=1)
    http_port = awlive.free_port()
    station = awlive.IcyServer([mp3], name="station", burst=30).start()
    conf = awlive.airwave_conf(sd.url(), jsonl, [{"id": SID, "url": station.url()}], http_port=http_port,
                               kafka=mock.bootstrap,
                               speech={"rotate_seconds": ROTATE_S, "rotate_grace_seconds": 3})
    a = awconn.start_airwave(conf, name="airwave")
    t0_wall = station.events("listen")[0]["t"]
    sc = Scraper(http_port).start()

    # Ready once source, speech session and Kafka are connected.
    awlive.wait_until(lambda: (sc.last() or (0, 0, 0))[2] == 200, 20, what="/readyz 200 after the start")
    t_ready = time.monotonic()
    awtest.log(f"  /readyz 200 {time.time() - t0_wall:.1f} s into the programme")

    # The kill.
    time.sleep(max(0.0, t0_wall + KILL_AT - time.time()))
    sd.proc.kill()
    sd.proc.wait()
    t_kill = time.monotonic()
    awtest.log(f"  speechd SIGKILLed {time.time() - t0_wall:.1f} s into the programme")
    unready = awlive.wait_until(lambda: next((r for r in sc.since(t_kill) if r[2] not in (200, None)), None), 3)
    c.check(unready is not None, f"/readyz not ready {unready[0] - t_kill:.2f} s after the kill: "
            f"{unready[2]} {unready[3].strip()!r}" if unready else "/readyz turned not ready within 3 s of the kill")
    if unready:
        c.equal(unready[2], 503, "/readyz status while speechd is down")
        c.check(f"{SID}: " in unready[3] and "speech not connected" in unready[3] and "not ready" in unready[3],
                "/readyz body names the stream's speech session as not connected", unready[3])
    time.sleep(max(0.0, t_kill + DOWN_S - time.monotonic()))
    t_back = time.monotonic()
    down_rows = [r for r in sc.since(t_kill + 1.0) if r[0] < t_back]
    c.check(down_rows and all(r[2] == 503 for r in down_rows),
            f"/readyz 503 on all {len(down_rows)} scrapes from 1 s after the kill until speechd returned",
            str([(round(r[0] - t_kill, 2), r[2]) for r in down_rows]))
    c.check(down_rows and all(r[4] is not None and r[4].value("airwave_speech_connected", stream=SID) == 0
                              for r in down_rows),
            "airwave_speech_connected 0 meanwhile")
    sd2 = awconn.speechd_on_port(port, name="speechd-2", extra=["--max-connection-seconds", str(CAP_S)]).start()
    t_back = time.monotonic()
    ready = awlive.wait_until(lambda: next((r for r in sc.since(t_back) if r[2] == 200), None), 15)
    c.check(ready is not None, f"/readyz 200 again {ready[0] - t_back:.2f} s after speechd returned"
            if ready else "/readyz 200 again within 15 s of speechd's return")

    # The programme ends; the station then refuses (404) and airwave keeps
    # retrying it, as it would for a station off the air. Wait for the last
    # sentence, then for every figure to settle.
    def last_done():
        trs = awconn.transcripts(awconn.read_jsonl(jsonl))
        return trs and trs[-1]["offset_ms"] / 1000 >= refp[-1][0] - 1.0
    # The station closes at the programme's end: airwave ends the turn and
    # gets the last phrase then. Give that a moment.
    awlive.wait_until(lambda: time.time() - t0_wall > dur + 3 and last_done(), dur + 40,
                      what="the programme's last sentence in the JSONL file")

    keys = ("airwave_phrases_published_total", "airwave_kafka_delivered_total",
            "airwave_speech_rotations_total", "airwave_speech_reconnects_total",
            "airwave_speech_connections_total", "airwave_speech_connect_failures_total")

    def figures(ex):
        return tuple(ex.value(k, stream=SID) for k in keys)

    def settled():
        rows = sc.since(time.monotonic() - 2.0)
        exs = [r[4] for r in rows if r[4] is not None]
        if len(exs) < 4:
            return None
        q = exs[-1].value("airwave_kafka_queue_messages")
        return exs[-1] if len({figures(e) for e in exs}) == 1 and q == 0 else None

    # A snapshot: the figures, the records consumed back from Kafka and the
    # JSONL file, and the figures again, unchanged (else once more).
    for attempt in range(3):
        final = awlive.wait_until(settled, 20, step=0.25)
        c.check(final is not None or attempt, "the figures settled (2 s unchanged, Kafka queue empty)")
        if final is None:
            final = next(r[4] for r in reversed(sc.rows) if r[4] is not None)
        m = {f: final.value(f"airwave_{f}", stream=SID) for f in (
            "phrases_published_total", "phrases_duplicate_total", "speech_rotations_total",
            "speech_reconnects_total", "speech_connections_total", "speech_connect_failures_total",
            "kafka_delivered_total", "kafka_delivery_errors_total", "audio_decoded_seconds_total",
            "audio_dropped_seconds_total", "source_reconnects_total", "phrase_latency_seconds_count")}
        # Records consumed back while airwave still runs, so that nothing
        # it does at shutdown counts.
        n_tr = int(m["phrases_published_total"] or 0)
        rc1, trm, err1 = awconn.consume(mock.bootstrap, "transcripts", expect=n_tr or None, timeout_ms=4000)
        n_all = int(m["kafka_delivered_total"] or 0)
        rc2, evm, err2 = awconn.consume(mock.bootstrap, "stream-events", expect=max(1, n_all - len(trm)),
                                        timeout_ms=4000)
        jl = awconn.read_jsonl(jsonl)
        opened = sd.sessions_opened() + sd2.sessions_opened()
        by_cap = [x for x in awconn.speechd_closes(sd2) if "Maximum connection duration" in x.get("close.reason", "")]
        again = sc.scrape_once()[4]
        if again is not None and figures(again) == figures(final) and opened == m["speech_connections_total"]:
            break
        awtest.log(f"  the figures moved during the snapshot: {figures(final)} -> "
                   f"{figures(again) if again else None}, {opened} sessions opened; again")
    else:
        c.check(False, "a snapshot with the figures unchanged while records were read back")
    sc.stop()
    awtest.print_table(["metric (final scrape)", "value"], [[k, v] for k, v in m.items()])
    kafka_trs = awconn.transcripts([x["record"] for x in trm], SID)
    kafka_evs = [x["record"] for x in evm]
    jsonl_trs = awconn.transcripts(jl, SID)

    # Metric family checks.
    problems = sorted(sc.problems.items(), key=lambda kv: kv[1])
    c.check(sc.scrapes >= 100, f"{sc.scrapes} /metrics scrapes during the run")
    c.check(not problems, f"every /metrics body parses strictly as Prometheus text format 0.0.4 and follows "
            f"the naming rules ({len(final.families)} families, {len(final.samples)} samples)",
            "; ".join(f"{p} (scrape {n})" for p, n in problems[:12]))
    c.check(sc.content_types == {"text/plain; version=0.0.4; charset=utf-8"},
            f"Content-Type {sorted(map(str, sc.content_types))}")
    c.check(not sc.regressions, "counters never went down between scrapes",
            "; ".join(f"{s}: {a_} -> {b}" for s, a_, b in sc.regressions[:8]))
    types = {n: f["type"] for n, f in final.families.items()}
    need = {"airwave_phrases_published_total": "counter", "airwave_speech_rotations_total": "counter",
            "airwave_speech_reconnects_total": "counter", "airwave_speech_connected": "gauge",
            "airwave_phrase_latency_seconds": "histogram", "airwave_kafka_delivered_total": "counter"}
    c.check(all(types.get(k) == v for k, v in need.items()), "the families this test relies on, with their types",
            str({k: types.get(k) for k in need}))
    first = next(i for i, r in enumerate(sc.rows) if r[1] is not None)  # airwave listening
    hz = [r[1] for r in sc.rows[first:]]
    c.check(hz and all(h == 200 for h in hz), f"/healthz 200 on all {len(hz)} scrapes (speechd down or not)",
            str(sorted(set(map(str, hz)))))
    c.check(not sc.errors, f"every request to the HTTP endpoint answered ({3 * len(sc.rows)} requests)",
            "; ".join(f"{t - t_ready:+.2f} s {p}: {e}" for t, p, _, e in sc.errors[:6]))
    before_kill = [r for r in sc.rows if t_ready <= r[0] < t_kill]
    c.check(before_kill and sum(r[2] == 200 for r in before_kill) >= 0.8 * len(before_kill),
            f"/readyz 200 on {sum(r[2] == 200 for r in before_kill)} of {len(before_kill)} scrapes before the kill "
            "(planned rotations may blink it)")

    # Counters against what happened.
    c.equal(len(kafka_trs), n_tr, "transcripts consumed back from Kafka vs airwave_phrases_published_total")
    c.equal(len(jsonl_trs), n_tr, "transcripts in the JSONL file vs airwave_phrases_published_total")
    c.equal(m["phrase_latency_seconds_count"], m["phrases_published_total"],
            "airwave_phrase_latency_seconds_count vs airwave_phrases_published_total")
    c.check(n_tr >= len(refp) - 2, f"{n_tr} transcripts for {len(refp)} sentences")
    c.check(rc1 == 0 and rc2 == 0, f"consumed back: {len(trm)} transcripts, {len(evm)} events",
            err1[-500:] + err2[-500:])
    # A rotation event is published when the replacement connection opens.
    # With the programme over there is no audio to send, so a rotation due
    # then closes the connection and the next one waits for audio: compare
    # the events with the counters of the last scrape that saw a connection
    # open, and allow exactly one replacement pending since.
    conn = [r[4] for r in sc.rows if r[4] is not None and r[4].value("airwave_speech_connected", stream=SID) == 1]
    lc = conn[-1]
    at_open = {k: lc.value(f"airwave_{k}", stream=SID) for k in
               ("speech_rotations_total", "speech_reconnects_total", "speech_connections_total")}
    connected = final.value("airwave_speech_connected", stream=SID)
    pending = (m["speech_rotations_total"] - at_open["speech_rotations_total"]) + \
        (m["speech_reconnects_total"] - at_open["speech_reconnects_total"])
    c.check(pending == (0 if connected else 1) and m["speech_connections_total"] == at_open["speech_connections_total"],
            f"replacements since the last open connection: {pending:.0f} "
            f"({'connected' if connected else 'idle: no audio since the programme ended'})")
    for where, evs in (("Kafka", kafka_evs), ("JSONL", awconn.events(jl))):
        rot = awconn.events(evs, SID, "rotation")
        own = [e for e in rot if e.get("reason") == "rotation"]
        lost = [e for e in rot if e.get("reason") != "rotation"]
        awtest.log(f"  {where} rotation events: {len(own)} planned, {len(lost)} after a loss: "
                   + "; ".join(f"{e['offset_ms'] / 1000:.1f} s {e.get('reason')!r}" for e in rot))
        c.equal(len(own), at_open["speech_rotations_total"], f"{where}: planned rotation events vs "
                "airwave_speech_rotations_total")
        c.equal(len(lost), at_open["speech_reconnects_total"], f"{where}: rotation events after a lost "
                "connection vs airwave_speech_reconnects_total")
        c.equal(len(rot) + 1, m["speech_connections_total"],
                f"{where}: rotation events + 1 vs airwave_speech_connections_total")
    capped = [e for e in awconn.events(kafka_evs, SID, "rotation")
              if "Maximum connection duration" in (e.get("reason") or "")]
    c.check(len(by_cap) >= 1 and len(capped) <= len(by_cap) <= len(capped) + 1,
            f"{len(capped)} rotation events after speechd's {CAP_S}-s limit for {len(by_cap)} such closes "
            "(one may be pending)")
    log = a.stderr_text()
    c.equal(log.count("rotating speech connection"), int(m["speech_rotations_total"]),
            "airwave_speech_rotations_total vs rotations logged")
    c.equal(log.count("speech connection lost"), int(m["speech_reconnects_total"]),
            "airwave_speech_reconnects_total vs lost connections logged")
    c.check((m["speech_rotations_total"] or 0) >= 1, f"{m['speech_rotations_total']} planned rotation(s) (>= 1)")
    c.check((m["speech_reconnects_total"] or 0) >= 1, f"{m['speech_reconnects_total']} reconnect(s) (>= 1: the kill)")
    c.equal(m["kafka_delivered_total"], float(len(trm) + len(evm)),
            "airwave_kafka_delivered_total vs records consumed back (transcripts + events)")
    c.equal(m["kafka_delivery_errors_total"], 0.0, "airwave_kafka_delivery_errors_total")
    c.check(abs((m["audio_decoded_seconds_total"] or 0) - dur) <= 1.5,
            f"airwave_audio_decoded_seconds_total {m['audio_decoded_seconds_total']} vs the programme's {dur:.1f} s")
    c.equal(m["audio_dropped_seconds_total"], 0.0, "airwave_audio_dropped_seconds_total")
    # Every attempt either opened a connection (speechd logged an open) or
    # failed; speechd was away for the failures.
    c.equal(opened, int(m["speech_connections_total"] or 0), "sessions speechd opened vs "
            "airwave_speech_connections_total")
    c.check((m["speech_connect_failures_total"] or 0) >= 1,
            f"airwave_speech_connect_failures_total {m['speech_connect_failures_total']} (>= 1: while speechd was away)")

    a.signal(signal.SIGTERM)
    r = a.wait(60 * awtest.timeout_mult())
    c.equal(r.rc, 0, "airwave exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash", "\n".join(r.sanitizer[:10]))
    bad = [p for ln, _ in awconn.read_jsonl(jsonl) for p in awconn.validate_raw(ln)]
    c.check(not bad, "JSONL records valid against docs/schema", "; ".join(bad[:5]))
    sd2.stop()
    station.stop()
    mock.quit()
    c.finish()


if __name__ == "__main__":
    main()
