"""Helpers for airwave's integration tests (tests/integration/*.py).

Import with:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    import awtest

What is here:
- where things are: source_dir(), build_dir(), binary(), samples_dir(); ctest sets
  AW_SOURCE_DIR, AW_BUILD_DIR, AW_TIMEOUT_MULT (sanitizer builds run slower)
- Checks: named assertions that print clear figures and a closing
  "N passed, N failed" line; fail() for a fatal error
- tmpdir(): this test's scratch directory (kept, and named, when the test fails)
- Speechd: airwave-speechd on 127.0.0.1 port 0 with --port-file, stderr to a
  log that is printed when the test fails; always killed when the test exits
- node tools: transcribe() / start_transcribe() (the Azure Speech SDK client
  tests/tools/sdk/transcribe.js), raw() (tests/tools/sdk/raw.js)
- media: decode_wav() (ffmpeg -> 16 kHz mono s16 WAV), wav_seconds()
- samples: load_samples(), long_sample(), Sample (reference text and phrases)
- scoring: wer_figures() via tests/tools/wer.py, ps_baseline() (PocketSphinx
  decoding the same WAV directly, cached), match_phrases() (phrase
  boundaries against a reference)
- print_table()

Nothing is skipped silently: a missing prerequisite is a failure whose
message says how to get it.
"""

import atexit
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import wer as _wer  # noqa: E402  (tests/tools/wer.py)

TICKS_PER_SECOND = 10_000_000


# --------------------------------------------------------------------------
# Locations and environment


def source_dir():
    """The source tree: $AW_SOURCE_DIR, else the tree this file is in."""
    return os.environ.get("AW_SOURCE_DIR") or os.path.dirname(os.path.dirname(_HERE))


def build_dir():
    """The build tree: $AW_BUILD_DIR (set by ctest), else SOURCE/build."""
    return os.environ.get("AW_BUILD_DIR") or os.path.join(source_dir(), "build")


def timeout_mult():
    """How much slower this build runs (3 under sanitizers), from ctest."""
    try:
        return max(1, int(os.environ.get("AW_TIMEOUT_MULT", "1")))
    except ValueError:
        return 1


def is_sanitized():
    return timeout_mult() > 1


def binary(name):
    """Path of a built program; a failure if it was not built."""
    p = os.path.join(build_dir(), name)
    if not os.access(p, os.X_OK):
        fail(f"{p} does not exist: build it first (cmake --build {build_dir()})")
    return p


def samples_dir():
    return os.path.join(source_dir(), "samples")


def sdk_dir():
    return os.path.join(source_dir(), "tests", "tools", "sdk")


def require_node_modules():
    """Fail, with the fix, when the SDK test client's npm packages are missing."""
    nm = os.path.join(sdk_dir(), "node_modules", "microsoft-cognitiveservices-speech-sdk")
    if not os.path.isdir(nm):
        fail(f"{nm} is missing: run scripts/install-deps.sh "
             f"(or npm ci --prefix {os.path.relpath(sdk_dir(), source_dir())})")
    if not shutil.which("node"):
        fail("node is not on PATH: Node 20 is needed for the Azure Speech SDK test client")


def require_tools(*names):
    missing = [n for n in names if not shutil.which(n)]
    if missing:
        fail(f"missing tools: {', '.join(missing)}: run scripts/install-deps.sh")


# --------------------------------------------------------------------------
# Assertions and reporting

_state = {"failed": False, "keep": False}


def log(msg=""):
    print(msg, flush=True)


def fail(msg):
    """A fatal failure: print it, run the exit hooks (logs, cleanup), exit 1."""
    _state["failed"] = True
    print(f"FATAL: {msg}", flush=True)
    sys.exit(1)


