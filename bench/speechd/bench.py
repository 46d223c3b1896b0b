#!/usr/bin/env python3
"""Benchmark airwave-speechd: real-time factor and memory per session, and how
many concurrent real-time sessions this machine holds. Run through run.sh:

    bench/speechd/run.sh [--build-dir build] [--seconds 60] [--levels 1,2,4,8,12,16,24,32]
                         [--engines pocketsphinx,null] [--max-p95 2.0] [--max-growth 1.0]

For each engine (pocketsphinx, then null: the protocol without decoding), one
airwave-speechd is started and driven by load.js with N concurrent sessions,
N rising through --levels. Each session streams samples/long-news.mp3
(decoded to 16 kHz mono s16, looped) at exactly real time for --seconds as
one turn. Measured per level:

- speechd CPU (utime + stime from /proc/PID/stat) over the run, divided by
  the audio seconds streamed: the real-time factor per session
- memory from /proc/PID/smaps_rollup (Rss, Pss_Anon, Private_Dirty), sampled
  every 0.5 s while the sessions stream: the median is reported
- phrase lag: arrival of a speech.phrase minus the time the audio holding the
  phrase's end was sent; p50, p95, max, and growth (median of the last third
  of a session's phrases minus that of the first third)

A level "holds" when every session ran to turn.end without error, p95 lag
<= --max-p95 seconds and lag growth <= --max-growth seconds. The pocketsphinx
engine stops at the first level that does not hold; the null engine runs the
same levels. Results go to bench/results/speechd-<time>.json and a Markdown
summary to stdout.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
import awtest  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP_S = 10  # lag figures leave out phrases ending in a session's first 10 s


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def memory(pid):
    """{rss, pss_anon, private_dirty} in KiB from smaps_rollup, plus threads."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss_Anon", "Private_Dirty"):
                out[k.lower()] = int(v.split()[0])
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    return out


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def other_cpu_busy():
    """The fraction of the machine's CPU that is busy, sampled over 1 s: taken
    before each level, when speechd is idle, it shows load from elsewhere
    that would distort the figures."""
    def snap():
        with open("/proc/stat", encoding="ascii") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(1)
    t1, i1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def wait_quiet(limit=0.15, max_wait=180):
    """Wait (up to max_wait s) until the machine is at most `limit` busy for
    two 1-s samples in a row, so other work does not distort a level;
    returns the last sample."""
    t_end = time.monotonic() + max_wait
    calm = 0
    busy = other_cpu_busy()
    while time.monotonic() < t_end:
        calm = calm + 1 if busy <= limit else 0
        if calm >= 2:
            break
        busy = other_cpu_busy()
    if busy > limit:
        print(f"  (machine still {busy * 100:.0f} % busy after {max_wait} s: measuring anyway)", flush=True)
    return busy


def machine():
    model = "?"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as f:
        mem = f.readline().split()[1]
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": round(int(mem) / 1048576, 1),
            "kernel": platform.release(), "node": subprocess.run(["node", "--version"], capture_output=True,
                                                                  text=True, check=False).stdout.strip()}


