"""Helpers for airwave's live-source tests (tests/integration/live_*.py) and
the soak (bench/soak/).

Import with:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    import awtest, awconn, awlive

Builds on awtest (Checks, tmpdir, popen, Speechd, samples, scoring) and
awconn (airwave runs, KafkaMock, records). What is here:

- free_port(), wait_until()
- IcyServer: tests/tools/icy_server.py, a fake live station (ICY titles,
  scripted drops, stalls, silent servers), with its event log
- Icecast: a real icecast2 on loopback (TESTBED.md §5.3), with ffmpeg
  pushing sources to it and titles set through its admin interface
- mp3_programme(): short samples joined into one MP3 programme, with its
  reference phrases on the programme timeline
- scrape() / metric(): airwave's /metrics (Prometheus text) parsed
- proc_mem(), MemSampler: RSS and Pss_Anon of a process over time
- spans and recall: reference phrases inside broadcast spans, word recall
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import awconn  # noqa: E402
import awtest  # noqa: E402
import icy_server  # noqa: E402  (for its MP3 frame parser)


def free_port():
    """A TCP port free on 127.0.0.1 now (for servers that cannot report one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, step=0.1, what=None):
    """Poll pred() until it is true (returns its value) or timeout seconds
    (scaled for slow builds) pass (returns the last value; fails with what
    when given)."""
    deadline = time.monotonic() + timeout * awtest.timeout_mult()
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            if not v and what:
                awtest.fail(f"timed out after {timeout * awtest.timeout_mult():.0f} s waiting for {what}")
            return v
        time.sleep(step)


def _wait_port_file(path, proc, what, timeout=15):
    deadline = time.monotonic() + timeout * awtest.timeout_mult()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            awtest.fail(f"{what} exited with {proc.returncode} before listening")
        try:
            with open(path, encoding="ascii") as f:
                txt = f.read()
            if txt.endswith("\n") and txt.strip().isdigit():
                return int(txt)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    awtest.fail(f"{what}: no port in {path}")
    return None


# --------------------------------------------------------------------------
# The fake station


class IcyServer:
    """tests/tools/icy_server.py in the background (see its docstring).

        st = awlive.IcyServer([mp3], name="station", plan="stall:6,play").start()
        st.url()               # http://127.0.0.1:PORT/stream.mp3
        st.events("stall")     # [{"t": wall, "event": "stall", "conn": 0, "pos": 6.02}, ...]
    """

    def __init__(self, files, name="icy", port=0, **opts):
        self.files = list(files)
        self.name = name
        self.port = port
        self.opts = opts
        d = os.path.join(awtest.tmpdir(), name)
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.log_path = os.path.join(d, "events.jsonl")
        self.err_path = os.path.join(d, "stderr")
        self.proc = None

    def argv(self):
        a = [sys.executable, os.path.join(_HERE, "icy_server.py")] + self.files
        a += ["--port", str(self.port), "--port-file", os.path.join(self.dir, "port"), "--log", self.log_path]
        for k, v in self.opts.items():
            if v is None or v is False:
                continue
            flag = "--" + k.replace("_", "-")
            a += [flag] if v is True else [flag, str(v)]
        return a

    def start(self):
        pf = os.path.join(self.dir, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        self._err = open(self.err_path, "ab")
        self.proc = awtest.popen(self.argv(), stdout=subprocess.DEVNULL, stderr=self._err, stdin=subprocess.DEVNULL)
        self.port = _wait_port_file(pf, self.proc, f"{self.name} (icy_server.py)")
        awtest.print_file_on_failure(self.err_path, f"{self.name}: icy_server.py stderr", limit=40)
        return self

    def url(self, path="/stream.mp3"):
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self, kind=None):
        out = []
        try:
            with open(self.log_path, encoding="utf-8") as f:
                for ln in f:
                    if ln.strip():
                        r = json.loads(ln)
                        if kind is None or r.get("event") == kind:
                            out.append(r)
        except FileNotFoundError:
            pass
        return out

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------
# icecast2


