"""Helpers for the connector's integration tests (tests/integration/connector_*.py)
and its benchmark (bench/connector/).

Import with:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    import awtest, awconn

Builds on awtest (locations, Checks, tmpdir, popen, Speechd, samples,
scoring) and adds what the connector needs:

- yaml_dump() / write_config(): a configuration dict as airwave YAML
- airwave_env(): the environment for an airwave run, with no AIRWAVE_* or
  AZURE_SPEECH_KEY leaking in from the caller
- Airwave / start_airwave() / run_airwave(): `airwave run` (or any airwave
  command) in the background or to its end, with stdout, stderr, wall time,
  CPU time and peak RSS (wait4), and sanitizer reports spotted
- KafkaMock: aw-kafka-mock (the standalone librdkafka mock cluster) with its
  command pipe; consume(): aw-kafka-mock consume, parsed
- schemas(), validate_records(): the docs/schema JSON Schemas
- read_jsonl(), transcripts(), events(): records of an output.jsonl file
- phrase checks: overlaps(), duplicate ids, matching by time
- concat_wavs(): a longer recording made of samples, with its reference
- speechd_view(): the audio as speechd's engine decodes a turn (leading
  silence trimmed), for a fair PocketSphinx baseline
- speechd_on_port(), speechd_closes(): airwave-speechd on a fixed port
  (restart after a kill), and its per-session close log lines
"""

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import wave

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import awtest  # noqa: E402
import validate_schema as _vs  # noqa: E402

TRANSCRIPT = "airwave.transcript.v1"
EVENT = "airwave.stream-event.v1"
SPEECH_PATH = "/speech/recognition/conversation/cognitiveservices/v1"
MP3_DELAY_S = 0.069  # samples/README.md: FFmpeg's decode of the MP3s is 1105 samples late

# Text that means a sanitizer or the C runtime caught something.
SANITIZER_RX = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer"
                          r"|runtime error:|Segmentation fault|double free|stack smashing")


def mult():
    return awtest.timeout_mult()


# --------------------------------------------------------------------------
# Configuration


def _yaml_scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    # JSON strings are valid YAML double-quoted scalars.
    return json.dumps(str(v))


