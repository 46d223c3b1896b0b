#!/usr/bin/env python3
"""airwave connector benchmark: CPU time and peak memory of airwave against
the decoding floor and against the alternative a user would write. See
README.md. Not part of ctest.

    bench/connector/run.sh [--build-dir build] [--reps 3] [--file samples/long-news.mp3]
                           [--live-seconds 60] [--json OUT.json]

One invocation measures, for FILE (default samples/long-news.mp3, 288 s):

  floor    ffmpeg -i FILE -ac 1 -ar 16000 -f s16le - > /dev/null
           (decoding and resampling to what the speech service takes)
  airwave  airwave transcribe --quiet --endpoint ws://127.0.0.1:PORT/... FILE
           (decode, resample, websocket to the service, results)
  sdk      ffmpeg ... -f s16le - | node sdk_pipe.js --url ws://127.0.0.1:PORT/...
           (the official Azure Speech SDK for Node, continuous recognition
           from a push stream, unthrottled; both processes counted)

all against one airwave-speechd with --engine null (the full protocol, with
a phrase per stretch of sound, but no recognition: what is measured is the
client, and a run takes under a second instead of 45 s of PocketSphinx).
CPU = user + system time of the process(es) from wait4(); memory = peak
resident set (ru_maxrss; for sdk the sum of the two processes' peaks).
Each variant runs --reps times, interleaved; the medians are reported.

With --live-seconds N (default 60; 0 skips it) the first N s of FILE are
also run at real time, as a live source arrives: ffmpeg -readrate 1 for the
floor and the SDK pipe, airwave --pace 1; the three run side by side, once.
This shows the cost of waiting for audio, which dominates a 24/7 stream.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PATH = "/speech/recognition/conversation/cognitiveservices/v1"


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def wait_rusage(p):
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


class Speechd:
    def __init__(self, build, tmp):
        self.log_path = os.path.join(tmp, "speechd.log")
        port_file = os.path.join(tmp, "speechd.port")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen([os.path.join(build, "airwave-speechd"), "--listen", "127.0.0.1:0",
                                   "--port-file", port_file, "--engine", "null"],
                                  stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                die(f"airwave-speechd exited with {self.p.returncode}; log: {self.log_path}")
            try:
                with open(port_file, encoding="ascii") as f:
                    txt = f.read()
                if txt.endswith("\n"):
                    self.port = int(txt)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        else:
            die("airwave-speechd did not start")
        self.url = f"ws://127.0.0.1:{self.port}{PATH}"

    def closes(self):
        self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return [ln for ln in f if 'msg="close ' in ln]

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


def ffmpeg_argv(path, readrate=None, seconds=None):
    argv = ["ffmpeg", "-nostdin", "-loglevel", "error"]
    if readrate:
        argv += ["-readrate", str(readrate)]
    argv += ["-i", path]
    if seconds:
        argv += ["-t", str(seconds)]
    return argv + ["-ac", "1", "-ar", "16000", "-f", "s16le", "-"]


def run_floor(path, readrate=None, seconds=None):
    t0 = time.monotonic()
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(ffmpeg_argv(path, readrate, seconds), stdout=null, stdin=subprocess.DEVNULL)
        rc, cpu, rss = wait_rusage(p)
    if rc:
        die(f"ffmpeg exited with {rc}")
    return {"cpu": cpu, "rss_kb": rss, "wall": time.monotonic() - t0}


def run_airwave(build, url, path, pace=None):
    argv = [os.path.join(build, "airwave"), "transcribe", "--quiet", "--endpoint", url]
    if pace is not None:
        argv += ["--pace", str(pace)]
    t0 = time.monotonic()
    p = subprocess.Popen(argv + [path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env={k: v for k, v in os.environ.items()
                                                        if not k.startswith("AIRWAVE_")})
    err = p.stderr.read()
    rc, cpu, rss = wait_rusage(p)
    if rc:
        die(f"airwave transcribe exited with {rc}: {err.decode(errors='replace')}")
    return {"cpu": cpu, "rss_kb": rss, "wall": time.monotonic() - t0}


def run_sdk(url, path, readrate=None, seconds=None):
    t0 = time.monotonic()
    ff = subprocess.Popen(ffmpeg_argv(path, readrate, seconds), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    node = subprocess.Popen(["node", os.path.join(HERE, "sdk_pipe.js"), "--url", url], stdin=ff.stdout,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ff.stdout.close()
    out = node.stdout.read()
    node.stderr.read()
    rc_n, cpu_n, rss_n = wait_rusage(node)
    rc_f, cpu_f, rss_f = wait_rusage(ff)
    lines = out.decode().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    if rc_n or rc_f or not summary.get("ok"):
        die(f"ffmpeg | sdk_pipe.js failed: ffmpeg {rc_f}, node {rc_n}, {summary}")
    return {"cpu": cpu_n + cpu_f, "rss_kb": rss_n + rss_f, "wall": time.monotonic() - t0,
            "node_cpu": cpu_n, "ffmpeg_cpu": cpu_f, "node_rss_kb": rss_n, "ffmpeg_rss_kb": rss_f,
            "audio_seconds": summary.get("audio_seconds"), "results": summary.get("nomatch", 0) + summary.get(
                "phrases", 0)}


def session_audio(sd, before):
    """audio_s and phrases of the speechd sessions closed since `before` closes."""
    out = []
    for ln in sd.closes()[before:]:
        a = re.search(r"audio_s=([\d.]+)", ln)
        ph = re.search(r"phrases=(\d+)", ln)
        out.append((float(a.group(1)) if a else None, int(ph.group(1)) if ph else None))
    return out


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for ln in f:
                if ln.startswith("model name"):
                    model = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ff = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    try:
        with open(os.path.join(ROOT, "tests", "tools", "sdk", "node_modules", "microsoft-cognitiveservices-speech-sdk",
                               "package.json"), encoding="utf-8") as f:
            sdkv = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        sdkv = "?"
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "ffmpeg": ff, "node": node,
            "sdk": sdkv, "loadavg_at_start": [round(x, 2) for x in load]}


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def table(rows, headers):
    w = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(str(c).ljust(x) for c, x in zip(r, w)) + " |"  # noqa: E731
    print(line(headers))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(line(r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--file", default=os.path.join(ROOT, "samples", "long-news.mp3"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--live-seconds", type=float, default=60)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    for tool in ("ffmpeg", "node"):
        if not shutil.which(tool):
            die(f"{tool} is not on PATH (scripts/install-deps.sh)")
    for b in ("airwave", "airwave-speechd"):
        if not os.access(os.path.join(build, b), os.X_OK):
            die(f"{build}/{b} is missing: cmake --build {a.build_dir}")
    if not os.path.isdir(os.path.join(ROOT, "tests", "tools", "sdk", "node_modules")):
        die("tests/tools/sdk/node_modules is missing: npm ci --prefix tests/tools/sdk")
    cache = subprocess.run(["grep", "-E",
                            "^(CMAKE_BUILD_TYPE|AW_SANITIZE):", os.path.join(build, "CMakeCache.txt")],
                           capture_output=True, text=True).stdout.split()
    info = machine()
    info["build"] = cache
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}; {info['ffmpeg']}; "
          f"node {info['node']}, SDK {info['sdk']}; build {' '.join(cache)}; load {info['loadavg_at_start']}")
    if any("AW_SANITIZE:STRING=" in c and not c.endswith("=") for c in cache):
        print("bench: warning: a sanitizer build; figures are not representative", file=sys.stderr)

    tmp = tempfile.mkdtemp(prefix="aw-bench-conn-")
    sd = Speechd(build, tmp)
    res = {"floor": [], "airwave": [], "sdk": []}
    checks = []
    try:
        # One unmeasured round first: page cache, node's module cache.
        run_floor(a.file)
        run_airwave(build, sd.url, a.file)
        run_sdk(sd.url, a.file)
        for rep in range(a.reps):
            res["floor"].append(run_floor(a.file))
            n = len(sd.closes())
            res["airwave"].append(run_airwave(build, sd.url, a.file))
            checks.append(("airwave", session_audio(sd, n)))
            n = len(sd.closes())
            res["sdk"].append(run_sdk(sd.url, a.file))
            checks.append(("sdk", session_audio(sd, n)))
            print(f"  rep {rep + 1}: " + ", ".join(f"{k} {v[-1]['cpu']:.3f} s CPU {v[-1]['rss_kb'] / 1024:.1f} MB"
                                                  for k, v in res.items()), flush=True)
        # Every client must have delivered the whole file to the service.
        audio = {k: sorted({round(x[0] or 0, 1) for x in v}) for k, v in
                 (("airwave", [y for n_, s in checks if n_ == "airwave" for y in s]),
                  ("sdk", [y for n_, s in checks if n_ == "sdk" for y in s]))}
        print(f"  audio the service received per session (s): {audio}")

        live = None
        if a.live_seconds > 0:
            clip = os.path.join(tmp, "clip.mp3")
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", a.file, "-t",
                            str(a.live_seconds), "-c", "copy", clip], check=True)
            import threading
            live = {}
            jobs = [
                ("floor", lambda: run_floor(clip, readrate=1)),
                ("airwave", lambda: run_airwave(build, sd.url, clip, pace=1)),
                ("sdk", lambda: run_sdk(sd.url, clip, readrate=1)),
            ]
            ts = [threading.Thread(target=lambda k=k, f=f: live.__setitem__(k, f())) for k, f in jobs]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
    finally:
        sd.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    cpu = {k: med(v, "cpu") for k, v in res.items()}
    rss = {k: med(v, "rss_kb") / 1024 for k, v in res.items()}
    wall = {k: med(v, "wall") for k, v in res.items()}
    print()
    print(f"{os.path.basename(a.file)}, unpaced, median of {a.reps}:")
    table([
        ["(a) floor: ffmpeg -> s16le /dev/null", f"{cpu['floor']:.3f}", f"{rss['floor']:.1f}", f"{wall['floor']:.2f}",
         "1.00x", "1.00x"],
        ["airwave transcribe", f"{cpu['airwave']:.3f}", f"{rss['airwave']:.1f}", f"{wall['airwave']:.2f}",
         f"{cpu['airwave'] / cpu['floor']:.2f}x", f"{rss['airwave'] / rss['floor']:.2f}x"],
        ["(b) ffmpeg | Node Speech SDK", f"{cpu['sdk']:.3f}", f"{rss['sdk']:.1f}", f"{wall['sdk']:.2f}",
         f"{cpu['sdk'] / cpu['floor']:.2f}x", f"{rss['sdk'] / rss['floor']:.2f}x"],
    ], ["client", "CPU s", "peak RSS MB", "wall s", "CPU vs floor", "RSS vs floor"])
    sdk_parts = (f"node {statistics.median(r['node_cpu'] for r in res['sdk']):.3f} s / "
                 f"{statistics.median(r['node_rss_kb'] for r in res['sdk']) / 1024:.1f} MB, ffmpeg "
                 f"{statistics.median(r['ffmpeg_cpu'] for r in res['sdk']):.3f} s / "
                 f"{statistics.median(r['ffmpeg_rss_kb'] for r in res['sdk']) / 1024:.1f} MB")
    print(f"(b) split: {sdk_parts}")
    print(f"airwave / floor: CPU {cpu['airwave'] / cpu['floor']:.2f}x (target <= 1.3x), "
          f"memory {rss['airwave'] / rss['floor']:.2f}x")
    print(f"airwave / (b):   CPU {cpu['airwave'] / cpu['sdk']:.2f}x, memory {rss['airwave'] / rss['sdk']:.2f}x")
    # Others may share the machine: the load before and after goes with the figures.
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at the end: {info['loadavg_at_end']} (at the start: {info['loadavg_at_start']})")
    out = {"machine": info, "file": a.file, "reps": a.reps, "runs": res, "median_cpu": cpu, "median_rss_mb": rss,
           "median_wall": wall, "audio_received": audio}
    if live:
        print()
        print(f"first {a.live_seconds:g} s at real time (live-like), side by side, once:")
        f = live["floor"]
        table([[k, f"{v['cpu']:.3f}", f"{v['rss_kb'] / 1024:.1f}", f"{v['wall']:.1f}",
                f"{v['cpu'] / f['cpu']:.2f}x", f"{100 * v['cpu'] / v['wall']:.2f} %"]
               for k, v in (("(a) floor: ffmpeg -readrate 1", live["floor"]),
                            ("airwave transcribe --pace 1", live["airwave"]),
                            ("(b) ffmpeg -readrate 1 | Node SDK", live["sdk"]))],
              ["client", "CPU s", "peak RSS MB", "wall s", "CPU vs floor", "of one core"])
        out["live"] = live
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fjs:
            json.dump(out, fjs, indent=1)
        print(f"\nraw figures: {a.json}")


if __name__ == "__main__":
    main()