class Checks:
    """Named checks; each prints one line. finish() prints the tally and exits.

        c = Checks("speechd samples")
        c.check(wer <= base + 2, f"{name}: SDK WER {wer:.1f} % <= PocketSphinx {base:.1f} % + 2")
        c.finish()
    """

    def __init__(self, title):
        self.title = title
        self.passed = 0
        self.failed = []
        self.t0 = time.monotonic()
        log(f"=== {title}")

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            log(f"  ok    {what}")
        else:
            self.failed.append(what)
            _state["failed"] = True
            log(f"  FAIL  {what}" + (f"\n        {detail}" if detail else ""))
        return bool(ok)

    def equal(self, got, want, what):
        return self.check(got == want, f"{what}: got {got!r}, want {want!r}")

    def finish(self):
        dt = time.monotonic() - self.t0
        log(f"=== {self.title}: {self.passed} checks passed, {len(self.failed)} failed ({dt:.1f} s)")
        for f in self.failed:
            log(f"    failed: {f}")
        # The plain closing line test runners recognise.
        log(f"{self.passed} passed, {len(self.failed)} failed")
        sys.exit(1 if self.failed else 0)


def print_table(headers, rows, title=None):
    """Print rows (lists) under headers as an aligned, quotable text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        log(title)
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    log(line(cells[0]))
    log("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        log(line(r))


# --------------------------------------------------------------------------
# Scratch space and process cleanup

_tmp = {"dir": None}
_procs = []


def tmpdir():
    """This test's scratch directory; removed at exit unless the test failed."""
    if _tmp["dir"] is None:
        base = os.environ.get("AW_TMPDIR") or None
        _tmp["dir"] = tempfile.mkdtemp(prefix="awtest-", dir=base)
    return _tmp["dir"]


def _set_pdeathsig():
    # The child dies with SIGKILL if this test process dies (e.g. a ctest
    # timeout kills it), so no server outlives its test.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _cleanup():
    for p in list(_procs):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    for hook in _exit_hooks:
        try:
            hook()
        except Exception as e:  # noqa: BLE001  (report, keep cleaning up)
            print(f"(exit hook failed: {e})")
    d = _tmp["dir"]
    if d and os.path.isdir(d):
        if _state["failed"] or _state["keep"] or os.environ.get("AW_KEEP_TMP"):
            print(f"(scratch files kept in {d})", flush=True)
        else:
            shutil.rmtree(d, ignore_errors=True)


_exit_hooks = []
atexit.register(_cleanup)


def _on_signal(signum, _frame):
    _state["failed"] = True
    print(f"FATAL: killed by signal {signum}", flush=True)
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


def _excepthook(kind, value, tb):
    # An uncaught exception fails the test: keep the scratch files, print logs.
    _state["failed"] = True
    sys.__excepthook__(kind, value, tb)


sys.excepthook = _excepthook


def popen(argv, **kw):
    """subprocess.Popen that is killed when the test exits."""
    p = subprocess.Popen(argv, preexec_fn=_set_pdeathsig, **kw)  # noqa: PLW1509
    _procs.append(p)
    return p


# --------------------------------------------------------------------------
# airwave-speechd