def yaml_dump(obj, indent=0):
    """Dump dicts, lists and scalars as block YAML (keys as given, so dotted
    keys such as kafka's "bootstrap.servers" stay one key)."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(yaml_dump(v, indent + 2))
            elif isinstance(v, (dict, list)):
                out.append(f"{pad}{k}: {'{}' if isinstance(v, dict) else '[]'}")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                body = yaml_dump(item, indent + 2).split("\n")
                out.append(f"{pad}- {body[0].lstrip()}")
                out.extend(body[1:])
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(out)


def write_config(conf, name="airwave.yaml"):
    """Write conf (a dict) as YAML into the test's scratch dir; returns the path."""
    path = name if os.path.isabs(name) else os.path.join(awtest.tmpdir(), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(yaml_dump(conf) + "\n")
    return path


def endpoint(port, scheme="ws"):
    return f"{scheme}://127.0.0.1:{port}{SPEECH_PATH}"


def airwave_env(extra=None):
    """os.environ without AIRWAVE_* and AZURE_SPEECH_KEY, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIRWAVE_") and k != "AZURE_SPEECH_KEY"}
    env.update(extra or {})
    return env


def file_streams(paths, live=False, pace=None):
    """streams: entries for {id: path}."""
    out = []
    for sid, path in paths.items():
        st = {"id": sid, "url": path, "live": "true" if live else "false"}
        if pace is not None:
            st["pace"] = pace
        out.append(st)
    return out


# --------------------------------------------------------------------------
# airwave processes


class Result:
    """How an airwave command ended."""

    def __init__(self, argv, rc, stdout, stderr, wall, cpu, maxrss_kb, log_path=None):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        self.wall, self.cpu, self.maxrss_kb, self.log_path = wall, cpu, maxrss_kb, log_path

    @property
    def stderr_lines(self):
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    @property
    def sanitizer(self):
        """The sanitizer/crash lines of stderr (empty when clean)."""
        return [ln for ln in self.stderr.splitlines() if SANITIZER_RX.search(ln)]

    @property
    def crashed(self):
        return self.rc == "timeout" or (isinstance(self.rc, int) and self.rc < 0) or bool(self.sanitizer)

    def describe(self, lines=12):
        tail = "\n".join("        " + ln for ln in self.stderr.splitlines()[-lines:])
        return f"rc={self.rc} wall={self.wall:.1f}s: {' '.join(self.argv)}\n{tail}"


class Airwave:
    """An airwave command in the background; stdout and stderr go to files in
    the scratch dir (stderr is printed when the test fails).

        a = awconn.Airwave(["run", "--config", path, "--log-level", "info"], name="run1")
        ...
        r = a.wait(timeout=120)   # Result: rc, stdout, stderr, wall, cpu, maxrss_kb
    """

    def __init__(self, args, name="airwave", env=None, timeout=None, cwd=None):
        self.name = name
        self.argv = [awtest.binary("airwave")] + [str(a) for a in args]
        d = os.path.join(awtest.tmpdir(), name)
        os.makedirs(d, exist_ok=True)
        self.out_path = os.path.join(d, "stdout")
        self.err_path = os.path.join(d, "stderr")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.timeout = timeout
        self.t0 = time.monotonic()
        self.proc = awtest.popen(self.argv, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                 env=env if env is not None else airwave_env(), cwd=cwd)
        self.result = None
        self._ended = None
        self._waiter = threading.Thread(target=self._reap, daemon=True)
        self._waiter.start()
        awtest.print_file_on_failure(self.err_path, f"{name}: airwave stderr", limit=150)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self._ended is None

    def signal(self, sig=signal.SIGTERM):
        if self.running():
            self.proc.send_signal(sig)

    def stderr_text(self):
        self._err.flush()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _reap(self):
        try:
            _, status, ru = os.wait4(self.proc.pid, 0)
            rc = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped elsewhere
            rc, ru = self.proc.returncode, None
        self.proc.returncode = rc
        self._ended = (rc, ru, time.monotonic())

    def poll(self):
        """True once the process has ended (its wall time, CPU and peak RSS
        are recorded by a thread that waits for it)."""
        return self._ended is not None

    def kill(self):
        """SIGKILL and reap: the result's rc is "timeout"."""
        if self.poll():
            return
        self.proc.kill()
        self._waiter.join(10)
        rc, ru, t = self._ended or (None, None, time.monotonic())
        self._ended = ("timeout", ru, t)

    def wait(self, timeout=None):
        """Wait (bounded; SIGKILL at the deadline: rc "timeout"); returns a Result."""
        if self.result is not None:
            return self.result
        limit = timeout if timeout is not None else self.timeout
        deadline = None if limit is None else time.monotonic() + limit
        while not self.poll():
            if deadline is not None and time.monotonic() > deadline:
                awtest.log(f"[{self.name}] still running {time.monotonic() - self.t0:.0f} s after its start: "
                           "killing it")
                self.kill()
                break
            time.sleep(0.05)
        rc, ru, t_end = self._ended
        wall = t_end - self.t0
        self._out.close()
        self._err.close()
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            out = f.read()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            err = f.read()
        cpu = (ru.ru_utime + ru.ru_stime) if ru else None
        rss = ru.ru_maxrss if ru else None
        self.result = Result(self.argv, rc, out, err, wall, cpu, rss, self.err_path)
        return self.result


def wait_all(jobs, timeout):
    """Wait for every Airwave job (a dict name -> job), killing those still
    running after timeout seconds; returns {name: Result}."""
    deadline = time.monotonic() + timeout
    while not all([j.poll() for j in jobs.values()]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {name: j.wait(0) for name, j in jobs.items()}


def start_airwave(conf, name="airwave", env=None, args=(), log_level="info", timeout=None):
    """Write conf (dict) as NAME/airwave.yaml and start `airwave run --config` on it."""
    d = os.path.join(awtest.tmpdir(), name)
    os.makedirs(d, exist_ok=True)
    path = write_config(conf, os.path.join(d, "airwave.yaml"))
    argv = ["run", "--config", path]
    if log_level:
        argv += ["--log-level", log_level]
    a = Airwave(argv + list(args), name=name, env=env, timeout=timeout)
    a.config_path = path
    return a


def run_airwave(conf, name="airwave", env=None, args=(), log_level="info", timeout=300):
    """start_airwave() and wait (timeout scaled for slow builds); returns a Result."""
    return start_airwave(conf, name, env, args, log_level).wait(timeout * mult())


def run_cli(args, env=None, timeout=60, name=None, input_bytes=None):
    """Run an airwave command to its end in the foreground; returns a Result."""
    argv = [awtest.binary("airwave")] + [str(a) for a in args]
    t0 = time.monotonic()
    p = awtest.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
                     env=env if env is not None else airwave_env())
    try:
        out, err = p.communicate(input_bytes, timeout=timeout * mult())
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = "timeout"
    return Result(argv, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                  time.monotonic() - t0, None, None)


def logfmt_lines(text, **match):
    """Parsed logfmt lines of text whose fields equal match (e.g. mod="stt")."""
    out = []
    for line in text.splitlines():
        if "=" not in line:
            continue
        rec = awtest.parse_logfmt(line)
        if all(rec.get(k) == v for k, v in match.items()):
            out.append(rec)
    return out


def kafka_counts(log_text):
    """{topic: {produced, delivered, failed, dropped}} from the sink's closing
    log lines ("topic T: N produced, N delivered, N failed, N dropped")."""
    out = {}
    for m in re.finditer(r"topic (\S+): (\d+) produced, (\d+) delivered, (\d+) failed, (\d+) dropped", log_text):
        out[m.group(1)] = dict(zip(("produced", "delivered", "failed", "dropped"), map(int, m.groups()[1:])))
    return out


# --------------------------------------------------------------------------
# Kafka: aw-kafka-mock


class KafkaMock:
    """aw-kafka-mock (standalone librdkafka mock cluster on 127.0.0.1) with a
    command pipe: command("down 1") -> "OK"."""

    def __init__(self, brokers=1, name="kafka-mock", topics=()):
        self.name = name
        self.err_path = os.path.join(awtest.tmpdir(), f"{name}.err")
        self._err = open(self.err_path, "w")
        argv = [awtest.binary("aw-kafka-mock"), "--brokers", str(brokers)]
        for t in topics:
            argv += ["--topic", t]
        self.p = awtest.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True)
        line = self._readline(15)
        if not line.startswith("BOOTSTRAP "):
            awtest.fail(f"aw-kafka-mock printed {line!r}, not BOOTSTRAP")
        self.bootstrap = line.split()[1]
        awtest.log(f"[{name}] aw-kafka-mock pid {self.p.pid}, {brokers} broker(s): {self.bootstrap}")

    def _readline(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout * mult())
        if not r:
            awtest.fail(f"{self.name}: aw-kafka-mock did not answer within {timeout * mult()} s")
        return self.p.stdout.readline().strip()

    def command(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self._readline(10)

    def quit(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
            except OSError:
                pass
            try:
                return self.p.wait(timeout=10 * mult())
            except subprocess.TimeoutExpired:
                self.p.kill()
                return self.p.wait()
        return self.p.returncode


def consume(bootstrap, topic, expect=None, timeout_ms=5000):
    """Every message of topic from the beginning: (rc, [msg], stderr); each msg
    is {key, partition, offset, value, record (parsed value or None)}."""
    argv = [awtest.binary("aw-kafka-mock"), "consume", "--bootstrap", bootstrap, "--topic", topic,
            "--timeout-ms", str(int(timeout_ms * mult()))]
    if expect:
        argv += ["--expect", str(expect)]
    r = subprocess.run(argv, capture_output=True, timeout=120 * mult(), check=False)
    msgs = []
    for ln in r.stdout.decode("utf-8").splitlines():
        if not ln.strip():
            continue
        m = json.loads(ln)
        try:
            m["record"] = json.loads(m["value"])
        except (TypeError, ValueError):
            m["record"] = None
        msgs.append(m)
    return r.returncode, msgs, r.stderr.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Records

_schemas = {}


def schemas():
    """{schema name: loaded JSON Schema} of docs/schema/."""
    if not _schemas:
        d = os.path.join(awtest.source_dir(), "docs", "schema")
        for name, fn in ((TRANSCRIPT, "transcript.v1.json"), (EVENT, "stream-event.v1.json")):
            try:
                _schemas[name] = _vs.load_schema(os.path.join(d, fn))
            except (OSError, ValueError, _vs.SchemaError) as e:
                awtest.fail(f"{d}/{fn}: {e}")
    return _schemas


def validate_raw(raw, schema_name=None):
    """Problems ([str]) of one raw record (bytes or str): strict parse (UTF-8,
    no NaN, no duplicate keys) and its schema (from its own "schema" member
    unless schema_name is given)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    try:
        rec = _vs.parse_record(raw)
    except (UnicodeError, ValueError) as e:
        return [f"not a valid record: {e}"]
    name = schema_name or (rec.get("schema") if isinstance(rec, dict) else None)
    sch = schemas().get(name)
    if sch is None:
        return [f"unknown schema {name!r}"]
    return [f"{p}: {e}" for p, e in _vs.validate(sch, rec)]


def validate_messages(msgs, schema_name):
    """Problems of Kafka messages (from consume()): schema, and key == stream_id."""
    problems = []
    for m in msgs:
        where = f"p{m['partition']}@{m['offset']}"
        problems += [f"{where}: {p}" for p in validate_raw(m["value"], schema_name)]
        rec = m.get("record") or {}
        if rec.get("stream_id") != m.get("key"):
            problems.append(f"{where}: key {m.get('key')!r} != stream_id {rec.get('stream_id')!r}")
    return problems


def read_jsonl(path):
    """[(raw line, record)] of a JSONL file (missing file: [])."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, "rb") as f:
        for ln in f:
            ln = ln.rstrip(b"\n")
            if ln.strip():
                try:
                    out.append((ln, json.loads(ln)))
                except ValueError:
                    out.append((ln, None))
    return out


def transcripts(recs, stream=None):
    """Transcript records (dicts) of recs (dicts, or (raw, dict) pairs), in order."""
    out = []
    for r in recs:
        if isinstance(r, tuple):
            r = r[1]
        if r and r.get("schema") == TRANSCRIPT and (stream is None or r.get("stream_id") == stream):
            out.append(r)
    return out


def events(recs, stream=None, kind=None):
    out = []
    for r in recs:
        if isinstance(r, tuple):
            r = r[1]
        if r and r.get("schema") == EVENT and (stream is None or r.get("stream_id") == stream) \
                and (kind is None or r.get("type") == kind):
            out.append(r)
    return out


def phrases(trs):
    """[(start_s, end_s, text)] of transcript records, on the capture session timeline."""
    return [(t["offset_ms"] / 1000.0, (t["offset_ms"] + t["duration_ms"]) / 1000.0, t.get("text", "")) for t in trs]


def text_of(trs):
    return " ".join(t.get("text", "") for t in trs)


def duplicates(values):
    seen, dup = set(), []
    for v in values:
        if v in seen:
            dup.append(v)
        seen.add(v)
    return dup


def overlaps(trs):
    """Pairs of consecutive transcripts (in order) whose [offset, offset+duration)
    intervals overlap or go backwards; [] when sorted and disjoint."""
    bad = []
    for a, b in zip(trs, trs[1:]):
        if b["offset_ms"] < a["offset_ms"] + a["duration_ms"]:
            bad.append((a, b))
    return bad


def overlap_s(a, b):
    """Seconds two (start, end, ...) intervals share."""
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def parse_time(s):
    """A record time ("2026-11-26T12:00:01.230Z") as seconds since the epoch."""
    import datetime
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def found_in(phrase, others, min_share=0.5):
    """The phrase of others overlapping phrase (start, end, text) by the largest
    share of phrase's duration, if at least min_share; else None."""
    dur = max(phrase[1] - phrase[0], 1e-3)
    best = max(others, key=lambda o: overlap_s(phrase, o), default=None)
    if best is None or overlap_s(phrase, best) / dur < min_share:
        return None
    return best


# --------------------------------------------------------------------------
# Audio


def concat_wavs(samples, name, gap_s=0.0):
    """Join the WAVs of samples (awtest.Sample) into NAME.wav in the scratch
    dir, with gap_s of digital silence between them. Returns (path, reference
    text, [(start_s, end_s, text)] reference phrases on the joined timeline)."""
    path = os.path.join(awtest.tmpdir(), f"{name}.wav")
    ref_text, ref_phrases, t = [], [], 0.0
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        for i, s in enumerate(samples):
            if not s.wav:
                awtest.fail(f"{s.name}: no WAV in samples/")
            if i and gap_s:
                n = int(gap_s * 16000)
                w.writeframes(b"\0\0" * n)
                t += n / 16000
            with wave.open(s.wav, "rb") as r:
                if (r.getframerate(), r.getnchannels(), r.getsampwidth()) != (16000, 1, 2):
                    awtest.fail(f"{s.wav}: not 16 kHz mono s16")
                frames = r.readframes(r.getnframes())
                n = r.getnframes()
            w.writeframes(frames)
            ref_text.append(s.reference)
            ref_phrases += [(a + t, b + t, txt) for a, b, txt in s.phrases]
            t += n / 16000
    return path, "\n".join(ref_text), ref_phrases


def speechd_view(wav, quiet=64, lead_s=0.5):
    """The audio as airwave-speechd's PocketSphinx engine decodes a turn that
    starts with it (docs/speechd.md §6): when it begins with more than lead_s
    of near-digital silence (no sample above +-quiet), decoding starts lead_s
    before the first audible sample. Returns (path, seconds cut): wav itself
    and 0.0 when nothing is cut, else a trimmed copy in the scratch dir."""
    import array
    with wave.open(wav, "rb") as r:
        rate = r.getframerate()
        a = array.array("h", r.readframes(r.getnframes()))
    if sys.byteorder != "little":
        a.byteswap()
    first = next((i for i, x in enumerate(a) if abs(x) > quiet), len(a))
    cut = first - int(lead_s * rate)
    if cut <= 0:
        return wav, 0.0
    dst = os.path.join(awtest.tmpdir(), os.path.basename(wav)[:-4] + ".speechd-view.wav")
    with wave.open(dst, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        b = a[cut:]
        if sys.byteorder != "little":
            b.byteswap()
        w.writeframes(b.tobytes())
    return dst, cut / rate


# --------------------------------------------------------------------------
# speechd


def speechd_on_port(port, name, **kw):
    """An awtest.Speechd listening on 127.0.0.1:PORT (the later --listen wins)."""
    extra = list(kw.pop("extra", ())) + ["--listen", f"127.0.0.1:{port}"]
    return awtest.Speechd(name=name, extra=extra, **kw)


def speechd_closes(sd, reason=None):
    """speechd's per-session close log lines (dicts), optionally with this reason prefix."""
    out = []
    for line in sd.log_text().splitlines():
        if not re.search(awtest.SESSION_CLOSE_RX, line):
            continue
        rec = awtest.parse_logfmt(line)
        msg = awtest.parse_logfmt(rec.get("msg", ""))
        rec.update({f"close.{k}": v for k, v in msg.items()})
        if reason is None or rec.get("msg", "").find(f'reason="{reason}') >= 0 \
                or msg.get("reason", "").startswith(reason):
            out.append(rec)
    return out
