#!/bin/sh
# airwave soak (live must-show 8): hours of live audio through source faults,
# speech rotations every 30 s and Kafka, in minutes of wall time, with
# airwave's memory sampled all along. See README.md. Not part of ctest.
#
#   bench/soak/run.sh [--build-dir build] [--audio-hours 2] [--speed 8] [--streams 2]
#                     [--fault-every 75] [--warmup 300] [--json OUT.json] [--valgrind]
#                     [--engine null|pocketsphinx] [--speechd-build-dir DIR] [--keep]
#
# Needs a built airwave, airwave-speechd and aw-kafka-mock (a release-like
# build for the memory figures; an ASan build, -DAW_SANITIZE=address,undefined,
# for LeakSanitizer's verdict), python3 and ffmpeg's libraries. Results:
# bench/results/soak-UTCSTAMP-KIND.json unless --json says otherwise.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/soak.py" "$@"
