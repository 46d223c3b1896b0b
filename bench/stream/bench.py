#!/usr/bin/env python3
"""airwave live-stream benchmark: what a live 128 kbit/s MP3 stream costs,
how many one process carries, and how much latency airwave adds between the
speech service and Kafka. See ../README.md. Not part of ctest.

    bench/stream/run.sh [--build-dir build] [--parts cost,density,latency,profile]
        [--cost-seconds 120] [--levels 1,10,100,300,400,500] [--level-seconds 60]
        [--alt-buffer-seconds 8] [--latency-seconds 180] [--latency-streams 3]
        [--profile-seconds 20] [--out FILE.json]

Everything runs on 127.0.0.1 in one invocation, beside its baseline:

- station.py: a paced live station (one Python thread for all listeners);
  samples/long-news.mp3 re-encoded as a 128 kbit/s 44.1 kHz stereo MP3,
  looped, sent by the wall clock. /s/N starts N x 17 s into the programme.
- airwave-speechd --engine null (the full protocol, a NoMatch per stretch
  of sound, no recognition) for cost and density; --engine pocketsphinx
  for latency (phrases with text are what reach Kafka).
- aw-kafka-mock: the librdkafka mock cluster, airwave's Kafka sink.

cost: side by side for --cost-seconds, all reading /s/0 (the same bytes at
  the same moment): (a) floor `ffmpeg -i URL -ac 1 -ar 16000 -f s16le -`
  to /dev/null; airwave run, one stream, Kafka sink (the one-pod-per-stream
  deployment); airwave run, one stream, JSONL to /dev/null; (b) ffmpeg |
  node bench/connector/sdk_pipe.js (the official Speech SDK). CPU from
  /proc/PID/stat over the steady window (after --warmup), in CPU seconds per
  audio minute; memory from /proc/PID/smaps_rollup (Pss_Anon,
  Private_Dirty) sampled every 0.5 s, peak, and VmHWM (peak RSS).
density: one airwave with N streams (/s/0 .. /s/N-1), Kafka sink, for each
  N in --levels, a fresh process each time; airwave's own CPU (its
  /proc/PID/stat), Pss_Anon, and per stream the lag gauge
  (airwave_stream_lag_seconds, scraped every 2 s), decoded audio rate and
  drops; the station's and speechd's CPU apart. A level keeps real time when
  every stream decoded >= 97 % of the wall time, max lag <= --max-lag, no
  audio dropped and the station is never more than 2 s behind on a
  listener. Stops after the first level that does not. --alt-buffer-seconds
  repeats levels 1 and 100 with that ingest.buffer_seconds (the ring).
latency: --latency-streams streams into speechd (PocketSphinx) and Kafka;
  uprobes (perf probe) on speechd's emit() (a speech.phrase handed to its
  websocket) and on airwave's on_transcript() and librdkafka delivery
  callback on_delivery(), all timestamped by one perf clock; each delivered
  transcript is paired with the speech.phrase of the same text and duration.
profile: perf record (--call-graph dwarf) of airwave with 1 and 100
  streams; top symbols by self time, grouped by library.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
import awtest  # noqa: E402
import awconn  # noqa: E402
import awlive  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --------------------------------------------------------------------------
# /proc


def proc_cpu(pid):
    """utime + stime of a process (all threads), seconds; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return None


def thread_cpu(pid):
    """{thread name: CPU seconds} summed over threads of the same name, plus
    "tid:N" for each thread (airwave's ingest threads and its websocket
    service thread share the process name; the busiest one is the service
    thread in a many-stream process)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii", errors="replace") as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        name = re.sub(r"\d+$", "#", name)  # rdk:broker1 -> rdk:broker#
        fields = s.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        out[name] = out.get(name, 0) + cpu
        out[f"tid:{tid}"] = cpu
    return out


def thread_split(th0, th1, window):
    """Cores of the busiest thread and of the rest, over a window."""
    d = {k: v - th0.get(k, 0) for k, v in th1.items() if k.startswith("tid:")}
    if not d:
        return {}
    top = max(d, key=d.get)
    return {"busiest_thread_cores": round(d[top] / window, 4),
            "other_threads_cores": round((sum(d.values()) - d[top]) / window, 4), "threads_seen": len(d)}


def proc_mem(pid):
    """{rss, pss_anon, private_dirty, hwm, threads} in KiB; None if gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for ln in f:
                k, _, v = ln.partition(":")
                if k in ("Rss", "Pss_Anon", "Private_Dirty"):
                    out[k.lower()] = int(v.split()[0])
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for ln in f:
                if ln.startswith("VmHWM:"):
                    out["hwm"] = int(ln.split()[1])
                elif ln.startswith("Threads:"):
                    out["threads"] = int(ln.split()[1])
    except (OSError, ValueError):
        return None
    return out


class MemSampler(threading.Thread):
    """Samples proc_mem() of several named pids every `every` seconds."""

    def __init__(self, pids, every=0.5):
        super().__init__(daemon=True)
        self.pids, self.every = dict(pids), every
        self.samples = {k: [] for k in self.pids}
        self.halt = threading.Event()
        self.start()

    def run(self):
        while not self.halt.is_set():
            for k, pid in self.pids.items():
                m = proc_mem(pid)
                if m:
                    m["t"] = time.monotonic()
                    self.samples[k].append(m)
            self.halt.wait(self.every)

    def stop(self):
        self.halt.set()
        self.join(10)

    def peak(self, name, field):
        v = [s[field] for s in self.samples[name] if field in s]
        return max(v) if v else None

    def last(self, name, field):
        v = [s[field] for s in self.samples[name] if field in s]
        return v[-1] if v else None


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine_busy(seconds=1.0):
    def snap():
        with open("/proc/stat", encoding="ascii") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def machine():
    model = "?"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for ln in f:
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as f:
        mem = int(f.readline().split()[1])
    run = lambda *a: subprocess.run(a, capture_output=True, text=True, check=False).stdout  # noqa: E731
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": round(mem / 1048576, 1),
            "kernel": platform.release(), "ffmpeg": (run("ffmpeg", "-version").splitlines() or ["?"])[0],
            "node": run("node", "--version").strip(), "uptime": run("uptime").strip(),
            "loadavg": loadavg()}


