#!/bin/sh
# Regenerate the audio samples in samples/ from their scripts in samples/source/.
# The output is deterministic: the same tools give the same bytes.
#
#   samples/make-samples.sh            every samples/source/*.script
#   samples/make-samples.sh NAME...    only these
#
# A script has one command per line ("#" starts a comment line):
#   kal16 TEXT       say TEXT with flite's kal16 voice (rms: flite's rms voice)
#   pause SECONDS    silence
#   music SECONDS    a synthesized jingle bed (plucked chord arpeggio, pad, pink noise)
#
# For each NAME it writes NAME.wav (16 kHz mono s16, 44-byte header), NAME.mp3,
# NAME.txt (the spoken sentences, one per line) and NAME.phrases.tsv
# (start<TAB>end<TAB>text in seconds). Each TTS clip is trimmed to its speech
# before it is placed, so the TSV times are the speech itself.
#
# Names starting with "long-" get no WAV (size): their MP3 is the canonical file
# and their TSV is on the timeline of the MP3 as FFmpeg decodes it, that is
# shifted by the MP3 delay measured against the unencoded audio. Set
# AW_SAMPLES_WAV_DIR=DIR to keep their unencoded WAV in DIR.
set -eu

RATE=16000
SHORT_MP3_KBPS=48
LONG_MP3_KBPS=40
# sox silence effect: trim until 10 ms above 0.2 % of full scale (-54 dBFS).
TRIM="silence 1 0.01 0.2% reverse silence 1 0.01 0.2% reverse"

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

RAW="-t raw -r $RATE -c 1 -b 16 -e signed-integer"

die() {
    echo "make-samples: $*" >&2
    exit 1
}

samples_of() { # FILE.raw -> number of samples
    echo $(($(wc -c <"$1") / 2))
}

secs_to_samples() {
    awk -v s="$1" -v r="$RATE" 'BEGIN { printf "%d\n", s * r + 0.5 }'
}

# say VOICE TEXT OUT.raw: the TTS clip, trimmed to its speech
say() {
    flite -voice "$1" -t "$2" -o "$tmp/tts.wav"
    # shellcheck disable=SC2086
    sox -D -R "$tmp/tts.wav" $RAW "$3" $TRIM
}

# silence SAMPLES OUT.raw
silence() {
    # shellcheck disable=SC2086
    sox -D -R -r $RATE -c 1 -n $RAW "$2" trim 0 "$1s"
}

# music SAMPLES K OUT.raw: jingle bed number K (four chords in turn)
music() {
    m_len=$1 m_out=$3
    case $(($2 % 4)) in
    0) m_pad="C3 C4 E4 G4" m_arp="C5 E5 G5 C6" ;;
    1) m_pad="A2 A3 C4 E4" m_arp="A4 C5 E5 A5" ;;
    2) m_pad="F2 F3 A3 C4" m_arp="F4 A4 C5 F5" ;;
    *) m_pad="G2 G3 B3 D4" m_arp="G4 B4 D5 G5" ;;
    esac
    m_secs=$(awk -v n="$m_len" -v r=$RATE 'BEGIN { printf "%.6f\n", n / r }')
    m_bars=$(awk -v n="$m_len" -v r=$RATE 'BEGIN { printf "%d\n", int(n / r) }')
    # four sustained notes with a slow tremolo
    # shellcheck disable=SC2046
    sox -R -n -r $RATE -c 4 -b 16 -t raw - \
        synth "$m_secs" $(for x in $m_pad; do printf 'sine %s ' "$x"; done) |
        sox -R -D -t raw -r $RATE -c 4 -b 16 -e signed-integer - -c 1 "$tmp/pad.wav" \
            remix - tremolo 4 30
    # one bar: the chord plucked as a quarter-second arpeggio, repeated
    # shellcheck disable=SC2046
    sox -R -n -r $RATE -c 4 -b 16 -t raw - \
        synth 1 $(for x in $m_arp; do printf 'pluck %s ' "$x"; done) \
        delay 0 0.25 0.5 0.75 trim 0 1 repeat "$m_bars" |
        sox -R -D -t raw -r $RATE -c 4 -b 16 -e signed-integer - -c 1 "$tmp/arp.wav" \
            remix - trim 0 "${m_len}s"
    sox -R -D -n -r $RATE -c 1 -b 16 "$tmp/pink.wav" synth "$m_secs" pinknoise vol 0.05
    # shellcheck disable=SC2086
    sox -R -D -m -v 0.5 "$tmp/pad.wav" -v 0.6 "$tmp/arp.wav" -v 1 "$tmp/pink.wav" \
        $RAW "$m_out" trim 0 "${m_len}s" fade t 0.3 "$m_secs" 0.8 norm -18
    [ "$(samples_of "$m_out")" -eq "$m_len" ] || die "music: $m_out has the wrong length"
}

