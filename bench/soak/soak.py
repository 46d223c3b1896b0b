#!/usr/bin/env python3
"""airwave soak (live must-show 8): hours of live audio through faults,
speech rotations and Kafka, in minutes; memory sampled all along. See
README.md. Not part of ctest.

    bench/soak/run.sh [--build-dir build] [--audio-hours 2] [--speed 8]
                      [--streams 2] [--fault-every 75] [--warmup 300]
                      [--json OUT.json] [--valgrind] [--keep]

What runs (all on 127.0.0.1):
- one fake station per stream (tests/tools/icy_server.py): samples/long-news.mp3
  looped as a live programme at --speed times real time, ICY titles every
  30 s of programme, and a fault on every connection: play --fault-every
  seconds of wall time, then drop the connection; every fifth connection
  stalls instead (no bytes, socket kept open), which the watchdog
  (ingest.stall_seconds) must catch. (libavformat's own HTTP reconnect
  right after a close is a connection too, which airwave drops at once and
  which uses up a plan slot: in practice about one airwave reconnect in
  three is a stall);
- airwave-speechd --engine null (the full protocol, no recognition: decoding
  is not what is soaked);
- aw-kafka-mock (the librdkafka mock cluster);
- airwave run with every stream, speech.rotate_seconds 30, Kafka, JSONL,
  /metrics.

It runs until every stream has decoded --audio-hours of audio, sampling
/metrics and airwave's VmRSS and Pss_Anon (/proc/PID/smaps_rollup) every
--sample-every seconds, then stops airwave with SIGTERM and checks:
- memory: Pss_Anon's peak over the first third after --warmup against its
  peak over the last third (growth must be < --max-growth-kb, 2048), plus
  the least-squares slope after warm-up;
- every stream decoded >= --audio-hours; source reconnects ~ the faults the
  stations made; speech rotations ~ wall time / 30 s;
- Kafka delivered every stream event the JSONL copy has, none failed;
- airwave exited 0 with no sanitizer report: run it on an ASan build
  (cmake -DAW_SANITIZE=address,undefined) for LeakSanitizer's verdict at
  exit, or with --valgrind for valgrind --leak-check=full; airwave-speechd
  (same build) likewise.
Memory is judged on a plain build only (ASan's quarantine and shadow make
its figures meaningless). The machine, the build and the load average at
the start and the end go into the JSON with the figures and every sample
(default bench/results/soak-UTCSTAMP-KIND.json).
"""

