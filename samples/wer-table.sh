#!/bin/sh
# Print the PocketSphinx baseline of every sample as a Markdown table (the one
# in samples/README.md): each WAV and MP3 decoded directly by
# tests/tools/ps_baseline.sh and scored by tests/tools/wer.py.
#
#   samples/wer-table.sh [NAME...]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
tools=$here/../tests/tools
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ $# -eq 0 ]; then
    for f in "$here"/source/*.script; do
        n=${f##*/}
        set -- "$@" "${n%.script}"
    done
fi

# score NAME EXT: the table cells "WER (errors/words) | recall | utterances"
# of NAME.EXT, or dashes when there is no such file
score() {
    [ -f "$here/$1.$2" ] || { echo "- | - | -"; return; }
    "$tools/ps_baseline.sh" "$here/$1.$2" "$tmp/hyp.txt"
    python3 "$tools/wer.py" --recall "$here/$1.txt" "$tmp/hyp.txt" >"$tmp/wer"
    awk -v utts="$(wc -l <"$tmp/hyp.txt")" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%.1f %% (%d/%d) | %.1f %% | %d\n", 100 * v["wer"], v["errors"], v["words"],
            100 * v["recall"], utts
    }' "$tmp/wer"
}

echo "| sample | voices | length | sentences | WAV WER | WAV recall | WAV utt. | MP3 WER | MP3 recall | MP3 utt. |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for name in "$@"; do
    src=$here/source/$name.script
    voices=$(awk '$1 != "pause" && $1 != "music" && $1 !~ /^#/ && NF { print $1 }' "$src" |
        sort -u | paste -sd+ -)
    if [ -f "$here/$name.wav" ]; then
        secs=$(soxi -D "$here/$name.wav")
    else
        secs=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$here/$name.mp3")
    fi
    printf '| %s | %s | %.1f s | %d | %s | %s |\n' "$name" "$voices" "$secs" \
        "$(wc -l <"$here/$name.txt")" "$(score "$name" wav)" "$(score "$name" mp3)"
done
