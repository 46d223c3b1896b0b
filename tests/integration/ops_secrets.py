#!/usr/bin/env python3
"""No secret (speech key, bearer token, Kafka password) appears in logs,
stdout, records, metrics, events or error messages, at any log level.

Secrets, each a distinctive random string made for this run:
  KEY      the speech key: airwave-speechd's --key-file, airwave's
           AZURE_SPEECH_KEY (or speech.key_file)
  WRONG    a wrong speech key, for the refusal paths
  KPASS    a Kafka SASL password (AIRWAVE_KAFKA_SASL_PASSWORD; the mock
           cluster ignores it, librdkafka keeps it in its configuration)
  URLPASS, URLTOKEN  a password and a query token in a station's URL
           (http://listener:URLPASS@.../stream.mp3?token=URLTOKEN), and
           the Basic credentials made of them
  tokens   every bearer token speechd issued to airwave, read off the wire
           by awops.TlsTap (a TLS relay in front of speechd that records
           both directions), and one this test asked for itself
and, for each, its first and last 8 characters (a truncated or partly
redacted secret).

Runs, all against one airwave-speechd (debug log) and aw-kafka-mock on
127.0.0.1, each with /metrics, /healthz and /readyz scraped every 0.3 s:
  key      `airwave run` of a short sample with the key, at every log level
           (error, warn, notice, info, debug) in logfmt and debug in JSON;
           the key from speech.key_file once
  token    the same with speech.token_endpoint (https via the relay, so
           tokens are fetched and sessions open with Authorization:
           Bearer), at error, info and debug, and debug in JSON
  url      `run` of a live station (tests/tools/icy_server.py) by that URL,
           at debug: records name the source without userinfo and query
  refusals `run` with a wrong key (websocket 401: exit 77), with a wrong
           key at the token endpoint (401: exit 77), against a closed port
           (connection refused; retried until SIGTERM), with a token
           endpoint on a closed port; `transcribe` with a wrong key and
           against a closed port, quiet and at debug
  config   `check-config` of a file with speech.key: KEY (refused, 78),
           with AIRWAVE_SPEECH_KEY=KEY in the environment (refused), and
           with kafka.sasl.password: KPASS (accepted)
Collected: every run's stderr and stdout, its JSONL file, every /metrics,
/readyz and /healthz body, the Kafka records consumed back (transcripts
and stream-events, error events included), and speechd's own debug log.
Checked: no secret or fragment anywhere, and no other 64-hex-digit string
(a token's shape) either; positive controls show each path really ran:
the relay saw the key in the token request and the tokens in the upgrades,
speechd logged auth=key / auth=bearer sessions, the refusals exited with
their documented status and one-line message, the successful runs
published transcripts.
"""

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awops  # noqa: E402
import awtest  # noqa: E402

LEVELS = ("error", "warn", "notice", "info", "debug")
TOKEN_SHAPE = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")


class Run:
    """One `airwave run` with its HTTP endpoint scraped until it ends."""

    def __init__(self, name, conf, env, level, fmt, stop_after=10):
        self.name = name
        self.level, self.fmt = level, fmt
        self.http_port = awlive.free_port()
        conf = dict(conf)
        conf["http"] = {"listen": f"127.0.0.1:{self.http_port}"}
        self.jsonl = os.path.join(awtest.tmpdir(), name, "out.jsonl")
        if "output" not in conf:
            conf["output"] = {"jsonl": self.jsonl}
        args = ["--log-format", fmt] if fmt != "logfmt" else []
        self.a = awconn.start_airwave(conf, name=name, env=env, log_level=level, args=args)
        self.bodies = []  # (path, status, body)
        self.stop_after = stop_after
        self.result = None
        self._th = threading.Thread(target=self._watch, daemon=True)
        self._th.start()

    def _watch(self):
        t0 = time.monotonic()
        limit = 60 * awtest.timeout_mult()
        while not self.a.poll():
            for path in ("/metrics", "/readyz", "/healthz"):
                st, _, body = awops.http(self.http_port, path, timeout=3)
                if st is not None:
                    self.bodies.append((path, st, body))
            el = time.monotonic() - t0
            if (self.stop_after is not None and el > self.stop_after) or el > limit:
                self.a.signal(signal.SIGTERM)
                break
            time.sleep(0.3)
        self.result = self.a.wait(60 * awtest.timeout_mult())

    def wait(self):
        self._th.join(150 * awtest.timeout_mult())
        return self.result

    def texts(self):
        """{what: text} of everything this run showed."""
        r = self.result
        out = {f"{self.name}: stderr": r.stderr, f"{self.name}: stdout": r.stdout}
        if os.path.exists(self.jsonl):
            with open(self.jsonl, encoding="utf-8", errors="replace") as f:
                out[f"{self.name}: JSONL file"] = f.read()
        for i, (path, st, body) in enumerate(self.bodies):
            out[f"{self.name}: {path} #{i} ({st})"] = body
        return out

    def metrics_scraped(self):
        return sum(1 for p, st, _ in self.bodies if p == "/metrics" and st == 200)


