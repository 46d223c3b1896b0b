#!/bin/sh
# airwave live-stream benchmark: per-stream cost beside the FFmpeg floor and
# the Speech SDK, streams per process (density), speech service -> Kafka
# latency, and a profile of the hot path. See ../README.md and bench.py.
#
#   bench/stream/run.sh [--build-dir build] [--parts cost,density,latency,profile]
#                       [--cost-seconds 120] [--levels 1,10,100,300,400,500,600]
#                       [--level-seconds 60] [--alt-buffer-seconds 8]
#                       [--latency-seconds 180] [--latency-streams 3]
#                       [--profile-seconds 20] [--out FILE.json]
#
# Needs a release-like build (airwave, airwave-speechd, aw-kafka-mock),
# ffmpeg, node with the SDK's npm packages (npm ci --prefix tests/tools/sdk),
# and for latency and profile `perf` with uprobes (run as root). Everything
# listens on 127.0.0.1. Results: bench/results/stream-<UTC time>.json.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/bench.py" "$@"