_LOGFMT = re.compile(r'(\w[\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line):
    """Parse one logfmt line into a dict (quoted values unescaped)."""
    out = {}
    for k, v in _LOGFMT.findall(line):
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[k] = v
    return out


class Speechd:
    """airwave-speechd on 127.0.0.1, port 0; stderr to a log file.

        with awtest.Speechd(key="k1", extra=["--max-connection-seconds", "5"]) as sd:
            sd.url()          # ws://127.0.0.1:PORT/speech/recognition/conversation/cognitiveservices/v1
            sd.base           # ws://127.0.0.1:PORT
            sd.sessions_opened()

    The log is printed when the test fails. stop() sends SIGTERM and returns
    the exit status (speechd must exit 0).
    """

    def __init__(self, name="speechd", engine="pocketsphinx", key=None, extra=(), log_level=None,
                 start_timeout=30, program=None):
        self.name = name
        self.program = program  # default: BUILD/airwave-speechd
        self.engine = engine
        self.key = key
        self.extra = list(extra)
        # AW_SPEECHD_LOG_LEVEL=debug turns on speechd's debug log in every test.
        self.log_level = log_level or os.environ.get("AW_SPEECHD_LOG_LEVEL")
        self.start_timeout = start_timeout * timeout_mult()
        self.proc = None
        self.port = None
        self.exit_code = None
        d = os.path.join(tmpdir(), name)
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.log_path = os.path.join(d, "speechd.log")
        self.port_file = os.path.join(d, "port")
        self.argv = None

    def start(self):
        argv = [self.program or binary("airwave-speechd"), "--listen", "127.0.0.1:0", "--port-file", self.port_file]
        if self.engine:
            argv += ["--engine", self.engine]
        if self.key is not None:
            kf = os.path.join(self.dir, "key")
            with open(kf, "w", encoding="utf-8") as f:
                f.write(self.key + "\n")
            os.chmod(kf, 0o600)
            argv += ["--key-file", kf]
        if self.log_level:
            argv += ["--log-level", self.log_level]
        argv += self.extra
        self.argv = argv
        self._log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.pop("AIRWAVE_SPEECHD_KEY", None)  # only --key-file decides
        self.proc = popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        _exit_hooks.insert(0, self._print_log_if_failed)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._dump_log()
                fail(f"{self.name}: airwave-speechd exited with {self.proc.returncode} before listening: "
                     f"{' '.join(argv)}")
            try:
                with open(self.port_file, encoding="ascii") as f:
                    txt = f.read()
                if txt.endswith("\n") and txt.strip().isdigit():
                    self.port = int(txt)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        if self.port is None:
            self._dump_log()
            fail(f"{self.name}: no port in {self.port_file} after {self.start_timeout} s")
        self.base = f"ws://127.0.0.1:{self.port}"
        log(f"[{self.name}] airwave-speechd pid {self.proc.pid} on port {self.port}: "
            f"{' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv))}")
        return self

    def url(self, mode="conversation"):
        return f"{self.base}/speech/recognition/{mode}/cognitiveservices/v1"

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            self._log.flush()
        except (ValueError, AttributeError):
            pass
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def log_records(self):
        """The log as a list of dicts (logfmt), one per line."""
        return [parse_logfmt(line) for line in self.log_text().splitlines() if line.strip()]

    def count_log(self, pattern):
        """Number of log lines matching the regular expression."""
        rx = re.compile(pattern)
        return sum(1 for line in self.log_text().splitlines() if rx.search(line))

    def sessions_opened(self):
        """Number of websocket sessions opened, from the per-session log lines."""
        return self.count_log(SESSION_OPEN_RX)

    def stop(self, timeout=20):
        """SIGTERM, wait; returns the exit status (-9 if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout * timeout_mult())
            except subprocess.TimeoutExpired:
                log(f"[{self.name}] did not exit {timeout} s after SIGTERM: killing it")
                self.proc.kill()
                self.proc.wait()
                self.exit_code = -9
        if self.exit_code is None:
            self.exit_code = self.proc.returncode
        try:
            self._log.close()
        except (ValueError, AttributeError):
            pass
        return self.exit_code

    def _dump_log(self, limit=400):
        lines = self.log_text().splitlines()
        log(f"----- {self.name} log ({self.log_path}, {len(lines)} lines"
            + (f", last {limit}" if len(lines) > limit else "") + ")")
        for line in lines[-limit:]:
            log("  " + line)
        log(f"----- end of {self.name} log")

    def _print_log_if_failed(self):
        if _state["failed"] and os.path.exists(self.log_path):
            self._dump_log()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None and exc[0] is not SystemExit:
            _state["failed"] = True
        self.stop()
        return False


# speechd logs one line per session open and close (logfmt). Adjust here if
# its wording changes; docs/speechd.md has the format.
SESSION_OPEN_RX = r"\bsession=\S+ msg=\"open\b"
SESSION_CLOSE_RX = r"\bsession=\S+ msg=\"close\b"


# --------------------------------------------------------------------------
# Node test clients

def _node_argv(script, args, global_websocket=False):
    require_node_modules()
    argv = ["node"]
    if global_websocket:
        argv.append("--experimental-websocket")
    argv += [os.path.join(sdk_dir(), script)] + [str(a) for a in args]
    return argv


class NodeJob:
    """A node tool running in the background; result() waits and parses its JSON lines."""

    def __init__(self, argv, label, timeout):
        self.label = label
        self.argv = argv
        self.timeout = timeout
        d = tmpdir()
        safe = re.sub(r"[^\w.-]+", "_", label)[:80]
        self.out_path = os.path.join(d, f"{safe}.{os.getpid()}.{id(self)}.out")
        self.err_path = self.out_path[:-4] + ".err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.t0 = time.monotonic()
        self.proc = popen(argv, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)
        self._result = None

    def running(self):
        return self.proc.poll() is None

    def wait_event(self, kind, timeout=20):
        """Wait until the tool has printed an {"event": kind} line; returns it, or None."""
        deadline = time.monotonic() + timeout * timeout_mult()
        while time.monotonic() < deadline:
            self._out.flush()
            with open(self.out_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if f'"event":"{kind}"' in line:
                        try:
                            return json.loads(line)
                        except json.JSONDecodeError:
                            pass
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def result(self):
        if self._result is not None:
            return self._result
        try:
            rc = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "timeout"
        wall = time.monotonic() - self.t0
        self._out.close()
        self._err.close()
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        events = []
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        self._result = NodeResult(self.label, self.argv, rc, events, stdout, stderr, wall)
        return self._result


class NodeResult:
    def __init__(self, label, argv, rc, events, stdout, stderr, wall):
        self.label, self.argv, self.rc, self.events = label, argv, rc, events
        self.stdout, self.stderr, self.wall = stdout, stderr, wall

    def to_dict(self):
        return {"label": self.label, "argv": self.argv, "rc": self.rc, "events": self.events,
                "stdout_tail": self.stdout[-4000:], "stderr": self.stderr[-4000:], "wall": self.wall}

    @classmethod
    def from_dict(cls, d):
        return cls(d["label"], d["argv"], d["rc"], d["events"], d.get("stdout_tail", ""), d.get("stderr", ""),
                   d["wall"])

    @property
    def summary(self):
        s = [e for e in self.events if e.get("event") == "summary"]
        return s[-1] if s else {}

    @property
    def recognized(self):
        """Success phrases: dicts with text, offset, duration (ticks)."""
        return [e for e in self.events if e.get("event") == "recognized" and e.get("reason") == "RecognizedSpeech"]

    @property
    def text(self):
        return " ".join(e["text"] for e in self.recognized if e.get("text"))

    def of(self, kind):
        return [e for e in self.events if e.get("event") == kind]

    @property
    def ok(self):
        return self.rc == 0 and self.summary.get("ok") is True

    def describe(self):
        """The command, exit status, and the tail of its output, for a failure message."""
        tail = "\n".join(("        " + ln) for ln in (self.stdout.splitlines()[-8:] + self.stderr.splitlines()[-8:]))
        return f"rc={self.rc} wall={self.wall:.1f}s: {' '.join(self.argv)}\n{tail}"


def start_transcribe(url, wav, fmt="simple", key=None, token=None, language="en-US", unthrottled=True,
                     throttle_ms=None, pace=None, global_websocket=False, word_timings=False, max_retries=None,
                     timeout=300, label=None, trace=False):
    """Start tests/tools/sdk/transcribe.js (the Azure Speech SDK) in the background.

    unthrottled: the SDK sends audio as fast as it can (default); throttle_ms:
    SPEECH-TransmitLengthBeforThrottleMs (0: 2x real time from the start);
    pace: feed the SDK's push stream at pace x real time, like a live source.
    """
    args = ["--url", url, "--wav", wav, "--format", fmt]
    if pace is not None:
        args += ["--pace", pace]
    if key is not None:
        args += ["--key", key]
    if token is not None:
        args += ["--token", token]
    if language is not None:
        args += ["--language", language]
    if throttle_ms is not None:
        args += ["--throttle-ms", throttle_ms]
    elif unthrottled:
        args.append("--unthrottled")
    if word_timings:
        args.append("--word-timings")
    if max_retries is not None:
        args += ["--max-retries", max_retries]
    if trace:
        args.append("--trace")
    t = timeout * timeout_mult()
    args += ["--timeout", t]
    label = label or f"sdk-{os.path.basename(wav)}-{fmt}"
    return NodeJob(_node_argv("transcribe.js", args, global_websocket), label, t + 30)


def transcribe(*a, **kw):
    """Run transcribe.js to the end; returns a NodeResult."""
    return start_transcribe(*a, **kw).result()


def start_raw(base, cases, key=None, key_in=None, wav=None, timeout=5, label="raw"):
    args = ["--base", base, "--cases", json.dumps(cases), "--timeout", timeout * timeout_mult()]
    if key is not None:
        args += ["--key", key]
    if key_in:
        args += ["--key-in", key_in]
    if wav:
        args += ["--wav", wav]
    total = 30 + len(cases) * (timeout + 5) * timeout_mult()
    return NodeJob(_node_argv("raw.js", args), label, total)


def raw(*a, **kw):
    """Run raw.js cases; returns a list of per-case result dicts (in order)."""
    r = start_raw(*a, **kw).result()
    if r.rc != 0:
        fail(f"raw.js failed: {r.describe()}")
    return r.events


# --------------------------------------------------------------------------
# Results handed from a ctest fixture-setup test to the tests that check them

def print_file_on_failure(path, title=None, limit=400):
    """When the test fails, print the file (e.g. a saved speechd log) at exit."""
    def hook():
        if _state["failed"] and os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
            log(f"----- {title or path} ({len(lines)} lines" + (f", last {limit}" if len(lines) > limit else "") + ")")
            for line in lines[-limit:]:
                log("  " + line)
            log(f"----- end of {title or path}")
    _exit_hooks.append(hook)


def results_path(name):
    d = os.path.join(build_dir(), "test-results")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"{name}.json")


def save_results(name, obj):
    """Write obj (JSON) as BUILD/test-results/NAME.json, atomically."""
    path = results_path(name)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
    return path


def load_results(name, setup_test, newer_than=()):
    """Read BUILD/test-results/NAME.json written by the fixture-setup test
    setup_test; a failure if it is missing or older than any of newer_than
    (e.g. the speechd binary: results of an older build are stale)."""
    path = results_path(name)
    if not os.path.exists(path):
        fail(f"{path} is missing: it is written by the ctest fixture {setup_test}, which ctest runs first "
             f"(ctest -R '{setup_test}|...'); run that test")
    mtime = os.path.getmtime(path)
    stale = [p for p in newer_than if os.path.exists(p) and os.path.getmtime(p) > mtime]
    if stale:
        fail(f"{path} is older than {', '.join(stale)}: run {setup_test} again")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------
# Media

def decode_wav(src, dst=None):
    """Decode any media file to 16 kHz mono s16le WAV with ffmpeg (as
    tests/tools/ps_baseline.sh does, bit-exact); returns the WAV path."""
    require_tools("ffmpeg")
    if dst is None:
        base = os.path.splitext(os.path.basename(src))[0]
        ext = os.path.splitext(src)[1].lstrip(".")
        dst = os.path.join(tmpdir(), f"{base}.{ext}.16k.wav")
    if os.path.exists(dst):
        return dst
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-ac", "1", "-ar", "16000",
                    "-c:a", "pcm_s16le", "-map_metadata", "-1", "-flags", "+bitexact", "-fflags", "+bitexact",
                    dst], check=True)
    return dst


def is_pcm16k_mono(path):
    try:
        with wave.open(path, "rb") as w:
            return w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
    except (wave.Error, EOFError, OSError):
        return False


def pcm16k_wav(path):
    """path itself when it already is a 16 kHz mono s16 WAV, else a decoded copy."""
    return path if path.lower().endswith(".wav") and is_pcm16k_mono(path) else decode_wav(path)


def wav_clip(src, start_s, seconds, dst=None):
    """Write seconds of src (a WAV) from start_s to a new WAV; returns its path."""
    if dst is None:
        dst = os.path.join(tmpdir(), f"{os.path.splitext(os.path.basename(src))[0]}.{start_s:g}+{seconds:g}.wav")
    with wave.open(src, "rb") as r:
        r.setpos(min(r.getnframes(), int(start_s * r.getframerate())))
        frames = r.readframes(int(seconds * r.getframerate()))
        with wave.open(dst, "wb") as w:
            w.setnchannels(r.getnchannels())
            w.setsampwidth(r.getsampwidth())
            w.setframerate(r.getframerate())
            w.writeframes(frames)
    return dst


def wav_seconds(path):
    with wave.open(path, "rb") as w:
        return w.getnframes() / w.getframerate()


# --------------------------------------------------------------------------
# Samples

class Sample:
    """samples/NAME.{wav,mp3} with NAME.txt (reference) and NAME.phrases.tsv."""

    def __init__(self, name, directory):
        self.name = name
        self.dir = directory
        p = lambda ext: os.path.join(directory, name + ext)  # noqa: E731
        self.wav = p(".wav") if os.path.exists(p(".wav")) else None
        self.mp3 = p(".mp3") if os.path.exists(p(".mp3")) else None
        self.txt_path = p(".txt")
        with open(self.txt_path, encoding="utf-8") as f:
            self.reference = f.read().strip()
        self.phrases = []
        if os.path.exists(p(".phrases.tsv")):
            self.phrases = read_phrases_tsv(p(".phrases.tsv"))
        self.voice = _sample_voices(directory).get(name)

    @property
    def words(self):
        return len(_wer.words(self.reference))

    @property
    def media(self):
        return self.wav or self.mp3

    def pcm_wav(self):
        """A 16 kHz mono s16 WAV of this sample (the WAV itself, or the MP3 decoded)."""
        return pcm16k_wav(self.media)


def read_phrases_tsv(path):
    """[(start_s, end_s, text)] from a `start\\tend\\ttext` file ('#' comments and a header allowed)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t", 2)
            if len(parts) < 2:
                continue
            try:
                out.append((float(parts[0]), float(parts[1]), parts[2] if len(parts) > 2 else ""))
            except ValueError:
                continue  # a header line
    return out


_voices_cache = {}


def _sample_voices(directory):
    """NAME -> voice: from the generator scripts samples/source/NAME.script
    (lines "VOICE TEXT", "pause S", "music S"), else from samples/voices.tsv,
    samples/manifest.tsv or a README.md table with a voice column."""
    if directory in _voices_cache:
        return _voices_cache[directory]
    voices = {}
    src = os.path.join(directory, "source")
    if os.path.isdir(src):
        for fn in sorted(os.listdir(src)):
            if not fn.endswith(".script"):
                continue
            used, music = [], False
            with open(os.path.join(src, fn), encoding="utf-8") as f:
                for ln in f:
                    w = ln.split(None, 1)
                    if not w or w[0].startswith("#") or w[0] == "pause":
                        continue
                    if w[0] == "music":
                        music = True
                    elif w[0] not in used:
                        used.append(w[0])
            if used:
                voices[fn[:-7]] = "flite " + "+".join(used) + (" + music" if music else "")
    if voices:
        _voices_cache[directory] = voices
        return voices
    for fn in ("voices.tsv", "manifest.tsv", "samples.tsv"):
        path = os.path.join(directory, fn)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                rows = [ln.rstrip("\n").split("\t") for ln in f if ln.strip() and not ln.startswith("#")]
            if rows:
                head = [h.strip().lower() for h in rows[0]]
                if "voice" in head:
                    ni = head.index("name") if "name" in head else 0
                    vi = head.index("voice")
                    for r in rows[1:]:
                        if len(r) > max(ni, vi):
                            voices[os.path.splitext(r[ni].strip())[0]] = r[vi].strip()
    readme = os.path.join(directory, "README.md")
    if not voices and os.path.exists(readme):
        with open(readme, encoding="utf-8") as f:
            rows = [ln for ln in f if ln.startswith("|")]
        head = None
        for ln in rows:
            cells = [c.strip().strip("`*") for c in ln.strip().strip("|").split("|")]
            low = [c.lower() for c in cells]
            if head is None:
                if any("voice" in c for c in low):
                    head = low
                continue
            if set("".join(cells)) <= set("-: "):
                continue
            vi = next(i for i, c in enumerate(head) if "voice" in c)
            ni = next((i for i, c in enumerate(head) if c in ("sample", "name", "file")), 0)
            if len(cells) > max(vi, ni):
                voices[os.path.splitext(cells[ni])[0]] = cells[vi]
    _voices_cache[directory] = voices
    return voices


LONG_SAMPLE = "long-news"


def load_samples(include_long=False):
    """The short samples (every NAME.txt with a NAME.wav or NAME.mp3), sorted by name."""
    d = samples_dir()
    if not os.path.isdir(d):
        fail(f"{d} does not exist")
    out = []
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".txt") or fn.endswith(".phrases.txt"):
            continue
        name = fn[:-4]
        if name == LONG_SAMPLE and not include_long:
            continue
        if os.path.exists(os.path.join(d, name + ".wav")) or os.path.exists(os.path.join(d, name + ".mp3")):
            out.append(Sample(name, d))
    return out