# --------------------------------------------------------------------------
# Helpers


def log(msg):
    awtest.log(msg)


def percentile(vals, p):
    if not vals:
        return None
    v = sorted(vals)
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def fit_slope(points):
    if len(points) < 2:
        return None
    mx = statistics.mean(p[0] for p in points)
    my = statistics.mean(p[1] for p in points)
    den = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den if den else None


class Station:
    def __init__(self, mp3):
        d = os.path.join(awtest.tmpdir(), "station")
        os.makedirs(d, exist_ok=True)
        pf = os.path.join(d, "port")
        self.err = open(os.path.join(d, "stderr"), "wb")
        self.p = awtest.popen([sys.executable, os.path.join(HERE, "station.py"), mp3, "--port-file", pf],
                              stdout=subprocess.DEVNULL, stderr=self.err, stdin=subprocess.DEVNULL)
        self.port = awlive._wait_port_file(pf, self.p, "station.py")
        self.pid = self.p.pid
        log(f"[station] pid {self.pid} on port {self.port}")

    def url(self, n):
        return f"http://127.0.0.1:{self.port}/s/{n}"

    def status(self):
        st, body = awlive.http_get(self.port, "/status")
        return json.loads(body) if st == 200 else None

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()


def make_mp3(build):
    """samples/long-news.mp3 as a 128 kbit/s 44.1 kHz stereo CBR MP3 (what a
    music/talk radio station sends), cached in the build dir."""
    out = os.path.join(build, "bench-stream-news128.mp3")
    if not os.path.exists(out):
        tmp = out + ".tmp.mp3"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                        os.path.join(SRC, "samples", "long-news.mp3"), "-ar", "44100", "-ac", "2",
                        "-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "0", "-write_xing", "0", tmp],
                       check=True)
        os.replace(tmp, out)
    return out


def airwave_config(sd_url, streams, http_port, kafka=None, jsonl=None, buffer_seconds=None, log_level=None):
    conf = {"speech": {"endpoint": sd_url}}
    if kafka:
        conf["kafka"] = {"bootstrap.servers": kafka}
    if jsonl:
        conf["output"] = {"jsonl": jsonl}
    conf["http"] = {"listen": f"127.0.0.1:{http_port}"}
    if buffer_seconds:
        conf["ingest"] = {"buffer_seconds": buffer_seconds}
    if log_level:
        conf["log"] = {"level": log_level}
    conf["streams"] = [{"id": sid, "url": url, "live": "true"} for sid, url in streams]
    return conf


def start_airwave(name, conf, log_level="notice"):
    return awconn.start_airwave(conf, name=name, log_level=log_level)


def stop_airwave(a, timeout=30):
    a.signal(signal.SIGTERM)
    r = a.wait(timeout)
    return r.rc


SCRAPE_ERRORS = []


def scrape(port):
    """awlive.scrape() that survives a cut-off answer (seen at 800 streams:
    a 1.27 MB /metrics body ended after 185 KB); None then."""
    try:
        return awlive.scrape(port, timeout=15)
    except Exception as e:  # noqa: BLE001  (http.client.IncompleteRead and the like)
        SCRAPE_ERRORS.append(f"{e.__class__.__name__}: {str(e)[:120]}")
        return None


def sum_metric(m, name):
    return sum((m or {}).get(name, {}).values())


def per_stream(m, name):
    return {dict(k).get("stream"): v for k, v in (m or {}).get(name, {}).items()}


# --------------------------------------------------------------------------
# Part 1: the cost of one stream


