#!/usr/bin/env python3
"""Live must-show 1: a real icecast2 server fed by ffmpeg with the long
recording; its title is changed through Icecast's admin interface as the
stories change. The transcripts must carry the right stream titles, and
each title change must appear in the `stream-events` topic, on the stream
timeline.

Setup (all on 127.0.0.1): icecast2 (TESTBED.md §5.3, run as root, changing
to the icecast2 user) with the mount /news.mp3 at a metadata interval of
4000 bytes (0.8 s at 40 kbit/s); ffmpeg pushes the first 158 s of
samples/long-news.mp3 (six stories, five jingle beds between them) with
-readrate 2, copying the MP3. The test sets the title at the middle of each
jingle bed, timed by the source's clock, so every sentence lies well inside
one title (the beds are 5 to 8 s of audio). airwave reads the mount live
(ICY metadata on by default) into airwave-speechd (PocketSphinx) and Kafka
(aw-kafka-mock), with a JSONL copy.

Checked:
- every transcript that is a reference sentence (matched by text: the
  reference sentence with the lowest WER, below 50 %) carries the title of
  that sentence's story, and at least 90 % of the window's sentences are
  transcribed;
- the `stream-events` topic (read back from Kafka) has one `title` event
  per title set, in order, and each lies on the capture session's timeline
  after the last transcript of the previous story and before the first of
  the next;
- one capture session; records valid against docs/schema; airwave exits 0.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awlive  # noqa: E402
import awtest  # noqa: E402

MOUNT = "/news.mp3"
RATE = 2.0
DURATION = 158.0  # the first six stories of long-news
# Title from each programme position on (the middle of the jingle bed
# before each story; long-news.phrases.tsv).
TITLES = [
    (0.0, "Morning news: displacement"),
    (28.1, "Floods"),
    (58.7, "Election count"),
    (81.4, "Health clinic"),
    (105.3, "Market report"),
    (129.0, "Weather"),
]


def title_for(t):
    cur = None
    for start, title in TITLES:
        if start <= t:
            cur = title
    return cur


def best_ref(text, refp):
    """(index, WER %) of the reference sentence closest to text."""
    best = (None, 1e9)
    for k, (_, _, rt) in enumerate(refp):
        w = awtest.wer_figures(rt, text)[2]
        if w < best[1]:
            best = (k, w)
    return best


def main():
    c = awtest.Checks("live: icecast titles on the stream timeline (must-show 1)")
    s = awtest.long_sample()
    refp = [p for p in s.phrases if p[1] <= DURATION]
    tdir = awtest.tmpdir()
    mock = awconn.KafkaMock(brokers=1)
    sd = awtest.Speechd(name="speechd").start()
    ice = awlive.Icecast(mounts={MOUNT: {"mp3-metadata-interval": 4000}}).start()

    jsonl = os.path.join(tdir, "out.jsonl")
    conf = awlive.airwave_conf(sd.url(), jsonl, [{"id": "news", "url": ice.url(MOUNT)}], kafka=mock.bootstrap)
    src = ice.source(MOUNT, s.mp3, duration=DURATION, readrate=RATE)
    awlive.wait_until(lambda: ice.mounted(MOUNT), 15, what=f"the source on {MOUNT}")
    ice.set_title(MOUNT, TITLES[0][1])
    a = awconn.start_airwave(conf, name="airwave")

    # Titles at their programme positions, on the source's clock.
    set_at = []
    for pos, title in TITLES[1:]:
        due = src.t_start + pos / RATE
        time.sleep(max(0.0, due - time.time()))
        ice.set_title(MOUNT, title)
        set_at.append((pos, title, (time.time() - src.t_start) * RATE))
    awtest.log("  titles set at programme positions: "
               + ", ".join(f"{t!r} {p:.1f} s (at {q:.1f})" for p, t, q in set_at))
    rc = src.wait(timeout=(DURATION / RATE + 60) * awtest.timeout_mult())
    awtest.log(f"  source ffmpeg ended ({rc}) {time.time() - src.t_start:.1f} s after its start")
    # The last sentence ends ~150 s into the programme; let the speech
    # service finish it, then stop airwave (a graceful stop delivers the rest).
    last = refp[-1][2]
    awlive.wait_until(lambda: any(awtest.wer_figures(last, t.get("text", ""))[2] < 50
                                  for t in awconn.transcripts(awconn.read_jsonl(jsonl))), 30)
    a.signal(signal.SIGTERM)
    r = a.wait(60 * awtest.timeout_mult())
    c.equal(r.rc, 0, "airwave exit status after SIGTERM")
    c.check(not r.sanitizer, "no sanitizer report or crash", "\n".join(r.sanitizer[:10]))
    ice.stop()
    sd.stop()

    recs = awconn.read_jsonl(jsonl)
    problems = [p for ln, _ in recs for p in awconn.validate_raw(ln)]
    c.check(not problems, f"all {len(recs)} JSONL records valid against docs/schema", "; ".join(problems[:5]))
    trs = awconn.transcripts(recs, "news")
    c.equal(len({t["capture_session"] for t in trs}), 1, "capture sessions while the source ran")

    # Each transcript to its reference sentence, hence its story's title.
    wrong, matched, per_story = [], {}, {}
    for t in trs:
        k, w = best_ref(t.get("text", ""), refp)
        if k is None or w >= 50:
            continue
        matched.setdefault(k, t)
        want = title_for(refp[k][0])
        per_story.setdefault(want, []).append(t)
        if t.get("stream_title") != want:
            wrong.append(f"[{t['offset_ms'] / 1000:.1f} s] {t['text']!r}: {t.get('stream_title')!r}, want {want!r}")
    awtest.log(f"  {len(trs)} transcripts; {len(matched)} of the {len(refp)} reference sentences matched")
    c.check(len(matched) >= 0.9 * len(refp), f"{len(matched)} of {len(refp)} sentences transcribed (>= 90 %)")
    c.check(not wrong, f"every matched transcript carries its story's title ({sum(map(len, per_story.values()))} "
            f"transcripts, {len(per_story)} titles)", "\n        ".join(wrong))

    # stream-events, from Kafka.
    rc, msgs, err = awconn.consume(mock.bootstrap, "stream-events", timeout_ms=5000)
    ev = [m["record"] for m in msgs if m.get("record") and m["record"].get("stream_id") == "news"]
    ev.sort(key=lambda e: (e["time"], e["offset_ms"]))
    titles = [e for e in ev if e["type"] == "title"]
    c.check(rc == 0 and ev, f"Kafka stream-events: {len(ev)} events of the stream read back", err[-300:])
    c.equal([e.get("title") for e in titles], [t for _, t in TITLES], "title events in Kafka, in order")
    jsonl_titles = [e.get("title") for e in awconn.events(recs, "news", "title")]
    c.equal(jsonl_titles, [t for _, t in TITLES], "title events in the JSONL copy")
    # On the timeline: between the stories.
    order = [t for _, t in TITLES]
    for e in titles[1:]:
        k = order.index(e["title"]) if e["title"] in order else None
        if k is None:
            continue
        before = per_story.get(order[k - 1], [])
        after = per_story.get(e["title"], [])
        last_end = max((t["offset_ms"] + t["duration_ms"] for t in before), default=None)
        first_start = min((t["offset_ms"] for t in after), default=None)
        ok = last_end is not None and first_start is not None and last_end <= e["offset_ms"] <= first_start
        c.check(ok, f"title {e['title']!r} at {e['offset_ms'] / 1000:.1f} s on the timeline: after the previous "
                f"story's last phrase ({(last_end or 0) / 1000:.1f} s), before this story's first "
                f"({(first_start or 0) / 1000:.1f} s)")
    c.equal(mock.quit(), 0, "aw-kafka-mock exits cleanly")
    c.finish()


if __name__ == "__main__":
    main()
