#!/bin/sh
# airwave-speechd benchmark: real-time factor and memory per session, and the
# number of concurrent real-time sessions this machine holds, for the
# pocketsphinx engine and the null engine (protocol only). See README.md.
#
#   bench/speechd/run.sh [--build-dir build] [--seconds 60] [--levels 1,2,4,8,12,16,24,32]
#
# Needs a built airwave-speechd (cmake --build build), samples/long-news.mp3,
# ffmpeg and the test client's npm packages (scripts/install-deps.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/bench.py" "$@"