import argparse
import datetime
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--audio-hours", type=float, default=2.0, help="audio each stream must decode")
    ap.add_argument("--speed", type=float, default=8.0, help="stations play at this multiple of real time")
    ap.add_argument("--streams", type=int, default=2)
    ap.add_argument("--fault-every", type=float, default=75.0, help="wall seconds per station connection")
    ap.add_argument("--stall-every", type=int, default=5, help="every Nth connection stalls instead of closing")
    ap.add_argument("--stall-seconds", type=float, default=5.0, help="ingest.stall_seconds")
    ap.add_argument("--rotate-seconds", type=float, default=30.0, help="speech.rotate_seconds")
    ap.add_argument("--sample-every", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=300.0, help="wall seconds left out of the memory figures")
    ap.add_argument("--max-growth-kb", type=int, default=2048)
    ap.add_argument("--engine", default="null", choices=("null", "pocketsphinx"),
                    help="airwave-speechd's engine: null (no text, no CPU) or pocketsphinx (transcripts "
                         "flow too; slow: use --speed 2 and one stream on 2 cores)")
    ap.add_argument("--speechd-build-dir", help="take airwave-speechd from here (default --build-dir), e.g. a "
                    "release build's beside an ASan airwave")
    ap.add_argument("--valgrind", action="store_true", help="run airwave under valgrind --leak-check=full")
    ap.add_argument("--json", help="write the figures and samples here (default: "
                    "bench/results/soak-UTCSTAMP-{release,asan,valgrind}[-ENGINE].json; - for none)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return ap.parse_args()


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = None
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "mem_kb": mem_kb,
            "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


def main():
    args = parse_args()
    os.environ["AW_BUILD_DIR"] = os.path.abspath(args.build_dir)
    os.environ.setdefault("AW_SOURCE_DIR", SRC)
    cache_path = os.path.join(args.build_dir, "CMakeCache.txt")
    cache = open(cache_path, encoding="utf-8").read() if os.path.exists(cache_path) else ""
    sanitized = re.search(r"^AW_SANITIZE:\w+=\S+", cache, re.M)
    build_type = re.search(r"^CMAKE_BUILD_TYPE:\w+=(\S*)", cache, re.M)
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if sanitized or args.valgrind:
        os.environ.setdefault("AW_TIMEOUT_MULT", "3")  # awtest's start-up timeouts, as under ctest
    import awconn  # noqa: E402
    import awlive  # noqa: E402
    import awtest  # noqa: E402

    if args.keep:
        awtest.keep_tmp()
    machine = machine_info()
    machine["build_type"] = build_type.group(1) if build_type else None
    machine["sanitize"] = sanitized.group(0).split("=", 1)[1] if sanitized else None
    awtest.log(f"  machine: {machine['nproc']} CPUs, {machine['cpu']}, Linux {machine['kernel']}; "
               f"load average {machine['loadavg_start']} at {machine['started_utc']}")
    tdir = awtest.tmpdir()
    s = awtest.long_sample()
    c = awtest.Checks(f"soak: {args.streams} live stream(s), {args.audio_hours:g} h of audio each at "
                      f"{args.speed:g}x, faults every {args.fault_every:g} s, rotation every "
                      f"{args.rotate_seconds:g} s, speechd engine {args.engine}")
    plan = ",".join(("stall" if (i + 1) % args.stall_every == 0 else "close") + f":{args.fault_every:g}"
                    for i in range(args.stall_every))
    stations = [awlive.IcyServer([s.mp3], name=f"station{i}", loop=True, speed=args.speed, title_every=30,
                                 plan=plan, cycle=True).start() for i in range(args.streams)]
    mock = awconn.KafkaMock(brokers=1)
    sd_prog = os.path.join(os.path.abspath(args.speechd_build_dir), "airwave-speechd") if args.speechd_build_dir \
        else None
    sd = awtest.Speechd(name="speechd", engine=args.engine, extra=["--max-connection-seconds", "0"],
                        program=sd_prog).start()
    http = awlive.free_port()
    jsonl = os.path.join(tdir, "out.jsonl")
    ids = [f"soak{i}" for i in range(args.streams)]
    conf = awlive.airwave_conf(sd.url(), jsonl, [{"id": ids[i], "url": st.url()} for i, st in enumerate(stations)],
                               http_port=http, kafka=mock.bootstrap,
                               ingest={"stall_seconds": args.stall_seconds},
                               log={"level": "info"})
    conf["speech"]["rotate_seconds"] = args.rotate_seconds
    conf["speech"]["rotate_grace_seconds"] = 0
    path = awconn.write_config(conf, "airwave.yaml")
    argv = [awtest.binary("airwave"), "run", "--config", path]
    if args.valgrind:
        argv = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
                "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                f"--log-file={os.path.join(tdir, 'valgrind.log')}"] + argv
    err_path = os.path.join(tdir, "airwave.stderr")
    errf = open(err_path, "wb")
    t_start = time.monotonic()
    proc = awtest.popen(argv, stdout=subprocess.DEVNULL, stderr=errf, stdin=subprocess.DEVNULL,
                        env=awconn.airwave_env())
    awtest.print_file_on_failure(err_path, "airwave stderr", limit=80)
    target = args.audio_hours * 3600
    wall_est = target / args.speed
    awtest.log(f"  airwave pid {proc.pid}; about {wall_est / 60:.0f} min of wall time for "
               f"{args.audio_hours:g} h of audio per stream")
    samples = []  # dicts
    last_print = 0.0
    deadline = t_start + 3 * wall_est + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            c.check(False, f"airwave exited early with {proc.returncode}")
            break
        m = awlive.scrape(http)
        mem = awlive.proc_mem(proc.pid) or {}
        t = time.monotonic() - t_start
        row = {"t": round(t, 1), "rss_kb": mem.get("rss_kb"), "pss_anon_kb": mem.get("pss_anon_kb")}
        for sid in ids:
            row[sid] = {k: awlive.metric(m, f"airwave_{k}", sid) for k in (
                "audio_decoded_seconds_total", "source_reconnects_total", "speech_rotations_total",
                "speech_reconnects_total", "speech_connections_total", "audio_dropped_seconds_total")}
        samples.append(row)
        dec = [row[sid]["audio_decoded_seconds_total"] or 0 for sid in ids]
        if t - last_print >= 60:
            last_print = t
            awtest.log(f"  {t / 60:5.1f} min: decoded {', '.join(f'{d / 3600:.2f} h' for d in dec)}; "
                       f"source reconnects {', '.join(str(int(row[sid]['source_reconnects_total'] or 0)) for sid in ids)}; "
                       f"rotations {', '.join(str(int(row[sid]['speech_rotations_total'] or 0)) for sid in ids)}; "
                       f"RSS {row['rss_kb']} kB, Pss_Anon {row['pss_anon_kb']} kB; load {os.getloadavg()[0]:.2f}")
        if min(dec) >= target:
            break
        time.sleep(args.sample_every)
    wall = time.monotonic() - t_start
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    final = samples[-1] if samples else {}
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=120 if not args.valgrind else 600)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    errf.close()
    sd_rc = sd.stop()
    for st in stations:
        st.stop()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()

    # --- memory
    after = [x for x in samples if x["t"] >= args.warmup and x["pss_anon_kb"]]
    figs = {"wall_s": round(wall, 1), "samples": len(samples), "build": os.path.abspath(args.build_dir),
            "sanitized": bool(sanitized), "valgrind": args.valgrind, "machine": machine,
            "args": {k: v for k, v in vars(args).items() if k not in ("json", "keep")}}
    if len(after) >= 6:
        third = (after[-1]["t"] - after[0]["t"]) / 3
        early = [x for x in after if x["t"] <= after[0]["t"] + third]
        late = [x for x in after if x["t"] >= after[-1]["t"] - third]
        for key in ("pss_anon_kb", "rss_kb"):
            figs[f"{key}_peak_early"] = max(x[key] for x in early)
            figs[f"{key}_peak_late"] = max(x[key] for x in late)
            figs[f"{key}_growth"] = figs[f"{key}_peak_late"] - figs[f"{key}_peak_early"]
            # Medians too: a peak or a slope over minutes moves with one
            # heap trim (glibc gives a freed top chunk back, the next
            # reconnect takes it again).
            figs[f"{key}_median_early"] = statistics.median(x[key] for x in early)
            figs[f"{key}_median_late"] = statistics.median(x[key] for x in late)
            xs = [x["t"] / 3600 for x in after]
            ys = [x[key] for x in after]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            den = sum((x - mx) ** 2 for x in xs) or 1
            figs[f"{key}_slope_kb_per_h"] = round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den, 1)
        figs["pss_anon_kb_at_warmup"] = after[0]["pss_anon_kb"]
        figs["pss_anon_kb_end"] = after[-1]["pss_anon_kb"]
        figs["rss_kb_at_warmup"] = after[0]["rss_kb"]
        figs["rss_kb_end"] = after[-1]["rss_kb"]
        figs["pss_anon_kb_max"] = max(x["pss_anon_kb"] for x in samples if x["pss_anon_kb"])
        figs["rss_kb_max"] = max(x["rss_kb"] for x in samples if x["rss_kb"])
        if not sanitized and not args.valgrind:
            c.check(figs["pss_anon_kb_growth"] < args.max_growth_kb,
                    f"Pss_Anon peak after warm-up: {figs['pss_anon_kb_peak_early']} kB in the first third, "
                    f"{figs['pss_anon_kb_peak_late']} kB in the last (growth {figs['pss_anon_kb_growth']} kB "
                    f"< {args.max_growth_kb}); slope {figs['pss_anon_kb_slope_kb_per_h']} kB/h")
            awtest.log(f"  RSS peak {figs['rss_kb_peak_early']} kB -> {figs['rss_kb_peak_late']} kB "
                       f"(growth {figs['rss_kb_growth']} kB, slope {figs['rss_kb_slope_kb_per_h']} kB/h)")
        else:
            awtest.log(f"  memory figures of an instrumented run (not judged): Pss_Anon "
                       f"{figs['pss_anon_kb_peak_early']} -> {figs['pss_anon_kb_peak_late']} kB")
    else:
        c.check(False, f"too few samples after the {args.warmup:g}-s warm-up ({len(after)})")

    # --- work done
    recs = awconn.read_jsonl(jsonl)
    figs["streams"] = {}
    for i, sid in enumerate(ids):
        f = final.get(sid, {})
        ev = awconn.events(recs, sid)
        kinds = {}
        for e in ev:
            kinds[e["type"]] = kinds.get(e["type"], 0) + 1
        st_events = stations[i].events()
        faults = sum(1 for e in st_events if e["event"] in ("close", "stall"))
        stalls = sum(1 for e in st_events if e["event"] == "stall")
        dec = f.get("audio_decoded_seconds_total") or 0
        figs["streams"][sid] = {"decoded_h": round(dec / 3600, 3), "faults": faults, "stalls": stalls,
                                "source_reconnects": f.get("source_reconnects_total"),
                                "speech_rotations": f.get("speech_rotations_total"),
                                "speech_reconnects": f.get("speech_reconnects_total"),
                                "speech_connections": f.get("speech_connections_total"),
                                "dropped_s": f.get("audio_dropped_seconds_total"), "events": kinds}
        c.check(dec >= target, f"{sid}: decoded {dec / 3600:.2f} h of audio (>= {args.audio_hours:g} h)")
        rec = f.get("source_reconnects_total") or 0
        c.check(faults - 1 <= rec <= faults + 3, f"{sid}: {rec:.0f} source reconnects for the station's "
                f"{faults} faults ({stalls} stalls)")
        rot = f.get("speech_rotations_total") or 0
        want_rot = wall / args.rotate_seconds
        c.check(0.8 * want_rot - 1 <= rot <= 1.2 * want_rot + 2,
                f"{sid}: {rot:.0f} speech rotations in {wall / 60:.1f} min (~{want_rot:.0f} at one per "
                f"{args.rotate_seconds:g} s)")
    rc_k, msgs, err = awconn.consume(mock.bootstrap, "stream-events", timeout_ms=10000)
    n_ev = len(awconn.events(recs))
    figs["events_jsonl"] = n_ev
    figs["events_kafka"] = len(msgs)
    figs["transcripts_jsonl"] = len(awconn.transcripts(recs))
    c.check(rc_k == 0 and len(msgs) == n_ev, f"Kafka stream-events: {len(msgs)} read back, {n_ev} in the JSONL copy",
            err[-300:])
    counts = awconn.kafka_counts(stderr)
    figs["kafka"] = counts
    c.check(counts and all(v["failed"] == 0 and v["dropped"] == 0 for v in counts.values()),
            f"Kafka: nothing failed or dropped ({counts})")
    if args.engine != "null":
        got = (counts.get("transcripts") or {}).get("delivered")
        c.check(figs["transcripts_jsonl"] > 0 and got == figs["transcripts_jsonl"],
                f"transcripts: {figs['transcripts_jsonl']} in the JSONL copy, {got} delivered to Kafka")

    # --- exit and leaks
    figs["exit_status"] = rc
    san = [ln for ln in stderr.splitlines() if awconn.SANITIZER_RX.search(ln)]
    figs["sanitizer_lines"] = san[:20]
    c.equal(rc, 0, "airwave exit status after SIGTERM")
    c.check(not san, "no sanitizer report (LeakSanitizer runs at exit on an ASan build)", "\n".join(san[:20]))
    if args.valgrind:
        vlog = open(os.path.join(tdir, "valgrind.log"), encoding="utf-8", errors="replace").read()
        summary = [ln.split("== ", 1)[-1] for ln in vlog.splitlines()
                   if re.search(r"(definitely|indirectly|possibly) lost:|ERROR SUMMARY", ln)]
        figs["valgrind"] = summary
        for ln in summary:
            awtest.log("  valgrind: " + ln)
        definite = re.search(r"definitely lost: ([\d,]+) bytes", vlog)
        c.check(definite is None or definite.group(1) == "0", "valgrind: nothing definitely lost")
    # airwave-speechd ran all along too: on an ASan build its exit is checked as well.
    sd_san = [ln for ln in sd.log_text().splitlines() if awconn.SANITIZER_RX.search(ln)]
    figs["speechd_exit_status"] = sd_rc
    figs["speechd_sanitizer_lines"] = sd_san[:20]
    c.equal(sd_rc, 0, "airwave-speechd exit status after SIGTERM")
    c.check(not sd_san, "no sanitizer report from airwave-speechd", "\n".join(sd_san[:20]))
    c.equal(mock.quit(), 0, "aw-kafka-mock exits cleanly")

    awtest.log(json.dumps(figs, indent=1))
    if args.json is None:
        kind = "valgrind" if args.valgrind else "asan" if sanitized else "release"
        if args.engine != "null":
            kind += "-" + args.engine
        stamp = machine["started_utc"].replace("-", "").replace(":", "")
        args.json = os.path.join(SRC, "bench", "results", f"soak-{stamp}-{kind}.json")
    if args.json != "-":
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"figures": figs, "samples": samples}, f)
        awtest.log(f"  figures and samples: {args.json}")
    c.finish()


if __name__ == "__main__":
    main()