def cli(args, env, name):
    r = awconn.run_cli(args, env=env, timeout=60)
    return r, {f"{name}: stderr": r.stderr, f"{name}: stdout": r.stdout}


def main():
    c = awtest.Checks("ops: no secret in logs, metrics, records or errors, at any log level")
    d = awtest.tmpdir()
    KEY = awops.random_secret("AwKey", 24)
    WRONG = awops.random_secret("AwWrong", 24)
    KPASS = awops.random_secret("AwKafkaPw", 16)
    URLPASS = awops.random_secret("AwUrlPw", 12)
    URLTOKEN = awops.random_secret("AwUrlTok", 16)
    basic = base64.b64encode(f"listener:{URLPASS}".encode()).decode()
    cert, pkey = awops.self_signed_cert(d)
    sample = next(s for s in awtest.load_samples() if s.name == "health-clinic")

    sd = awtest.Speechd(name="speechd", key=KEY, log_level="debug").start()
    tap = awops.TlsTap(cert, pkey, sd.port).start()
    mock = awconn.KafkaMock(brokers=1)
    closed_port = awlive.free_port()  # nothing listens there
    wss = f"wss://127.0.0.1:{tap.port}{awconn.SPEECH_PATH}"
    sts = f"https://127.0.0.1:{tap.port}/sts/v1.0/issueToken"

    # A token of our own, straight from speechd: what tokens look like.
    st, _, my_token = awops.http(sd.port, "/sts/v1.0/issueToken", method="POST", data=b"",
                                 headers={"Ocp-Apim-Subscription-Key": KEY})
    my_token = my_token.strip()
    c.check(st == 200 and TOKEN_SHAPE.fullmatch(my_token), f"speechd issues tokens of 64 hex digits "
            f"(HTTP {st}, {len(my_token)} characters)")

    key_env = awconn.airwave_env({"AZURE_SPEECH_KEY": KEY, "AIRWAVE_KAFKA_SASL_PASSWORD": KPASS})
    wrong_env = awconn.airwave_env({"AZURE_SPEECH_KEY": WRONG, "AIRWAVE_KAFKA_SASL_PASSWORD": KPASS})
    key_file = os.path.join(d, "speech.key")
    with open(key_file, "w", encoding="utf-8") as f:
        f.write(KEY + "\n")

    def conf(name, endpoint, token_endpoint=None, extra_speech=None, url=None):
        sp = {"endpoint": endpoint}
        if token_endpoint:
            sp["token_endpoint"] = token_endpoint
        if endpoint.startswith("wss:"):
            sp["ca_file"] = cert
        sp.update(extra_speech or {})
        return {"speech": sp, "kafka": {"bootstrap.servers": mock.bootstrap},
                "streams": [{"id": name, "url": url or sample.wav, "live": "false"}]}

    runs = []
    # Batch 1: the key, every level.
    for lv in LEVELS:
        n = f"key-{lv}"
        runs.append(Run(n, conf(n, sd.url()), key_env, lv, "logfmt"))
    runs.append(Run("key-debug-json", conf("key-debug-json", sd.url()), key_env, "debug", "json"))
    for r in runs:
        r.wait()
    # Batch 2: tokens, the key file, and the refusals.
    batch = []
    for lv, fmt in (("error", "logfmt"), ("info", "logfmt"), ("debug", "logfmt"), ("debug", "json")):
        n = f"token-{lv}-{fmt}"
        batch.append(Run(n, conf(n, wss, sts), key_env, lv, fmt))
    n = "keyfile-debug"
    batch.append(Run(n, conf(n, sd.url(), extra_speech={"key_file": key_file}),
                     awconn.airwave_env({"AIRWAVE_KAFKA_SASL_PASSWORD": KPASS}), "debug", "logfmt"))
    for fmt in ("logfmt", "json"):
        n = f"wrongkey-debug-{fmt}"
        batch.append(Run(n, conf(n, sd.url()), wrong_env, "debug", fmt))
    n = "wrongkey-token-debug"
    batch.append(Run(n, conf(n, wss, sts), wrong_env, "debug", "logfmt"))
    # A station whose URL holds a password and a query token (as CDNs and
    # HLS do): records and messages name the source without them.
    station = awlive.IcyServer([sample.mp3], name="station", loop=True).start()
    n = "url-credentials-debug"
    station_url = f"http://listener:{URLPASS}@127.0.0.1:{station.port}/stream.mp3?token={URLTOKEN}&x=1"
    batch.append(Run(n, conf(n, sd.url(), url=station_url), key_env, "debug", "logfmt"))
    n = "refused-debug"
    batch.append(Run(n, conf(n, awconn.endpoint(closed_port)), key_env, "debug", "logfmt", stop_after=4))
    n = "refused-token-debug"
    batch.append(Run(n, conf(n, wss, f"https://127.0.0.1:{closed_port}/sts/v1.0/issueToken"), key_env,
                     "debug", "json", stop_after=4))
    texts = {}
    # transcribe and check-config meanwhile, one at a time.
    for lv in (None, "debug"):
        lvargs = ["--log-level", lv] if lv else []
        sfx = lv or "quiet"
        r, t = cli(["transcribe", "--endpoint", sd.url(), *lvargs, sample.wav], wrong_env, f"transcribe-wrongkey-{sfx}")
        texts.update(t)
        c.equal(r.rc, 77, f"transcribe with a wrong key ({sfx}): exit status")
        c.check("HTTP 401" in r.stderr, f"transcribe with a wrong key ({sfx}): the error names HTTP 401",
                r.stderr[-600:])
        r, t = cli(["transcribe", "--endpoint", awconn.endpoint(closed_port), *lvargs, sample.wav], key_env,
                   f"transcribe-refused-{sfx}")
        texts.update(t)
        c.check(r.rc == 69, f"transcribe against a closed port ({sfx}): exit status {r.rc} (69)", r.stderr[-600:])
    bad_conf = os.path.join(d, "key-in-file.yaml")
    with open(bad_conf, "w", encoding="utf-8") as f:
        f.write(f"speech:\n  key: {KEY}\nstreams:\n  - id: a\n    url: {sample.wav}\n")
    r, t = cli(["check-config", bad_conf], awconn.airwave_env(), "check-config key-in-file")
    texts.update(t)
    c.equal(r.rc, 78, "check-config with speech.key in the file: exit status")
    c.check("speech.key" in r.stderr, "check-config names speech.key", r.stderr)
    plain_conf = os.path.join(d, "plain.yaml")
    with open(plain_conf, "w", encoding="utf-8") as f:
        f.write(f"streams:\n  - id: a\n    url: {sample.wav}\n")
    r, t = cli(["check-config", plain_conf], awconn.airwave_env({"AIRWAVE_SPEECH_KEY": KEY}),
               "check-config AIRWAVE_SPEECH_KEY")
    texts.update(t)
    c.equal(r.rc, 78, "check-config with AIRWAVE_SPEECH_KEY in the environment: exit status")
    kp_conf = os.path.join(d, "kafka-password.yaml")
    with open(kp_conf, "w", encoding="utf-8") as f:
        f.write(f"kafka:\n  bootstrap.servers: {mock.bootstrap}\n  sasl.password: {KPASS}\n"
                f"streams:\n  - id: a\n    url: {sample.wav}\n")
    r, t = cli(["check-config", kp_conf], awconn.airwave_env(), "check-config kafka.sasl.password")
    texts.update(t)
    c.equal(r.rc, 0, "check-config with kafka.sasl.password in the file: exit status")
    for r in batch:
        r.wait()
    runs += batch
    by = {r.name: r for r in runs}

    # What each run did.
    rows = []
    for r in runs:
        res = r.result
        trs = awconn.transcripts(awconn.read_jsonl(r.jsonl))
        rows.append([r.name, r.level, r.fmt, res.rc, len(res.stderr_lines), len(trs), r.metrics_scraped()])
        texts.update(r.texts())
        c.check(not res.sanitizer, f"{r.name}: no sanitizer report or crash", "\n".join(res.sanitizer[:5]))
    awtest.print_table(["run", "level", "format", "exit", "log lines", "transcripts", "/metrics scrapes"], rows)
    for r in runs:
        if r.name.startswith(("key-", "token-", "keyfile-", "url-")):
            ok = r.result.rc == 0 and awconn.transcripts(awconn.read_jsonl(r.jsonl))
            c.check(ok, f"{r.name}: exit 0 with transcripts", r.result.describe())
    scraped = {r.name: r.metrics_scraped() for r in runs if not r.name.startswith("wrongkey")}
    c.check(all(n >= 5 for n in scraped.values()), "/metrics of every run that did not give up at once "
            "scraped >= 5 times", str(scraped))
    st_recs = awconn.read_jsonl(by["url-credentials-debug"].jsonl)
    sources = {r.get("source") for _, r in st_recs if r}
    c.check(awconn.transcripts(st_recs) and sources == {f"http://127.0.0.1:{station.port}/stream.mp3"},
            f"url-credentials-debug: transcripts with source {sorted(map(str, sources))}")
    station.stop()
    for n in ("wrongkey-debug-logfmt", "wrongkey-debug-json", "wrongkey-token-debug"):
        res = by[n].result
        c.equal(res.rc, 77, f"{n}: exit status (the key refused)")
        c.check("HTTP 401" in res.stderr, f"{n}: the error names HTTP 401", res.stderr[-800:])
    for n in ("refused-debug", "refused-token-debug"):
        res = by[n].result
        c.equal(res.rc, 0, f"{n}: exit status after SIGTERM")
        c.check(re.search(r"refused|Unable to connect|cannot reach", res.stderr),
                f"{n}: the connection failures are logged", res.stderr[-800:])
    c.check(by["key-debug"].result.stderr.count("level=debug") >= 5, "key-debug: the debug level logs debug lines")
    c.check(by["key-debug-json"].result.stderr.lstrip().startswith("{"), "key-debug-json: JSON log lines")

    # Records consumed back from Kafka: every stream's transcripts and events.
    for topic in ("transcripts", "stream-events"):
        rc, msgs, err = awconn.consume(mock.bootstrap, topic, timeout_ms=3000)
        c.check(msgs, f"Kafka {topic}: {len(msgs)} records consumed back", err[-400:])
        texts[f"Kafka {topic}"] = "\n".join(f"{m.get('key')}\t{m.get('value')}" for m in msgs)
        if topic == "stream-events":
            errs = [m["record"] for m in msgs if (m["record"] or {}).get("type") == "error"]
            c.check(len(errs) >= 3, f"Kafka stream-events: {len(errs)} error events (the refusals) among them",
                    "; ".join(str(e.get("reason") or e) for e in errs[:5]))

    # The wire, through the relay.
    sent = b"\n".join(tap.sent()).decode("latin-1")
    tokens = sorted(set(tap.tokens_issued()))
    bearers = tap.bearer_tokens_sent()
    c.check(f"Ocp-Apim-Subscription-Key: {KEY}".lower() in sent.lower(),
            "relay: airwave sent the key to the token endpoint (so it had the right one)")
    c.check(len(tokens) >= 4 and all(TOKEN_SHAPE.fullmatch(t) for t in tokens),
            f"relay: {len(tokens)} tokens issued to airwave")
    c.check(bearers and set(bearers) <= set(tokens),
            f"relay: {len(bearers)} websocket upgrades with Authorization: Bearer, all with issued tokens")
    c.check(KEY not in "\n".join(s.split("\r\n\r\n", 1)[0] for s in sent.split("GET ")[1:]),
            "relay: the upgrades carried no key (tokens only)")
    sd_log = sd.log_text()
    c.check(len(re.findall(r"auth=bearer", sd_log)) >= 4 and len(re.findall(r"auth=key", sd_log)) >= 6,
            f"speechd: {len(re.findall(r'auth=key', sd_log))} sessions opened with the key, "
            f"{len(re.findall(r'auth=bearer', sd_log))} with a bearer token")

    # The search.
    sd.stop()
    tap.close()
    texts["speechd log (debug)"] = sd.log_text()
    secrets = {"KEY": KEY, "WRONG": WRONG, "KPASS": KPASS, "my token": my_token, "URLPASS": URLPASS,
               "URLTOKEN": URLTOKEN, "the station's Basic credentials": basic}
    for i, t in enumerate(tokens):
        secrets[f"token {i}"] = t
    total = sum(len(t) for t in texts.values())
    awtest.log(f"  searching {len(texts)} texts ({total / 1024:.0f} KiB) for {len(secrets)} secrets "
               "and their first and last 8 characters")
    for label, secret in secrets.items():
        hits = [(where, frag, ctx) for where, txt in texts.items()
                for frag, ctx in awops.secret_hits(txt, [secret])]
        c.check(not hits, f"{label} ({secret[:3]}...{len(secret)} chars) appears nowhere",
                "\n        ".join(f"{w}: {f!r} in ...{x}..." for w, f, x in hits[:8]))
    shaped = [(where, m.group(0)) for where, txt in texts.items() for m in TOKEN_SHAPE.finditer(txt)]
    c.check(not shaped, "no 64-hex-digit string (a token's shape) appears anywhere",
            "; ".join(f"{w}: {s}" for w, s in shaped[:6]))
    redacted = sum(t.count("[REDACTED]") for t in texts.values())
    awtest.log(f"  ([REDACTED] appears {redacted} times)")
    mock.quit()
    c.finish()


if __name__ == "__main__":
    main()
