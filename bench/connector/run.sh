#!/bin/sh
# airwave connector benchmark: CPU time and peak memory of `airwave transcribe`
# beside the FFmpeg decoding floor and beside ffmpeg piping PCM into the
# official Azure Speech SDK for Node, all against one airwave-speechd
# (--engine null). See README.md.
#
#   bench/connector/run.sh [--build-dir build] [--reps 3] [--file samples/long-news.mp3]
#                          [--live-seconds 60] [--json OUT.json]
#
# Needs a built airwave and airwave-speechd (a release-like build, not a
# sanitizer one), ffmpeg, node and the SDK's npm packages
# (npm ci --prefix tests/tools/sdk, or scripts/install-deps.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/bench.py" "$@"
