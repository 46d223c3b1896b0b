#!/usr/bin/env python3
"""Word error rate and word recall of a transcript against a reference.

As a tool:

    wer.py REF.txt HYP.txt [--recall] [--max RATE]
    wer=0.0164 errors=2 words=122

HYP may be "-" for standard input. --recall appends " recall=R" (see
recall()). With --max the exit status is 1 when the WER is above RATE
(e.g. --max 0.05), so shell tests can assert on it.

As a module (tests/tools on sys.path):

    >>> normalize("Aid convoys -- twenty-two trucks -- reached 'Gao' today; it's late.")
    "aid convoys twenty two trucks reached gao today it's late"
    >>> wer("the rain fell in the north".split(), "the rain fell on north tonight".split())
    (3, 6)
    >>> round(wer_text("Heavy rain.", "heavy grain"), 3)
    0.5
    >>> recall("the rain fell in the north", "rain fell in north")
    0.6666666666666666

Texts are compared after normalize(): lower case, hyphens as spaces, every
other punctuation mark removed except apostrophes inside words, whitespace
collapsed. Errors are the word-level Levenshtein distance (substitutions +
deletions + insertions); WER = errors / reference words.
"""

import re
import sys

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def normalize(text):
    """Return text lower-cased, punctuation stripped, words separated by one space."""
    text = text.lower().replace("\u2019", "'").replace("-", " ")
    return " ".join(_WORD.findall(text))


def words(text):
    """Return the normalized words of text as a list."""
    return normalize(text).split()


def _as_words(x):
    return words(x) if isinstance(x, str) else list(x)


def _align(ref, hyp):
    """Return (errors, matches) of a minimum-edit alignment of two word lists.

    Among the alignments with the fewest errors, the one with the most
    matched words is taken, so recall() does not depend on tie order.
    """
    # cell = (errors, -matches): tuples compare errors first.
    prev = [(j, 0) for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, 1):
        cur = [(i, 0)]
        for j, h in enumerate(hyp, 1):
            e, m = prev[j - 1]
            diag = (e, m - 1) if r == h else (e + 1, m)
            up = (prev[j][0] + 1, prev[j][1])  # deletion of r
            left = (cur[j - 1][0] + 1, cur[j - 1][1])  # insertion of h
            cur.append(min(diag, up, left))
        prev = cur
    errors, neg_matches = prev[-1]
    return errors, -neg_matches


def wer(ref_words, hyp_words):
    """Return (errors, ref_len): word Levenshtein distance and reference length."""
    ref = list(ref_words)
    errors, _ = _align(ref, list(hyp_words))
    return errors, len(ref)


def wer_text(ref, hyp):
    """Return the WER of hypothesis text hyp against reference text ref.

    An empty reference gives 0.0 for an empty hypothesis, else 1.0 per word.
    """
    errors, n = wer(words(ref), words(hyp))
    return errors / n if n else float(errors)


def recall(ref, hyp):
    """Return the fraction of reference words matched in an optimal alignment.

    ref and hyp are texts or word lists. An empty reference gives 1.0.
    """
    r, h = _as_words(ref), _as_words(hyp)
    if not r:
        return 1.0
    return _align(r, h)[1] / len(r)


def _read(path):
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def main(argv):
    args = list(argv)
    show_recall = "--recall" in args
    if show_recall:
        args.remove("--recall")
    limit = None
    if "--max" in args:
        k = args.index("--max")
        try:
            limit = float(args[k + 1])
        except (IndexError, ValueError):
            args = []
        else:
            del args[k : k + 2]
    if len(args) != 2:
        sys.stderr.write("usage: wer.py REF.txt HYP.txt [--recall] [--max RATE]\n")
        return 2
    ref, hyp = words(_read(args[0])), words(_read(args[1]))
    errors, n = wer(ref, hyp)
    rate = errors / n if n else float(errors)
    line = f"wer={rate:.4f} errors={errors} words={n}"
    if show_recall:
        line += f" recall={recall(ref, hyp):.4f}"
    print(line)
    return 1 if limit is not None and rate > limit else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