# check_wav FILE: 16 kHz mono s16 with the data chunk right after a 44-byte header
check_wav() {
    [ "$(dd if="$1" bs=1 skip=36 count=4 2>/dev/null)" = data ] ||
        die "$1: data chunk does not start at byte 44"
    [ "$(soxi -r "$1"):$(soxi -c "$1"):$(soxi -b "$1")" = "$RATE:1:16" ] ||
        die "$1: not 16 kHz mono 16-bit"
}

# mp3 IN.wav OUT.mp3 KBPS: plain MPEG audio frames, no ID3 or Xing/LAME tag
mp3() {
    ffmpeg -nostdin -loglevel error -y -i "$1" -c:a libmp3lame -b:a "${3}k" \
        -ar $RATE -ac 1 -id3v2_version 0 -write_xing 0 -map_metadata -1 \
        -flags +bitexact -fflags +bitexact "$2"
}

# mp3_delay REF.raw MP3 AT...: samples by which FFmpeg's decode of MP3 lags
# REF.raw, found by normalized cross-correlation of 4096 samples at each
# sample index AT (all must agree)
mp3_delay() {
    ref=$1 mp3file=$2
    shift 2
    ffmpeg -nostdin -loglevel error -y -i "$mp3file" -ac 1 -ar $RATE -f s16le "$tmp/dec.raw"
    python3 - "$ref" "$tmp/dec.raw" "$@" <<'EOF'
import array, math, operator, sys

def load(path):
    a = array.array("h")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder == "big":
        a.byteswap()
    return a

ref, dec = load(sys.argv[1]), load(sys.argv[2])
W, MAX_LAG = 4096, 4000
found = set()
for at in map(int, sys.argv[3:]):
    x = ref[at:at + W]
    def score(lag):
        y = dec[at + lag:at + lag + W]
        e = sum(map(operator.mul, y, y))
        return sum(map(operator.mul, x, y)) / math.sqrt(e) if e else 0.0
    found.add(max(range(MAX_LAG), key=score))
if len(found) != 1:
    sys.exit(f"mp3 delay differs along the file: {sorted(found)}")
print(found.pop())
EOF
}

# build NAME: one sample from source/NAME.script
build() {
    name=$1
    src=$here/source/$name.script
    [ -r "$src" ] || die "no such script: $src"
    out=$tmp/$name
    : >"$out.raw"
    : >"$out.phrases"
    pos=0 jingles=0 lineno=0
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        cmd=${line%% *}
        arg=${line#* }
        case $cmd in
        '' | '#'*) continue ;;
        pause)
            silence "$(secs_to_samples "$arg")" "$tmp/piece.raw"
            ;;
        music)
            music "$(secs_to_samples "$arg")" "$jingles" "$tmp/piece.raw"
            jingles=$((jingles + 1))
            ;;
        kal16 | rms)
            say "$cmd" "$arg" "$tmp/piece.raw"
            n=$(samples_of "$tmp/piece.raw")
            printf '%d\t%d\t%s\n' "$pos" $((pos + n)) "$arg" >>"$out.phrases"
            ;;
        *) die "$src:$lineno: unknown command '$cmd'" ;;
        esac
        cat "$tmp/piece.raw" >>"$out.raw"
        pos=$((pos + $(samples_of "$tmp/piece.raw")))
    done <"$src"

    # shellcheck disable=SC2086
    sox -D -R $RAW "$out.raw" "$out.wav"
    check_wav "$out.wav"
    cut -f 3 "$out.phrases" >"$here/$name.txt"

    shift_samples=0
    case $name in
    long-*)
        [ -z "${AW_SAMPLES_WAV_DIR:-}" ] || cp "$out.wav" "$AW_SAMPLES_WAV_DIR/$name.wav"
        mp3 "$out.wav" "$here/$name.mp3" $LONG_MP3_KBPS
        first=$(head -n 1 "$out.phrases" | cut -f 1)
        last=$(tail -n 1 "$out.phrases" | cut -f 1)
        shift_samples=$(mp3_delay "$out.raw" "$here/$name.mp3" \
            $((first + RATE / 4)) $((last + RATE / 4)))
        echo "$name.mp3: FFmpeg decode lags the audio by $shift_samples samples"
        ;;
    *)
        cp "$out.wav" "$here/$name.wav"
        mp3 "$out.wav" "$here/$name.mp3" $SHORT_MP3_KBPS
        ;;
    esac
    awk -F '\t' -v OFS='\t' -v r=$RATE -v d="$shift_samples" \
        '{ printf "%.3f\t%.3f\t%s\n", ($1 + d) / r, ($2 + d) / r, $3 }' \
        "$out.phrases" >"$here/$name.phrases.tsv"
    echo "$name: $(soxi -d "$out.wav"), $(wc -l <"$here/$name.txt") sentences"
}

for tool in flite sox soxi ffmpeg python3 awk; do
    command -v $tool >/dev/null || die "$tool not found (scripts/install-deps.sh)"
done

if [ $# -eq 0 ]; then
    for f in "$here"/source/*.script; do
        n=${f##*/}
        set -- "$@" "${n%.script}"
    done
fi
for name in "$@"; do
    build "$name"
done