def long_sample():
    d = samples_dir()
    if not os.path.exists(os.path.join(d, LONG_SAMPLE + ".txt")):
        fail(f"{d}/{LONG_SAMPLE}.txt is missing")
    s = Sample(LONG_SAMPLE, d)
    if not s.media:
        fail(f"{d}/{LONG_SAMPLE}.mp3 is missing")
    return s


# --------------------------------------------------------------------------
# Scoring

def wer_figures(reference, hypothesis):
    """(errors, reference words, WER in percent) of hypothesis text against reference text."""
    errors, n = _wer.wer(_wer.words(reference), _wer.words(hypothesis))
    return errors, n, (100.0 * errors / n if n else 100.0 * errors)


def wer_pct(reference, hypothesis):
    return wer_figures(reference, hypothesis)[2]


def _cache_dir():
    """Where slow, deterministic results (PocketSphinx baselines) are kept,
    keyed by content hashes: $AW_TEST_CACHE, else a directory under the
    system temp dir, shared by every build tree (plain and sanitizer)."""
    d = os.environ.get("AW_TEST_CACHE") or os.path.join(tempfile.gettempdir(), f"airwave-test-cache-{os.getuid()}")
    os.makedirs(d, exist_ok=True)
    return d


def _file_hash(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def ps_baseline(wav):
    """PocketSphinx's own transcript of wav (tests/tools/ps_baseline.sh, which
    runs pocketsphinx_continuous with the model speechd uses). Cached (see
    _cache_dir) by the hash of the audio, the script and the model."""
    require_tools("pocketsphinx_continuous")
    script = os.path.join(source_dir(), "tests", "tools", "ps_baseline.sh")
    model = os.environ.get("AW_PS_MODEL_DIR") or "/usr/share/pocketsphinx/model/en-us"
    key = hashlib.sha256((_file_hash(wav, script) + model).encode()).hexdigest()[:32]
    cached = os.path.join(_cache_dir(), f"ps-{key}.txt")
    if os.path.exists(cached):
        with open(cached, encoding="utf-8") as f:
            return f.read()
    # Niced: it runs beside latency-sensitive sessions.
    r = subprocess.run(["nice", "-n", "15", "sh", script, wav], capture_output=True, text=True,
                       timeout=900 * timeout_mult(), check=False)
    if r.returncode != 0:
        fail(f"ps_baseline.sh {wav} failed ({r.returncode}): {r.stderr[-2000:]}")
    tmp = f"{cached}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(r.stdout)
    os.replace(tmp, cached)
    return r.stdout


def start_ps_baseline(wav):
    """ps_baseline() in a thread: returns an object whose result() is the text."""
    import threading

    class _Job:
        def __init__(self):
            self.value = None
            self.error = None
            self.t = threading.Thread(target=self._run, daemon=True)
            self.t.start()

        def _run(self):
            try:
                self.value = ps_baseline(wav)
            except SystemExit as e:
                self.error = e
            except Exception as e:  # noqa: BLE001
                self.error = e

        def result(self):
            self.t.join()
            if self.error is not None:
                fail(f"PocketSphinx baseline for {wav} failed: {self.error}")
            return self.value

    return _Job()


def match_phrases(recognized, reference, tol=0.5):
    """Match recognized phrases [(start_s, end_s, text)] to reference phrases.

    Each recognized phrase is matched to the reference phrase it overlaps
    most. It "matches" when both ends are within tol seconds of that
    reference phrase's ends. A recognized phrase that overlaps two or more
    reference phrases by more than tol each is a "merge"; it is also
    compared with the span from the first to the last of them
    ("merged_match"). Returns a list of dicts, one per recognized phrase:
    {i, start, end, text, ref (index or None), ref_start, ref_end, d_start,
    d_end, match, merged (list of reference indices), merged_match,
    outside}. "outside" marks a phrase that overlaps no reference phrase at
    all (e.g. words "recognized" in a jingle bed); it is compared with the
    nearest reference phrase and never matches.
    """
    out = []
    for i, (s, e, text) in enumerate(recognized):
        overlaps = [(max(0.0, min(e, re_) - max(s, rs)), k) for k, (rs, re_, _t) in enumerate(reference)]
        best = max(overlaps, default=(0.0, None))
        rec = {"i": i, "start": s, "end": e, "text": text, "ref": None, "match": False, "merged": [],
               "merged_match": False, "d_start": None, "d_end": None, "ref_start": None, "ref_end": None,
               "outside": best[1] is None or best[0] <= 0}
        if rec["outside"]:
            # No overlap: compare with the nearest reference phrase.
            if reference:
                k = min(range(len(reference)), key=lambda j: abs(reference[j][0] - s))
                best = (0.0, k)
            else:
                out.append(rec)
                continue
        k = best[1]
        rs, re_, _ = reference[k]
        rec.update(ref=k, ref_start=rs, ref_end=re_, d_start=s - rs, d_end=e - re_)
        rec["match"] = abs(s - rs) <= tol and abs(e - re_) <= tol
        big = sorted(j for ov, j in overlaps if ov > tol)
        if len(big) >= 2:
            rec["merged"] = big
            ms, me = reference[big[0]][0], reference[big[-1]][1]
            rec["merged_match"] = abs(s - ms) <= tol and abs(e - me) <= tol
        out.append(rec)
    return out


def phrases_from_result(result):
    """[(start_s, end_s, text)] of a NodeResult's Success phrases (SDK offsets)."""
    return [(e["offset"] / TICKS_PER_SECOND, (e["offset"] + e["duration"]) / TICKS_PER_SECOND, e.get("text", ""))
            for e in result.recognized]


def fmt_pct(x):
    return "-" if x is None else f"{x:.1f} %"


def keep_tmp():
    """Keep the scratch directory even when the test passes."""
    _state["keep"] = True