class Sampler(threading.Thread):
    def __init__(self, pid, every=0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples, self.stop_flag = pid, every, [], False

    def run(self):
        while not self.stop_flag:
            try:
                self.samples.append(memory(self.pid))
            except OSError:
                return
            time.sleep(self.every)


def run_level(sd, wav, n, seconds, key):
    load = os.path.join(HERE, "load.js")
    argv = ["node", load, "--base", sd.base, "--wav", wav, "--sessions", str(n), "--seconds", str(seconds),
            "--warmup", str(WARMUP_S)]
    if key:
        argv += ["--key", key]
    busy_before = wait_quiet()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = cpu_seconds(sd.pid)
    sampler = Sampler(sd.pid)
    sampler.start()
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 3 + 120, check=False)
    wall = time.monotonic() - t0
    sampler.stop_flag = True
    sampler.join()
    cpu1 = cpu_seconds(sd.pid)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    summ = next((x for x in lines if x.get("event") == "summary"), None)
    if p.returncode != 0 or summ is None:
        print(p.stdout[-3000:], p.stderr[-3000:], file=sys.stderr)
        raise RuntimeError(f"load.js failed with {p.returncode}")
    sessions = [x for x in lines if x.get("event") == "session"]
    audio = sum(s.get("audio_s", 0) for s in sessions)
    # Memory while streaming: drop the first and last 10 % (ramp-up, drain).
    ss = sampler.samples
    k = len(ss) // 10
    steady = ss[k:len(ss) - k] or ss
    med = lambda key_: statistics.median(x[key_] for x in steady) if steady else None  # noqa: E731
    return {
        "sessions": n, "seconds": seconds, "wall_s": round(wall, 1), "audio_s": round(audio, 1),
        "cpu_s": round(cpu1 - cpu0, 2), "rtf_per_session": round((cpu1 - cpu0) / audio, 4) if audio else None,
        "cpu_util": round((cpu1 - cpu0) / wall, 3),
        "client_cpu_s": round((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), 2),
        "rss_kib": med("rss"), "pss_anon_kib": med("pss_anon"), "private_dirty_kib": med("private_dirty"),
        "threads": max((x.get("threads", 0) for x in ss), default=None),
        "phrases": summ["phrases"], "success": summ["success"], "lag_p50": summ["lag_p50"], "lag_p95": summ["lag_p95"],
        "lag_max": summ["lag_max"], "lag_growth_max": summ["lag_growth_max"], "errors": summ["errors"],
        "turn_end_missing": summ["turn_end_missing"], "client_late_max_ms": summ["client_late_max_ms"],
        "session_errors": [e for s in sessions for e in s.get("errors", [])][:5],
        "machine_busy_before": round(busy_before, 2), "loadavg_after": loadavg(),
        "warmup_lag_max": summ.get("warmup_lag_max"),
    }


def holds(r, max_p95, max_growth, need_phrases):
    why = []
    if r["errors"]:
        why.append(f"{r['errors']} session errors")
    if r["turn_end_missing"]:
        why.append(f"{r['turn_end_missing']} sessions without turn.end")
    if need_phrases and not r["success"]:
        why.append("no recognized phrases")
    if r["lag_p95"] is not None and r["lag_p95"] > max_p95:
        why.append(f"p95 lag {r['lag_p95']:.2f} s > {max_p95}")
    if r["lag_growth_max"] is not None and r["lag_growth_max"] > max_growth:
        why.append(f"lag grows {r['lag_growth_max']:.2f} s > {max_growth}")
    if r["client_late_max_ms"] > 1000:
        why.append(f"load client fell {r['client_late_max_ms']} ms behind")
    return (not why), why


def fit_slope(points):
    """Least-squares slope of [(x, y)]."""
    if len(points) < 2:
        return None
    mx = statistics.mean(p[0] for p in points)
    my = statistics.mean(p[1] for p in points)
    den = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den if den else None