class Icecast:
    """A real icecast2 (TESTBED.md §5.3): its own config, run as root so it
    changes to the icecast2 user, log dir owned by that user.

        ice = awlive.Icecast(mounts={"/news.mp3": {"mp3-metadata-interval": 4000}}).start()
        src = ice.source("/news.mp3", mp3, ss=0)     # ffmpeg -re pushing it
        ice.set_title("/news.mp3", "Story 2")
        src.kill(); ...
    """

    PASSWORD = "hackme"

    def __init__(self, name="icecast", mounts=None, burst_size=None, queue_size=None):
        awtest.require_tools("icecast2", "ffmpeg")
        self.name = name
        self.mounts = mounts or {}
        self.burst_size = burst_size
        self.queue_size = queue_size
        self.port = None
        self.proc = None
        self.sources = []
        d = os.path.join(awtest.tmpdir(), name)
        os.makedirs(os.path.join(d, "log"), exist_ok=True)
        self.dir = d

    def _config(self):
        limits = "<sources>8</sources><clients>64</clients>"
        if self.queue_size is not None:
            limits += f"<queue-size>{self.queue_size}</queue-size>"
        if self.burst_size is not None:
            limits += f"<burst-size>{self.burst_size}</burst-size>"
            if self.burst_size == 0:
                limits += "<burst-on-connect>0</burst-on-connect>"
        mounts = ""
        for m, opts in self.mounts.items():
            body = "".join(f"<{k}>{v}</{k}>" for k, v in opts.items())
            mounts += f"<mount type=\"normal\"><mount-name>{m}</mount-name>{body}</mount>"
        return f"""<icecast>
    <limits>{limits}</limits>
    <authentication>
        <source-password>{self.PASSWORD}</source-password>
        <admin-user>admin</admin-user>
        <admin-password>{self.PASSWORD}</admin-password>
    </authentication>
    <hostname>127.0.0.1</hostname>
    <listen-socket><port>{self.port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
    {mounts}
    <paths>
        <basedir>/usr/share/icecast2</basedir>
        <logdir>{self.dir}/log</logdir>
        <webroot>/usr/share/icecast2/web</webroot>
        <adminroot>/usr/share/icecast2/admin</adminroot>
    </paths>
    <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
    <security>
        <chroot>0</chroot>
        <changeowner><user>icecast2</user><group>icecast</group></changeowner>
    </security>
</icecast>
"""

    def start(self):
        # icecast refuses to run as root: it switches to icecast2, which must
        # reach its log dir through every parent (mkdtemp makes 0700 dirs).
        p = self.dir
        while p and p != "/":
            try:
                st = os.stat(p)
                if st.st_mode & 0o005 != 0o005:
                    os.chmod(p, st.st_mode | 0o755)
            except PermissionError:
                pass
            if p == os.path.dirname(awtest.tmpdir()):
                break
            p = os.path.dirname(p)
        shutil.chown(os.path.join(self.dir, "log"), "icecast2", "icecast")
        last = None
        for _ in range(5):  # the port may be taken between free_port() and bind
            self.port = free_port()
            path = os.path.join(self.dir, "icecast.xml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(self._config())
            self._out = open(os.path.join(self.dir, "stdout"), "ab")
            self.proc = awtest.popen(["icecast2", "-c", path], stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
            if wait_until(lambda: self.proc.poll() is not None or self._status() is not None, 15):
                if self.proc.poll() is None:
                    awtest.log(f"[{self.name}] icecast2 pid {self.proc.pid} on port {self.port}")
                    awtest.print_file_on_failure(os.path.join(self.dir, "log", "error.log"),
                                                 f"{self.name}: icecast error.log", limit=60)
                    return self
            last = self.proc.returncode
        awtest.fail(f"icecast2 did not start (exit {last}); see {self.dir}")
        return self

    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, mount):
        return self.base() + mount

    def _get(self, path, auth=False, timeout=5):
        req = urllib.request.Request(self.base() + path)
        if auth:
            tok = base64.b64encode(f"admin:{self.PASSWORD}".encode()).decode()
            req.add_header("Authorization", f"Basic {tok}")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read().decode("utf-8", "replace")

    def _status(self):
        try:
            return json.loads(self._get("/status-json.xsl"))
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def mounted(self, mount):
        """True when a source is connected on mount."""
        st = self._status() or {}
        src = (st.get("icestats") or {}).get("source")
        if isinstance(src, dict):
            src = [src]
        return any((s.get("listenurl") or "").endswith(mount) for s in (src or []))

    def listeners(self, mount):
        st = self._status() or {}
        src = (st.get("icestats") or {}).get("source")
        if isinstance(src, dict):
            src = [src]
        for s in src or []:
            if (s.get("listenurl") or "").endswith(mount):
                return s.get("listeners", 0)
        return 0

    def set_title(self, mount, title):
        q = urllib.parse.urlencode({"mount": mount, "mode": "updinfo", "song": title})
        return self._get(f"/admin/metadata?{q}", auth=True)

    def source(self, mount, path, ss=0.0, duration=None, readrate=None, name=None):
        """ffmpeg pushing path (copied, not re-encoded) to mount at real time
        (or readrate x), from ss seconds in. Returns a Source."""
        s = Source(self, mount, path, ss, duration, readrate, name or f"source{len(self.sources)}")
        self.sources.append(s)
        return s

    def stop(self):
        for s in self.sources:
            s.kill()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Source:
    """One ffmpeg process pushing to an icecast mount."""

    def __init__(self, ice, mount, path, ss, duration, readrate, name):
        self.ice, self.mount, self.path, self.ss = ice, mount, path, ss
        argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning"]
        argv += ["-readrate", str(readrate)] if readrate else ["-re"]
        if ss:
            argv += ["-ss", f"{ss:.3f}"]
        argv += ["-i", path]
        if duration is not None:
            argv += ["-t", f"{duration:.3f}"]
        argv += ["-c:a", "copy", "-content_type", "audio/mpeg", "-ice_name", "Test FM", "-f", "mp3",
                 f"icecast://source:{Icecast.PASSWORD}@127.0.0.1:{ice.port}{mount}"]
        self.err_path = os.path.join(ice.dir, f"{name}.ffmpeg.log")
        self._err = open(self.err_path, "ab")
        self.t_start = time.time()
        self.proc = awtest.popen(argv, stdout=subprocess.DEVNULL, stderr=self._err, stdin=subprocess.DEVNULL)
        self.t_end = None

    def alive(self):
        return self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait()
        if self.t_end is None:
            self.t_end = time.time()

    def wait(self, timeout=None):
        self.proc.wait(timeout=timeout)
        if self.t_end is None:
            self.t_end = time.time()
        return self.proc.returncode


# --------------------------------------------------------------------------
# Programme material


def mp3_programme(samples, name):
    """Join the MP3s of samples (awtest.Sample) frame by frame into NAME.mp3 in
    the scratch dir. Returns (path, reference text, [(start_s, end_s, text)]
    reference phrases on the programme timeline, duration_s). FFmpeg's
    decode of these MP3s is awconn.MP3_DELAY_S late, which is added."""
    path = os.path.join(awtest.tmpdir(), f"{name}.mp3")
    ref_text, ref, t = [], [], 0.0
    with open(path, "wb") as out:
        for s in samples:
            if not s.mp3:
                awtest.fail(f"{s.name}: no MP3 in samples/")
            with open(s.mp3, "rb") as f:
                data = f.read()
            frames = icy_server.mp3_frames(data)
            for off, length, _ in frames:
                out.write(data[off:off + length])
            ref_text.append(s.reference)
            ref += [(a + t + awconn.MP3_DELAY_S, b + t + awconn.MP3_DELAY_S, txt) for a, b, txt in s.phrases]
            t += sum(d for _, _, d in frames)
    return path, "\n".join(ref_text), ref, t


# --------------------------------------------------------------------------
# /metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port, timeout=5):
    """airwave's /metrics as {name: {frozenset(labels.items()): value}}; None if
    it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
            text = r.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError):
        return None
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = _SAMPLE.match(ln)
        if not m:
            continue
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out.setdefault(m.group(1), {})[labels] = v
    return out


def metric(m, name, stream=None, default=None, **labels):
    """One value of a scrape(): the sample of name whose labels include
    stream=STREAM and labels; default when absent."""
    if not m or name not in m:
        return default
    want = dict(labels)
    if stream is not None:
        want["stream"] = stream
    for ls, v in m[name].items():
        d = dict(ls)
        if all(d.get(k) == str(x) for k, x in want.items()):
            return v
    return default


def http_get(port, path, timeout=5):
    """(status, body) of GET path on airwave's HTTP endpoint; (None, "") if down."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError):
        return None, ""


# --------------------------------------------------------------------------
# Memory


def proc_mem(pid):
    """{"rss_kb", "pss_anon_kb", "hwm_kb"} of a running process, from /proc;
    None once it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    out["rss_kb"] = int(ln.split()[1])
                elif ln.startswith("VmHWM:"):
                    out["hwm_kb"] = int(ln.split()[1])
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for ln in f:
                if ln.startswith("Pss_Anon:"):
                    out["pss_anon_kb"] = int(ln.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return out


class MemSampler:
    """Samples proc_mem(pid) every interval seconds in a thread:
    .samples = [(monotonic seconds since start, rss_kb, pss_anon_kb)]."""

    def __init__(self, pid, interval=1.0):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self.t0 = time.monotonic()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self):
        while not self._stop.is_set():
            m = proc_mem(self.pid)
            if m is None:
                break
            self.samples.append((time.monotonic() - self.t0, m.get("rss_kb", 0), m.get("pss_anon_kb", 0)))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._th.join(5)
        return self.samples

    def peak(self, after=0.0, until=None, field=2):
        vals = [s[field] for s in self.samples if s[0] >= after and (until is None or s[0] <= until)]
        return max(vals) if vals else None


# --------------------------------------------------------------------------
# Broadcast spans and recall


def inside(phrase, spans, margin=0.0):
    """True when phrase (start, end, ...) lies inside one of spans [(a, b)],
    each shrunk by margin at both ends."""
    return any(a + margin <= phrase[0] and phrase[1] <= b - margin for a, b in spans)


def recall_pct(ref_text, hyp_text):
    """Word recall (percent) of hyp against ref (tests/tools/wer.py recall())."""
    return 100.0 * awtest._wer.recall(ref_text, hyp_text)


def text_in(trs):
    return " ".join(t.get("text", "") for t in trs)


def counts_by_stream(recs, kinds=("start", "end", "discontinuity", "rotation")):
    """{stream: {event type: n}} of the stream-event records recs."""
    out = {}
    for r in awconn.events(recs):
        if r.get("type") in kinds:
            d = out.setdefault(r["stream_id"], {})
            d[r["type"]] = d.get(r["type"], 0) + 1
    return out


def airwave_conf(speech_url, jsonl, streams, http_port=None, kafka=None, **extra):
    """A configuration dict: speech endpoint, JSONL output, optional Kafka and
    /metrics; extra top-level sections merged in (e.g. ingest={...})."""
    conf = {"speech": {"endpoint": speech_url}, "output": {"jsonl": jsonl}}
    if kafka:
        conf["kafka"] = {"bootstrap.servers": kafka}
    if http_port:
        conf["http"] = {"listen": f"127.0.0.1:{http_port}"}
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(conf.get(k), dict):
            conf[k].update(v)
        else:
            conf[k] = v
    conf["streams"] = streams
    return conf
