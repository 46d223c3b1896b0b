#!/bin/sh
# The main job end to end on the bundled defaults: build airwave, start the
# local speech service (airwave-speechd, PocketSphinx) and a local Kafka
# stand-in (the librdkafka mock cluster), run `airwave run` over the sample
# recordings in samples/ (configs/local.yaml), then read the transcripts
# back from Kafka and print them.
#
#   scripts/demo.sh [CONFIG]
#
# Environment: AW_BUILD_DIR (default build), AW_SKIP_DEPS=1 to skip the
# package installation step.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
config=${1:-configs/local.yaml}
build=${AW_BUILD_DIR:-build}

[ "${AW_SKIP_DEPS:-0}" = 1 ] || scripts/install-deps.sh
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target airwave airwave-speechd aw-kafka-mock

tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

wait_for_file() {
    i=0
    while [ ! -s "$1" ]; do
        i=$((i + 1))
        if [ $i -gt 300 ]; then
            echo "demo: $2 did not start; its log:" >&2
            cat "$3" >&2
            exit 1
        fi
        sleep 0.1
    done
}

echo "== starting airwave-speechd (PocketSphinx) on 127.0.0.1"
"$build/airwave-speechd" --listen 127.0.0.1:0 --port-file "$tmp/speechd.port" \
    2>"$tmp/speechd.log" &
pids="$pids $!"
wait_for_file "$tmp/speechd.port" airwave-speechd "$tmp/speechd.log"
port=$(cat "$tmp/speechd.port")

echo "== starting the Kafka stand-in (librdkafka mock cluster)"
mkfifo "$tmp/kafka.ctl"
"$build/aw-kafka-mock" --brokers 1 <"$tmp/kafka.ctl" >"$tmp/kafka.out" \
    2>"$tmp/kafka.log" &
pids="$pids $!"
exec 7>"$tmp/kafka.ctl" # keeps the mock's stdin open
wait_for_file "$tmp/kafka.out" aw-kafka-mock "$tmp/kafka.log"
bootstrap=$(awk '/^BOOTSTRAP/ {print $2}' "$tmp/kafka.out")

echo "== airwave run --config $config"
AIRWAVE_SPEECH_ENDPOINT="ws://127.0.0.1:$port/speech/recognition/conversation/cognitiveservices/v1" \
AIRWAVE_KAFKA_BOOTSTRAP_SERVERS="$bootstrap" \
AIRWAVE_OUTPUT_JSONL= AIRWAVE_LOG_LEVEL=${AIRWAVE_LOG_LEVEL:-warn} \
    "$build/airwave" run --config "$config"

echo "== transcripts read back from Kafka topic 'transcripts'"
"$build/aw-kafka-mock" consume --bootstrap "$bootstrap" --topic transcripts \
    --timeout-ms 3000 >"$tmp/transcripts.jsonl"
python3 - "$tmp/transcripts.jsonl" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    rec = json.loads(json.loads(line)["value"])
    n += 1
    print(f'{rec["stream_id"]:>16}  {rec["offset_ms"] / 1000:7.2f}s  {rec["text"]}')
print(f"{n} transcripts")
PY
exec 7>&-