def part_cost(a, build, station, sd, kafka):
    url = station.url(0)
    T, W = a.cost_seconds, a.warmup
    log(f"[cost] side by side for {T:g} s (steady window after {W:g} s), all reading {url}")
    procs = {}
    null = open(os.devnull, "wb")
    ffargv = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", url, "-ac", "1", "-ar", "16000", "-f", "s16le", "-"]
    floor = awtest.popen(ffargv, stdout=null, stdin=subprocess.DEVNULL)
    procs["floor"] = [floor.pid]
    hp1, hp2 = awlive.free_port(), awlive.free_port()
    awk = start_airwave("cost-airwave-kafka", airwave_config(sd.url(), [("s0", url)], hp1, kafka=kafka.bootstrap))
    awj = start_airwave("cost-airwave-jsonl", airwave_config(sd.url(), [("s0", url)], hp2, jsonl=os.devnull))
    procs["airwave_kafka"] = [awk.pid]
    procs["airwave_jsonl"] = [awj.pid]
    sdk_ff = awtest.popen(ffargv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    sdk_out = open(os.path.join(awtest.tmpdir(), "sdk_pipe.out"), "wb")
    node = awtest.popen(["node", os.path.join(SRC, "bench", "connector", "sdk_pipe.js"), "--url", sd.url(),
                         "--timeout", str(int(T + 120))], stdin=sdk_ff.stdout, stdout=sdk_out,
                        stderr=subprocess.STDOUT)
    sdk_ff.stdout.close()
    procs["sdk"] = [sdk_ff.pid, node.pid]
    pidmap = {f"{k}:{i}": p for k, v in procs.items() for i, p in enumerate(v)}
    sampler = MemSampler(pidmap)
    t0 = time.monotonic()
    time.sleep(W)
    cpu0 = {k: proc_cpu(p) for k, p in pidmap.items()}
    thr0 = {k: thread_cpu(p) for k, p in (("airwave_kafka", awk.pid), ("airwave_jsonl", awj.pid))}
    time.sleep(max(0.0, T - W))
    cpu1 = {k: proc_cpu(p) for k, p in pidmap.items()}
    thr1 = {k: thread_cpu(p) for k, p in (("airwave_kafka", awk.pid), ("airwave_jsonl", awj.pid))}
    window = time.monotonic() - t0 - W
    mets = {"airwave_kafka": scrape(hp1), "airwave_jsonl": scrape(hp2)}
    hwm = {k: (proc_mem(p) or {}).get("hwm") for k, p in pidmap.items()}
    sampler.stop()
    # Stop: the floor and the SDK's ffmpeg by SIGTERM (node then sees the
    # end of its input and ends the session), airwave by SIGTERM.
    for p in (floor, sdk_ff):
        p.terminate()
    rc = {"airwave_kafka": stop_airwave(awk), "airwave_jsonl": stop_airwave(awj)}
    for p in (floor, sdk_ff, node):
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    sdk_out.close()
    with open(sdk_out.name, encoding="utf-8", errors="replace") as f:
        lines = [ln for ln in f.read().splitlines() if ln.startswith("{")]
    sdk_summary = json.loads(lines[-1]) if lines else {}
    res = {"seconds": T, "warmup": W, "window_s": round(window, 2), "url": url, "clients": {}}
    for k, pids in procs.items():
        names = [f"{k}:{i}" for i in range(len(pids))]
        cpu = sum((cpu1[n] or 0) - (cpu0[n] or 0) for n in names)
        total = sum(cpu1[n] or 0 for n in names)
        # Memory: the peak of the sum over the processes sampled together.
        def peak_sum(field):
            series = [sampler.samples[n] for n in names]
            ln = min(len(s) for s in series)
            return max((sum(s[i].get(field, 0) for s in series) for i in range(ln)), default=None)
        res["clients"][k] = {
            "cpu_s_window": round(cpu, 3), "cpu_s_total": round(total, 3),
            "cpu_s_per_audio_min": round(cpu / (window / 60), 4),
            "core_pct": round(100 * cpu / window, 3),
            "pss_anon_peak_kb": peak_sum("pss_anon"), "private_dirty_peak_kb": peak_sum("private_dirty"),
            "rss_peak_sampled_kb": peak_sum("rss"), "vmhwm_kb": sum(hwm[n] or 0 for n in names),
            "parts": {n: {"cpu_s_window": round((cpu1[n] or 0) - (cpu0[n] or 0), 3), "vmhwm_kb": hwm[n],
                          "pss_anon_peak_kb": sampler.peak(n, "pss_anon")} for n in names},
        }
    for k in ("airwave_kafka", "airwave_jsonl"):
        c = res["clients"][k]
        m = mets[k]
        c["decoded_s"] = sum_metric(m, "airwave_audio_decoded_seconds_total")
        c["sent_s"] = sum_metric(m, "airwave_speech_sent_seconds_total")
        c["lag_s"] = sum_metric(m, "airwave_stream_lag_seconds")
        c["dropped_s"] = sum_metric(m, "airwave_audio_dropped_seconds_total")
        c["exit"] = rc[k]
        c["threads_cpu_s_window"] = {n: round(v - thr0[k].get(n, 0), 3) for n, v in thr1[k].items()
                                     if not n.startswith("tid:")}
        c.update(thread_split(thr0[k], thr1[k], window))
    res["clients"]["sdk"]["summary"] = sdk_summary
    f = res["clients"]["floor"]
    for k, c in res["clients"].items():
        c["cpu_vs_floor"] = round(c["cpu_s_window"] / f["cpu_s_window"], 3) if f["cpu_s_window"] else None
        c["pss_anon_vs_floor"] = round(c["pss_anon_peak_kb"] / f["pss_anon_peak_kb"], 3) \
            if f["pss_anon_peak_kb"] else None
        log(f"[cost] {k}: {c['cpu_s_per_audio_min']:.3f} CPU s/audio min ({c['cpu_vs_floor']}x floor), "
            f"Pss_Anon peak {c['pss_anon_peak_kb']} KiB, VmHWM {c['vmhwm_kb']} KiB")
    return res


# --------------------------------------------------------------------------
# Part 2: density


def wait_connected(hp, n, timeout):
    t_end = time.monotonic() + timeout
    m = None
    while time.monotonic() < t_end:
        m = scrape(hp)
        if m and sum_metric(m, "airwave_speech_connected") >= n and sum_metric(m, "airwave_source_up") >= n:
            return True, m
        time.sleep(0.5)
    return False, m


def run_level(a, n, station, sd, kafka, buffer_seconds=None, label="density"):
    hp = awlive.free_port()
    streams = [(f"s{i:04d}", station.url(i)) for i in range(n)]
    busy = machine_busy(1.0)
    sd_cpu_start = proc_cpu(sd.pid)
    st_cpu_start = proc_cpu(station.pid)
    aw = start_airwave(f"{label}-{n}{'-b' + str(buffer_seconds) if buffer_seconds else ''}",
                       airwave_config(sd.url(), streams, hp, kafka=kafka.bootstrap, buffer_seconds=buffer_seconds))
    t_start = time.monotonic()
    ok, m = wait_connected(hp, n, 60 + n * 0.2)
    t_conn = time.monotonic() - t_start
    if not ok:
        log(f"[{label}] N={n}: not every stream connected after {t_conn:.0f} s: "
            f"{sum_metric(m, 'airwave_source_up')} sources up, "
            f"{sum_metric(m, 'airwave_speech_connected')} speech connections")
    sampler = MemSampler({"airwave": aw.pid}, every=1.0)
    time.sleep(a.warmup)
    m0 = scrape(hp)
    c0 = {"airwave": proc_cpu(aw.pid), "speechd": proc_cpu(sd.pid), "station": proc_cpu(station.pid),
          "kafka": proc_cpu(kafka.p.pid)}
    th0 = thread_cpu(aw.pid)
    t0 = time.monotonic()
    lag_max = {}
    behind_max = 0
    scrapes = 0
    errors0 = len(SCRAPE_ERRORS)
    while time.monotonic() - t0 < a.level_seconds:
        time.sleep(2.0)
        m = scrape(hp)
        if m:
            scrapes += 1
            for s, v in per_stream(m, "airwave_stream_lag_seconds").items():
                lag_max[s] = max(lag_max.get(s, 0), v)
        st = station.status()
        if st:
            behind_max = max(behind_max, st["behind_max_bytes"])
    window = time.monotonic() - t0
    c1 = {"airwave": proc_cpu(aw.pid), "speechd": proc_cpu(sd.pid), "station": proc_cpu(station.pid),
          "kafka": proc_cpu(kafka.p.pid)}
    th1 = thread_cpu(aw.pid)
    m1 = scrape(hp)
    sampler.stop()
    mem_end = proc_mem(aw.pid) or {}
    rc = stop_airwave(aw)
    d0, d1 = per_stream(m0, "airwave_audio_decoded_seconds_total"), per_stream(m1, "airwave_audio_decoded_seconds_total")
    rates = [(d1.get(s, 0) - d0.get(s, 0)) / window for s, _ in streams]
    drops = sum_metric(m1, "airwave_audio_dropped_seconds_total") - sum_metric(m0, "airwave_audio_dropped_seconds_total")
    lags = list(lag_max.values()) or [None]
    cpu = {k: (c1[k] - c0[k]) if c1[k] is not None and c0[k] is not None else 0.0 for k in c0}
    died = c1["airwave"] is None
    r = {
        "streams": n, "buffer_seconds": buffer_seconds or 30, "connect_s": round(t_conn, 1), "all_connected": ok,
        "window_s": round(window, 1), "scrapes": scrapes, "scrape_errors": SCRAPE_ERRORS[errors0:][:5],
        "scrapes_failed": len(SCRAPE_ERRORS) - errors0,
        "airwave_cpu_s": round(cpu["airwave"], 2), "airwave_cores": round(cpu["airwave"] / window, 4),
        "airwave_cpu_s_per_stream_audio_min": round(cpu["airwave"] / (n * window / 60), 4),
        "streams_per_core": round(n / (cpu["airwave"] / window), 1) if cpu["airwave"] else None,
        "speechd_cores": round(cpu["speechd"] / window, 4), "station_cores": round(cpu["station"] / window, 4),
        "kafka_mock_cores": round(cpu["kafka"] / window, 4),
        "threads_cores": {k: round((v - th0.get(k, 0)) / window, 4) for k, v in sorted(th1.items())
                          if not k.startswith("tid:")},
        **thread_split(th0, th1, window),
        "pss_anon_peak_kb": sampler.peak("airwave", "pss_anon"),
        "private_dirty_peak_kb": sampler.peak("airwave", "private_dirty"),
        "rss_peak_kb": mem_end.get("hwm"), "pss_anon_end_kb": mem_end.get("pss_anon"),
        "threads": mem_end.get("threads"),
        "decode_rate_min": round(min(rates), 4) if rates else None,
        "decode_rate_median": round(statistics.median(rates), 4) if rates else None,
        "lag_max_s": max((x for x in lags if x is not None), default=None),
        "lag_p50_of_max_s": percentile([x for x in lags if x is not None], 50),
        "streams_lag_over_1s": sum(1 for x in lags if x is not None and x > 1.0),
        "dropped_s": round(drops, 2), "station_behind_max_s": round(behind_max / 16000 - 1.0, 2),
        "machine_busy_before": round(busy, 2), "loadavg_after": loadavg(), "exit": rc,
    }
    why = []
    if died:
        why.append(f"airwave exited during the level ({rc})")
    if m0 is None or m1 is None or not scrapes:
        why.append(f"/metrics did not answer in full ({len(SCRAPE_ERRORS) - errors0} failed scrapes): "
                   "lag and decode rate unknown")
    if not ok:
        why.append("not all streams connected")
    if r["decode_rate_min"] is not None and r["decode_rate_min"] < 0.97:
        why.append(f"slowest stream decoded {r['decode_rate_min']:.2f}x real time")
    if r["lag_max_s"] is not None and r["lag_max_s"] > a.max_lag:
        why.append(f"max lag {r['lag_max_s']:.2f} s > {a.max_lag}")
    if drops > 0:
        why.append(f"{drops:.1f} s of audio dropped")
    if r["station_behind_max_s"] > 2.0:
        why.append(f"station {r['station_behind_max_s']:.1f} s behind on a listener (airwave not reading)")
    r["keeps_real_time"], r["why"] = not why, why
    log(f"[{label}] N={n} ring {r['buffer_seconds']} s: airwave {100 * r['airwave_cores']:.1f} % of a core "
        f"({r['streams_per_core']} streams/core), Pss_Anon peak {r['pss_anon_peak_kb']} KiB, "
        f"lag max {r['lag_max_s']} s, decode rate min {r['decode_rate_min']}, station "
        f"{100 * r['station_cores']:.1f} %, speechd {100 * r['speechd_cores']:.1f} %, "
        f"{'keeps real time' if not why else 'FAILS: ' + '; '.join(why)}")
    return r


def part_density(a, station, sd, kafka):
    levels = [int(x) for x in a.levels.split(",") if x]
    out = {"levels": [], "alt": []}
    for n in levels:
        r = run_level(a, n, station, sd, kafka)
        out["levels"].append(r)
        if not r["keeps_real_time"]:
            break
    pts = [(r["streams"], r["pss_anon_peak_kb"]) for r in out["levels"] if r["pss_anon_peak_kb"]]
    out["pss_anon_per_stream_kb"] = fit_slope(pts)
    held = [r for r in out["levels"] if r["keeps_real_time"]]
    out["max_streams_held"] = max((r["streams"] for r in held), default=0)
    if a.alt_buffer_seconds:
        for n in (1, 100):
            out["alt"].append(run_level(a, n, station, sd, kafka, buffer_seconds=a.alt_buffer_seconds,
                                        label="density-alt"))
        pts = [(r["streams"], r["pss_anon_peak_kb"]) for r in out["alt"] if r["pss_anon_peak_kb"]]
        out["alt_pss_anon_per_stream_kb"] = fit_slope(pts)
    return out


# --------------------------------------------------------------------------
# Part 3: latency, speechd's speech.phrase -> Kafka delivery report


PROBE_GROUP = "awbench"


def perf_probe(binary, spec):
    r = subprocess.run(["perf", "probe", "-q", "-x", binary, "--add", spec], capture_output=True, text=True,
                       check=False)
    return r.returncode == 0, r.stderr.strip()


def perf_probe_clear():
    subprocess.run(["perf", "probe", "-q", "-d", f"{PROBE_GROUP}:*"], capture_output=True, check=False)


def parse_probe_string(s, fields):
    """The JSON object at the start of a probe string (the rest may be junk:
    the Kafka payload is not NUL-terminated); when it does not parse (cut at
    the probe's 4 KiB string limit), the named fields by pattern."""
    try:
        return json.JSONDecoder().raw_decode(s)[0]
    except ValueError:
        pass
    out = {}
    for f in fields:
        m = re.search(r'"%s":("(?:[^"\\]|\\.)*"|-?[\d.]+)' % re.escape(f), s)
        if m:
            try:
                out[f] = json.loads(m.group(1))
            except ValueError:
                pass
    return out or None


def part_latency(a, build, station, kafka):
    if not shutil.which("perf"):
        return {"error": "perf is not installed"}
    perf_probe_clear()
    speechd_bin, airwave_bin = os.path.join(build, "airwave-speechd"), os.path.join(build, "airwave")
    if platform.machine() != "x86_64":
        return {"error": "the delivery probe reads rd_kafka_message_t from %si: x86-64 only"}
    # on_delivery(rk, m, opaque): m->payload is a void * at offset 24 of
    # rd_kafka_message_t (err, rkt, partition, payload, ...), which perf
    # probe will not print as a string, so the raw fetch argument is given.
    specs = [(speechd_bin, f"{PROBE_GROUP}:sd_emit=emit path=path:string body=body:string"),
             (airwave_bin, f"{PROBE_GROUP}:aw_transcript=on_transcript text=t->text:string "
                           f"offset_ms=t->offset_ms duration_ms=t->duration_ms"),
             (airwave_bin, f"{PROBE_GROUP}:aw_delivery=on_delivery err=m->err payload=+0(+24(%si)):string")]
    for b, s in specs:
        ok, err = perf_probe(b, s)
        if not ok:
            perf_probe_clear()
            return {"error": f"perf probe failed ({s}): {err}"}
    try:
        return _latency_run(a, station, kafka)
    finally:
        perf_probe_clear()


def _latency_run(a, station, kafka):
    sd = awtest.Speechd(name="speechd-ps", engine="pocketsphinx", extra=["--max-sessions", "64"]).start()
    pdata = os.path.join(awtest.tmpdir(), "latency.perf.data")
    perf = awtest.popen(["perf", "record", "-q", "-a", "-m", "1024", "-o", pdata, "-e", f"{PROBE_GROUP}:*"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    hp = awlive.free_port()
    n = a.latency_streams
    streams = [(f"lat{i}", station.url(100 + 7 * i)) for i in range(n)]
    aw = start_airwave("latency", airwave_config(sd.url(), streams, hp, kafka=kafka.bootstrap))
    sampler = MemSampler({"airwave": aw.pid, "speechd": sd.pid}, every=2.0)
    time.sleep(a.latency_seconds)
    m = scrape(hp)
    rc = stop_airwave(aw)
    sampler.stop()
    perf.send_signal(signal.SIGINT)
    perf.wait(30)
    sd.stop()
    perf_probe_clear()
    script = subprocess.run(["perf", "script", "-i", pdata, "-F", "comm,tid,time,event,trace", "--ns"],
                            capture_output=True, text=True, errors="replace", check=False).stdout
    res = {"streams": n, "seconds": a.latency_seconds, **latency_figures(script), "airwave_exit": rc,
           "airwave_pss_anon_peak_kb": sampler.peak("airwave", "pss_anon")}
    hist = (m or {}).get("airwave_phrase_latency_seconds_sum", {})
    cnt = (m or {}).get("airwave_phrase_latency_seconds_count", {})
    res["metrics_phrase_latency_mean_s"] = sum(hist.values()) / sum(cnt.values()) if cnt and sum(cnt.values()) \
        else None
    res["metrics_phrase_latency_count"] = sum(cnt.values()) if cnt else 0
    log(f"[latency] {res['phrases_emitted']} phrases from speechd, {res['deliveries']} delivered; speechd -> Kafka "
        f"delivery: {res['speechd_to_delivery']}; of which speechd -> on_transcript {res['speechd_to_on_transcript']}")
    return res


def latency_figures(script):
    """Pair the probe events of `perf script` output: speechd's speech.phrase
    sends, airwave's on_transcript() calls and its transcript deliveries."""
    emits, trs, dels = [], [], []
    rx = re.compile(r"^\s*(\S.*?)\s+(\d+)\s+(\d+\.\d+):\s+awbench:(\w+):\s+\(\w+\)\s*(.*)$")
    for ln in script.splitlines():
        mm = rx.match(ln)
        if not mm:
            continue
        t, ev, args = float(mm.group(3)), mm.group(4), mm.group(5)
        if ev == "sd_emit":
            pm = re.match(r'path="([^"]*)" body="(.*)$', args)
            if pm and pm.group(1) == "speech.phrase":
                body = parse_probe_string(pm.group(2), ("RecognitionStatus", "DisplayText", "Duration"))
                if body and body.get("RecognitionStatus") == "Success" and body.get("DisplayText"):
                    emits.append({"t": t, "text": body["DisplayText"], "dur_ms": body.get("Duration", 0) / 1e4})
        elif ev == "aw_transcript":
            tm = re.match(r'text="(.*)" offset_ms=(-?\w+) duration_ms=(-?\w+)$', args)
            if tm:
                trs.append({"t": t, "text": tm.group(1), "dur_ms": int(tm.group(3), 0)})
        elif ev == "aw_delivery":
            # The payload is not NUL-terminated: junk may follow it.
            dm = re.match(r'err=(-?\w+) payload="(.*)$', args)
            if dm:
                rec = parse_probe_string(dm.group(2), ("schema", "stream_id", "text", "duration_ms"))
                if rec and rec.get("schema", "").startswith("airwave.transcript"):
                    dels.append({"t": t, "err": int(dm.group(1), 0), "text": rec.get("text"),
                                 "dur_ms": rec.get("duration_ms"), "stream": rec.get("stream_id")})

    def pair(later, earlier):
        """For each record of `later`, the earliest unpaired record of
        `earlier` with the same text and duration (+-2 ms) before it."""
        used, out = set(), []
        for r in later:
            best = None
            for i, e in enumerate(earlier):
                if i in used or e["t"] > r["t"] or r["t"] - e["t"] > 30:
                    continue
                if e["text"] == r["text"] and abs(e["dur_ms"] - (r["dur_ms"] or 0)) <= 2:
                    best = i
                    break
            if best is not None:
                used.add(best)
                out.append((earlier[best], r))
        return out

    e2d = pair(dels, emits)
    e2t = pair(trs, emits)
    t2d = pair(dels, trs)
    ms = lambda prs: [1000 * (b["t"] - x["t"]) for x, b in prs]  # noqa: E731

    def stats(v):
        return {"n": len(v), "p50_ms": round(percentile(v, 50), 2) if v else None,
                "p99_ms": round(percentile(v, 99), 2) if v else None, "max_ms": round(max(v), 2) if v else None,
                "min_ms": round(min(v), 2) if v else None}
    return {"phrases_emitted": len(emits), "transcripts": len(trs), "deliveries": len(dels),
            "delivery_errors": sum(1 for d in dels if d["err"]),
            "speechd_to_delivery": stats(ms(e2d)), "speechd_to_on_transcript": stats(ms(e2t)),
            "on_transcript_to_delivery": stats(ms(t2d)),
            "speechd_to_delivery_ms": sorted(round(x, 2) for x in ms(e2d))}


# --------------------------------------------------------------------------
# Part 4: profile


def part_profile(a, station, sd, kafka):
    if not shutil.which("perf"):
        return {"error": "perf is not installed"}
    out = {}
    for n in (1, 100):
        hp = awlive.free_port()
        streams = [(f"p{i:03d}", station.url(i)) for i in range(n)]
        aw = start_airwave(f"profile-{n}", airwave_config(sd.url(), streams, hp, kafka=kafka.bootstrap))
        wait_connected(hp, n, 60 + n * 0.2)
        time.sleep(a.warmup)
        pdata = os.path.join(awtest.tmpdir(), f"profile-{n}.perf.data")
        c0 = proc_cpu(aw.pid)
        # One stream uses well under 1 % of a core: sample it more often.
        freq = "20000" if n == 1 else "999"
        subprocess.run(["perf", "record", "-q", "-F", freq, "--call-graph", "dwarf,16384", "-p", str(aw.pid),
                        "-o", pdata, "--", "sleep", str(a.profile_seconds)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        c1 = proc_cpu(aw.pid)
        # Syscalls and wakeups over the same kind of window, without perf's
        # own overhead distorting them: context switches from /proc.
        ctx0 = ctx_switches(aw.pid)
        time.sleep(5)
        ctx1 = ctx_switches(aw.pid)
        stop_airwave(aw)
        rep = subprocess.run(["perf", "report", "-i", pdata, "--no-children", "--sort", "dso,sym", "--stdio",
                              "-g", "none", "--percent-limit", "0.3"],
                             capture_output=True, text=True, errors="replace", check=False).stdout
        dso = subprocess.run(["perf", "report", "-i", pdata, "--no-children", "--sort", "dso", "--stdio",
                              "-g", "none"], capture_output=True, text=True, errors="replace", check=False).stdout
        callers = subprocess.run(["perf", "report", "-i", pdata, "--no-children", "--sort", "sym", "--stdio",
                                  "-g", "caller,0.5,callee,function,percent", "--percent-limit", "2",
                                  "--dsos", "airwave,libc.so.6,libwebsockets.so.17,librdkafka.so.1"],
                                 capture_output=True, text=True, errors="replace", check=False).stdout
        incl = subprocess.run(["perf", "report", "-i", pdata, "--children", "--sort", "dso,sym", "--stdio",
                               "-g", "none", "--percent-limit", "1"],
                              capture_output=True, text=True, errors="replace", check=False).stdout
        # Inclusive time of airwave's own functions: where each thread's
        # time goes (ingest_main, service_main, the session, the sinks).
        inclusive = [ln for ln in incl.splitlines() if " airwave " in ln and not ln.startswith("#")][:30]
        top = [ln for ln in rep.splitlines() if ln.strip() and not ln.startswith("#")][:40]
        dsos = [ln for ln in dso.splitlines() if ln.strip() and not ln.startswith("#")][:15]
        with open(os.path.join(awtest.tmpdir(), f"profile-{n}.callers.txt"), "w", encoding="utf-8") as f:
            f.write(callers)
        out[str(n)] = {"streams": n, "seconds": a.profile_seconds, "cpu_s": round(c1 - c0, 2), "top": top,
                       "inclusive_airwave": inclusive,
                       "by_dso": dsos, "ctx_switches_per_s": {k: round((ctx1[k] - ctx0[k]) / 5, 1) for k in ctx1},
                       "callers": callers.splitlines()[:400]}
        log(f"[profile] N={n}: {len(top)} top symbols; by library:\n    " + "\n    ".join(dsos[:8]))
    return out


def ctx_switches(pid):
    v = nv = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii") as f:
                for ln in f:
                    if ln.startswith("voluntary_ctxt_switches:"):
                        v += int(ln.split()[1])
                    elif ln.startswith("nonvoluntary_ctxt_switches:"):
                        nv += int(ln.split()[1])
        except OSError:
            pass
    return {"voluntary": v, "nonvoluntary": nv}


# --------------------------------------------------------------------------
# Report


def kb_mb(kb):
    return "-" if kb is None else f"{kb / 1024:.1f}"


def report(res, cmd):
    out = []
    p = out.append
    m = res["machine"]
    p(f"Command: `{cmd}`  ")
    p(f"Machine: {m['nproc']} × {m['cpu']}, {m['mem_gib']} GiB, Linux {m['kernel']}; {m['ffmpeg']}; node {m['node']}  ")
    p(f"Load at start: `{m['uptime']}`; at end: {res.get('loadavg_end')}")
    c = res.get("cost")
    if c:
        p("")
        p(f"### Per-stream cost: one live 128 kbit/s MP3 stream, side by side, {c['window_s']:.0f} s steady window")
        p("")
        p("| client | CPU s / audio min | of one core | CPU vs floor | Pss_Anon peak MB | Private_Dirty peak MB | "
          "peak RSS (VmHWM) MB | Pss_Anon vs floor |")
        p("|---|---|---|---|---|---|---|---|")
        names = {"floor": "(a) floor: ffmpeg -i URL -ac 1 -ar 16000 -f s16le - >/dev/null",
                 "airwave_kafka": "**airwave run, 1 stream, Kafka sink**",
                 "airwave_jsonl": "airwave run, 1 stream, JSONL to /dev/null",
                 "sdk": "(b) ffmpeg \\| node sdk_pipe.js (Speech SDK)"}
        for k in ("floor", "airwave_kafka", "airwave_jsonl", "sdk"):
            x = c["clients"][k]
            p(f"| {names[k]} | {x['cpu_s_per_audio_min']:.3f} | {x['core_pct']:.2f} % | {x['cpu_vs_floor']:.2f}x | "
              f"{kb_mb(x['pss_anon_peak_kb'])} | {kb_mb(x['private_dirty_peak_kb'])} | {kb_mb(x['vmhwm_kb'])} | "
              f"{x['pss_anon_vs_floor']:.2f}x |")
        s = c["clients"]["sdk"]["parts"]
        p("")
        p("(b) split: " + ", ".join(f"{n.replace('sdk:0', 'ffmpeg').replace('sdk:1', 'node')} "
                                    f"{v['cpu_s_window']:.2f} s CPU, Pss_Anon {kb_mb(v['pss_anon_peak_kb'])} MB, "
                                    f"VmHWM {kb_mb(v['vmhwm_kb'])} MB" for n, v in s.items()))
        for k in ("airwave_kafka", "airwave_jsonl"):
            x = c["clients"][k]
            thr = ", ".join(f"{n} {v:.2f}" for n, v in sorted(x["threads_cpu_s_window"].items(),
                                                              key=lambda kv: -kv[1]) if v > 0)
            p(f"{k}: decoded {x['decoded_s']:.1f} s, sent {x['sent_s']:.1f} s, lag {x['lag_s']:.2f} s, "
              f"dropped {x['dropped_s']:.1f} s; CPU s by thread: {thr}")
    d = res.get("density")
    if d:
        p("")
        p("### Density: one airwave process, N live streams (Kafka sink), speechd --engine null")
        p("")
        p("| N | ring s | airwave cores | streams/core | CPU s / stream audio min | Pss_Anon peak MB | "
          "Pss_Anon / stream MB | VmHWM MB | lag max s | streams lag > 1 s | slowest decode × RT | dropped s | "
          "busiest airwave thread cores | station cores | speechd cores | machine busy before | keeps real time |")
        p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in d["levels"] + d.get("alt", []):
            p(f"| {r['streams']} | {r['buffer_seconds']} | {r['airwave_cores']:.3f} | {r['streams_per_core']} | "
              f"{r['airwave_cpu_s_per_stream_audio_min']:.4f} | {kb_mb(r['pss_anon_peak_kb'])} | "
              f"{(r['pss_anon_peak_kb'] or 0) / r['streams'] / 1024:.2f} | {kb_mb(r['rss_peak_kb'])} | "
              f"{r['lag_max_s']} | {r['streams_lag_over_1s']} | {r['decode_rate_min']} | {r['dropped_s']} | "
              f"{r.get('busiest_thread_cores', 0):.3f} | "
              f"{r['station_cores']:.3f} | {r['speechd_cores']:.3f} | {100 * r['machine_busy_before']:.0f} % | "
              f"{'yes' if r['keeps_real_time'] else 'no: ' + '; '.join(r['why'])} |")
        p("")
        slope = d.get("pss_anon_per_stream_kb")
        p(f"Pss_Anon per added stream (least-squares slope over the default-ring levels): "
          f"{'-' if slope is None else f'{slope / 1024:.2f} MB'}"
          + (f"; with ingest.buffer_seconds {d['alt'][0]['buffer_seconds']}: "
             f"{d['alt_pss_anon_per_stream_kb'] / 1024:.2f} MB" if d.get("alt_pss_anon_per_stream_kb") else "")
          + f". Most streams held at real time: {d['max_streams_held']}.")
    lt = res.get("latency")
    if lt:
        p("")
        p("### Latency: speechd's speech.phrase -> Kafka delivery report (uprobes, one perf clock)")
        p("")
        if lt.get("error"):
            p(f"not measured: {lt['error']}")
        else:
            p(f"{lt['streams']} live streams into speechd (PocketSphinx) for {lt['seconds']:g} s: "
              f"{lt['phrases_emitted']} phrases with text sent by speechd, {lt['transcripts']} transcripts, "
              f"{lt['deliveries']} delivered ({lt['delivery_errors']} errors).")
            p("")
            p("| span | phrases paired | p50 ms | p99 ms | max ms |")
            p("|---|---|---|---|---|")
            for k, nm in (("speechd_to_on_transcript", "speechd emit() -> airwave on_transcript()"),
                          ("on_transcript_to_delivery", "airwave on_transcript() -> Kafka delivery report"),
                          ("speechd_to_delivery", "**speechd emit() -> Kafka delivery report**")):
                x = lt[k]
                p(f"| {nm} | {x['n']} | {x['p50_ms']} | {x['p99_ms']} | {x['max_ms']} |")
            if lt.get("metrics_phrase_latency_mean_s") is not None:
                p("")
                p(f"airwave's own airwave_phrase_latency_seconds (end of the phrase's audio -> publication, "
                  f"recognition included): mean {lt['metrics_phrase_latency_mean_s']:.3f} s over "
                  f"{lt['metrics_phrase_latency_count']:.0f} phrases.")
    pr = res.get("profile")
    if pr and not pr.get("error"):
        for n, x in pr.items():
            p("")
            p(f"### Profile: airwave, {n} stream(s), {x['seconds']} s, perf record --call-graph dwarf "
              f"(CPU {x['cpu_s']} s; context switches/s {x['ctx_switches_per_s']})")
            p("")
            p("```")
            p("\n".join(x["by_dso"][:10]))
            p("")
            p("\n".join(x["top"][:25]))
            p("")
            p("\n".join(x.get("inclusive_airwave", [])[:20]))
            p("```")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.environ.get("AW_BUILD_DIR") or os.path.join(SRC, "build"))
    ap.add_argument("--parts", default="cost,density,latency,profile")
    ap.add_argument("--cost-seconds", type=float, default=120)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--levels", default="1,10,100,300,400,500,600")
    ap.add_argument("--level-seconds", type=float, default=60)
    ap.add_argument("--max-lag", type=float, default=1.0)
    ap.add_argument("--alt-buffer-seconds", type=float, default=8)
    ap.add_argument("--latency-seconds", type=float, default=180)
    ap.add_argument("--latency-streams", type=int, default=3)
    ap.add_argument("--profile-seconds", type=float, default=20)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    os.environ["AW_BUILD_DIR"] = build
    os.environ.setdefault("AW_SOURCE_DIR", SRC)
    parts = set(a.parts.split(","))
    awtest.require_tools("ffmpeg", "node")
    if "cost" in parts:
        awtest.require_node_modules()
    for b in ("airwave", "airwave-speechd", "aw-kafka-mock"):
        awtest.binary(b)
    cache = subprocess.run(["grep", "-E", "^(CMAKE_BUILD_TYPE|AW_SANITIZE):", os.path.join(build, "CMakeCache.txt")],
                           capture_output=True, text=True, check=False).stdout.split()
    res = {"machine": machine(), "build": cache, "args": vars(a)}
    log(f"machine: {res['machine']}; build {cache}")
    mp3 = make_mp3(build)
    station = Station(mp3)
    kafka = awconn.KafkaMock(brokers=1, name="kafka-mock")
    sd = awtest.Speechd(name="speechd-null", engine="null", extra=["--max-sessions", "5000"]).start()
    res["station_idle_cpu_s"] = proc_cpu(station.pid)
    try:
        if "cost" in parts:
            res["cost"] = part_cost(a, build, station, sd, kafka)
        if "density" in parts:
            res["density"] = part_density(a, station, sd, kafka)
        if "profile" in parts:
            res["profile"] = part_profile(a, station, sd, kafka)
        if "latency" in parts:
            res["latency"] = part_latency(a, build, station, kafka)
    finally:
        res["speechd_exit"] = sd.stop()
        kafka.quit()
        station.stop()
    res["loadavg_end"] = loadavg()
    cmd = "bench/stream/run.sh " + " ".join(sys.argv[1:])
    res["markdown"] = report(res, cmd.strip())
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = a.out or os.path.join(SRC, "bench", "results", f"stream-{stamp}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    print()
    print(res["markdown"])
    print(f"\n(results: {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