def bench_engine(engine, wav, levels, a, only_levels=None):
    key = "bench-key"
    extra = list(a.speechd_args)
    sd = awtest.Speechd(name=f"bench-{engine}", engine=engine, key=key, extra=extra, program=a.speechd).start()
    time.sleep(2)
    idle = memory(sd.pid)
    idle_cpu = cpu_seconds(sd.pid)
    print(f"[{engine}] idle: rss {idle['rss']} KiB, pss_anon {idle['pss_anon']} KiB, "
          f"private_dirty {idle['private_dirty']} KiB, cpu {idle_cpu:.2f} s (startup)", flush=True)
    res = {"engine": engine, "idle": idle, "startup_cpu_s": idle_cpu, "levels": []}
    for n in (only_levels or levels):
        if not sd.alive():
            awtest.fail(f"airwave-speechd ({engine}) exited with {sd.proc.returncode} before N={n}:\n"
                        + "\n".join(sd.log_text().splitlines()[-20:]))
        r = run_level(sd, wav, n, a.seconds, key)
        ok, why = holds(r, a.max_p95, a.max_growth, need_phrases=(engine != "null"))
        r["holds"], r["why"] = ok, why
        time.sleep(2)
        if not sd.alive():
            awtest.fail(f"airwave-speechd ({engine}) exited with {sd.proc.returncode} during N={n}:\n"
                        + "\n".join(sd.log_text().splitlines()[-20:]))
        r["after"] = memory(sd.pid)
        res["levels"].append(r)
        lag = "-" if r["lag_p95"] is None else f"{r['lag_p95']:.2f}"
        print(f"[{engine}] N={n:3d}: rtf/session {r['rtf_per_session']}, cpu {r['cpu_util'] * 100:.0f} %, "
              f"pss_anon {r['pss_anon_kib']} KiB, rss {r['rss_kib']} KiB, phrases {r['phrases']}, "
              f"lag p50/p95/max {r['lag_p50']}/{lag}/{r['lag_max']} s, growth {r['lag_growth_max']}, "
              f"{'holds' if ok else 'FAILS: ' + '; '.join(why)}", flush=True)
        if not ok and only_levels is None:
            break
    res["exit_code"] = sd.stop()
    held = [r for r in res["levels"] if r["holds"]]
    res["max_sessions_held"] = max((r["sessions"] for r in held), default=0)
    # Per added session: the least-squares slope over the levels run (not
    # the idle point: speechd starts with a decoder per worker preloaded).
    res["pss_anon_per_session_kib"] = fit_slope([(r["sessions"], r["pss_anon_kib"]) for r in res["levels"]])
    res["rss_per_session_kib"] = fit_slope([(r["sessions"], r["rss_kib"]) for r in res["levels"]])
    return res


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def report(m, results, a, cmd):
    out = []
    p = out.append
    p(f"Command: `{cmd}`  ")
    p(f"Machine: {m['nproc']} × {m['cpu']}, {m['mem_gib']} GiB, Linux {m['kernel']}, Node {m['node']}  ")
    p(f"Load: each session streams long-news (16 kHz mono s16, looped) at 1.0× real time for "
      f"{a.seconds:g} s as one turn, 100 ms chunks, starts staggered over 2 s; lag = arrival of a speech.phrase "
      f"minus the sending of the audio holding its end, over phrases ending after a session's first "
      f"{WARMUP_S} s; holds = no errors, p95 lag ≤ {a.max_p95} s, lag growth ≤ {a.max_growth} s.")
    p("")
    p("| engine | sessions | RTF/session | speechd CPU | RSS MiB | Pss_Anon MiB | Private_Dirty MiB | "
      "phrases | lag p50 / p95 / max s | first 10 s: max lag s | growth s | client CPU s | "
      "machine busy before / load after | holds |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for res in results:
        i = res["idle"]
        p(f"| {res['engine']} | idle | - | - | {mib(i['rss'])} | {mib(i['pss_anon'])} | "
          f"{mib(i['private_dirty'])} | - | - | - | - | - | - | - |")
        for r in res["levels"]:
            f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
            p(f"| {res['engine']} | {r['sessions']} | {r['rtf_per_session']:.4f} | {r['cpu_util'] * 100:.0f} % | "
              f"{mib(r['rss_kib'])} | {mib(r['pss_anon_kib'])} | {mib(r['private_dirty_kib'])} | {r['phrases']} | "
              f"{f(r['lag_p50'])} / {f(r['lag_p95'])} / {f(r['lag_max'])} | {f(r['warmup_lag_max'])} | "
              f"{f(r['lag_growth_max'])} | "
              f"{r['client_cpu_s']:.1f} | {r['machine_busy_before'] * 100:.0f} % / {r['loadavg_after']:.1f} | "
              f"{'yes' if r['holds'] else 'no: ' + '; '.join(r['why'])} |")
    p("")
    by = {r["engine"]: r for r in results}
    p("| engine | RTF per session (1 session) | idle Pss_Anon / RSS MiB | 1 session Pss_Anon / RSS MiB | "
      "per added session Pss_Anon / RSS MiB | concurrent real-time sessions held |")
    p("|---|---|---|---|---|---|")
    for res in results:
        one = next((r for r in res["levels"] if r["sessions"] == 1), None)
        if not one:
            p(f"| {res['engine']} | - | - | - | - | - |")
            continue
        top = "" if not res["levels"][-1]["holds"] else " (every level run held: ceiling not reached)"
        p(f"| {res['engine']} | {one['rtf_per_session']:.4f} | "
          f"{mib(res['idle']['pss_anon'])} / {mib(res['idle']['rss'])} | "
          f"{mib(one['pss_anon_kib'])} / {mib(one['rss_kib'])} | "
          f"{mib(res['pss_anon_per_session_kib'])} / {mib(res['rss_per_session_kib'])} | "
          f"{res['max_sessions_held']}{top} |")
    if "pocketsphinx" in by and "null" in by:
        ps, nu = by["pocketsphinx"], by["null"]
        o1 = next((r for r in ps["levels"] if r["sessions"] == 1), None)
        n1 = next((r for r in nu["levels"] if r["sessions"] == 1), None)
        if o1 and n1 and n1["rtf_per_session"]:
            p("")
            p(f"Ratios pocketsphinx / null: RTF per session {o1['rtf_per_session'] / n1['rtf_per_session']:.0f}×"
              + (f", memory per added session (Pss_Anon) "
                 f"{ps['pss_anon_per_session_kib'] / nu['pss_anon_per_session_kib']:.1f}×"
                 if ps["pss_anon_per_session_kib"] and (nu["pss_anon_per_session_kib"] or 0) > 100 else "")
              + f"; protocol share of the decoding cost {100 * n1['rtf_per_session'] / o1['rtf_per_session']:.1f} %.")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.environ.get("AW_BUILD_DIR") or os.path.join(SRC, "build"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--levels", default="1,2,4,8,12,16,24,32,48,64")
    ap.add_argument("--engines", default="pocketsphinx,null")
    ap.add_argument("--max-p95", type=float, default=2.0)
    ap.add_argument("--max-growth", type=float, default=1.0)
    ap.add_argument("--speechd-arg", dest="speechd_args", action="append", default=[],
                    help="extra airwave-speechd argument (repeat), e.g. --speechd-arg=--workers=2")
    ap.add_argument("--speechd", default=None, help="the airwave-speechd program (default: BUILD/airwave-speechd)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    os.environ["AW_BUILD_DIR"] = os.path.abspath(a.build_dir)
    os.environ.setdefault("AW_SOURCE_DIR", SRC)
    a.speechd_args = [x for arg in a.speechd_args for x in arg.split("=", 1)] if a.speechd_args else []
    levels = [int(x) for x in a.levels.split(",")]
    awtest.require_node_modules()
    wav = awtest.decode_wav(awtest.long_sample().media)
    m = machine()
    cmd = "bench/speechd/run.sh " + " ".join(sys.argv[1:])
    print(f"machine: {m}", flush=True)
    results = []
    ps_levels = None
    for engine in a.engines.split(","):
        if engine == "null" and ps_levels:
            res = bench_engine(engine, wav, levels, a, only_levels=ps_levels)
        else:
            res = bench_engine(engine, wav, levels, a)
        if engine == "pocketsphinx":
            ps_levels = [r["sessions"] for r in res["levels"]]
        results.append(res)
    text = report(m, results, a, cmd.strip())
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = a.out or os.path.join(SRC, "bench", "results", f"speechd-{stamp}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"machine": m, "args": vars(a), "results": results, "markdown": text}, f, indent=1)
    print()
    print(text)
    print(f"\n(results: {out})")
    bad = [r["engine"] for r in results if r.get("exit_code") != 0]
    if bad:
        print(f"airwave-speechd did not exit 0 on SIGTERM: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
