#!/bin/sh
# Decode an audio file with PocketSphinx directly: the baseline that airwave's
# transcripts are compared against (same engine and model, no pipeline).
#
#   tests/tools/ps_baseline.sh FILE.wav|FILE.mp3|... [OUT.txt]
#
# Prints the hypothesis, one utterance per line, to OUT.txt or stdout. A file
# that is not already 16 kHz mono s16 WAV is decoded with ffmpeg first.
# AW_PS_MODEL_DIR overrides the model directory.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 FILE.wav|FILE.mp3 [OUT.txt]" >&2
    exit 2
fi
in=$1
out=${2:-}
M=${AW_PS_MODEL_DIR:-/usr/share/pocketsphinx/model/en-us}

[ -r "$in" ] || { echo "$0: cannot read $in" >&2; exit 1; }
[ -r "$M/en-us.lm.bin" ] || { echo "$0: no PocketSphinx model in $M" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# pocketsphinx_continuous reads a WAV as a 44-byte header then 16 kHz mono s16
# samples: pass such a file as it is, convert anything else.
case $in in
*.wav | *.WAV)
    if [ "$(dd if="$in" bs=1 skip=36 count=4 2>/dev/null)" = data ] &&
        [ "$(soxi -r "$in" 2>/dev/null)" = 16000 ] && [ "$(soxi -c "$in")" = 1 ] &&
        [ "$(soxi -b "$in")" = 16 ] && [ "$(soxi -e "$in")" = "Signed Integer PCM" ]; then
        wav=$in
    fi
    ;;
esac
if [ -z "${wav:-}" ]; then
    wav=$tmp/in.wav
    ffmpeg -nostdin -loglevel error -i "$in" -ac 1 -ar 16000 -c:a pcm_s16le \
        -map_metadata -1 -flags +bitexact -fflags +bitexact "$wav"
fi

pocketsphinx_continuous -infile "$wav" -hmm "$M/en-us" -lm "$M/en-us.lm.bin" \
    -dict "$M/cmudict-en-us.dict" -logfn /dev/null 2>"$tmp/err" >"$tmp/hyp" || {
    cat "$tmp/err" >&2
    exit 1
}

# One utterance per line; drop the blank lines of utterances with no words.
if [ -n "$out" ]; then
    grep -v '^[[:space:]]*$' "$tmp/hyp" >"$out" || true
else
    grep -v '^[[:space:]]*$' "$tmp/hyp" || true
fi
