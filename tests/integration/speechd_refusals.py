#!/usr/bin/env python3
"""Must-show 3: every bad request gets its documented refusal from
airwave-speechd, while a concurrent healthy SDK session is unaffected.

The cases and texts are the refusal table of docs/speechd.md §2:
- handshake: wrong or missing key (401), unknown bearer token (403), wrong
  or root path (404), missing language or connection id, bad format (400),
  too many sessions (503); key and connection id accepted from the query
  alone or from headers alone
- on an open socket: unsupported locale in the query or in speech.context
  (1007), garbage and framing errors (1007), an audio body over 8,236 bytes
  (8 KiB + a RIFF header, 1009) and a message over --max-message-bytes (1009),
  a dashed or missing request id and a missing Path (1002), a reused request
  id for audio or speech.context (1002 "Invalid request. Reuse of request
  identifiers is not allowed."), a bad RIFF header on the first audio of a
  turn (1007)
- the SDK itself with a wrong key: canceled, ConnectionFailure, 401

Each case is asserted exactly: status code, or close code and reason text.
The healthy session transcribes a sample with the SDK (fed at real time)
alone, then again during the refusals; its transcript must be identical.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awtest  # noqa: E402

KEY = "conformance-key-4"
MAX_MESSAGE = 65536
MAX_SESSIONS = 3
REUSE = "Invalid request. Reuse of request identifiers is not allowed."
NEED = "need PCM, 1 channel, 16000 Hz, 16 bits."
NO_CID = {"headers": {"X-ConnectionId": None}, "query": {"X-ConnectionId": None}}

# (case spec, expected), the refusal table of docs/speechd.md §2. expected is
# ("status", code, body), ("open",) for an accepted handshake or message,
# ("sessions",) for the --max-sessions check, or ("close", code, reason).
CASES = [
    # Handshake
    ({"case": "handshake", "label": "wrong key", "key": "wrong-key"}, ("status", 401, "Invalid subscription key.")),
    ({"case": "handshake", "label": "missing key", "key": None},
     ("status", 401, "Missing subscription key or authorization token.")),
    ({"case": "handshake", "label": "unknown bearer token", "key": None,
      "headers": {"Authorization": "Bearer " + "0" * 64}}, ("status", 403, "Invalid or expired token.")),
    ({"case": "handshake", "label": "key and connection id in the query only", "keyIn": "query"}, ("open",)),
    ({"case": "handshake", "label": "key and connection id in headers only", "keyIn": "header"}, ("open",)),
    ({"case": "handshake", "label": "wrong path", "path": "/speech/recognition/nonsense/cognitiveservices/v1"},
     ("status", 404, "No such endpoint.")),
    ({"case": "handshake", "label": "root path", "path": "/"}, ("status", 404, "No such endpoint.")),
    ({"case": "handshake", "label": "missing language", "query": {"language": None}},
     ("status", 400, "Missing language parameter.")),
    ({"case": "handshake", "label": "missing connection id", **NO_CID}, ("status", 400, "Missing X-ConnectionId.")),
    ({"case": "handshake", "label": "bad format", "format": "xml"}, ("status", 400, "Invalid format parameter.")),
    ({"case": "sessions", "label": f"too many sessions (--max-sessions {MAX_SESSIONS})", "count": MAX_SESSIONS},
     ("sessions",)),
    # On the open socket
    ({"case": "locale", "label": "unsupported locale in the query", "language": "xx-XX"},
     ("close", 1007, "Unsupported locale: xx-XX.")),
    ({"case": "locale", "label": "unsupported locale in speech.context", "contextLanguage": "fr-FR"},
     ("close", 1007, "Unsupported locale: fr-FR.")),
    ({"case": "no-separator", "label": "text without header separator"},
     ("close", 1007, "Text message contains no header separator")),
    ({"case": "empty-text", "label": "empty text message"}, ("close", 1007, "Text message contains no data")),
    ({"case": "non-utf8", "label": "non-UTF-8 text"}, ("close", 1007, "Text message is not valid UTF-8")),
    ({"case": "binary-header-size", "label": "binary header size past the end"},
     ("close", 1007, "Invalid binary header size")),
    ({"case": "binary-too-short", "label": "one-byte binary message"},
     ("close", 1007, "Binary message too short for header size")),
    ({"case": "audio-too-large", "label": "audio body of 8236 bytes (8 KiB + a RIFF header) accepted",
      "bytes": 8236, "timeout": 1}, ("open",)),
    ({"case": "audio-too-large", "label": "audio body of 8237 bytes", "bytes": 8237},
     ("close", 1009, "Audio message body too large")),
    ({"case": "message-too-large", "label": f"text message of {MAX_MESSAGE + 1} bytes", "bytes": MAX_MESSAGE + 1},
     ("close", 1009, "Message too big.")),
    ({"case": "message-too-large", "label": f"binary message of {4 * MAX_MESSAGE} bytes", "bytes": 4 * MAX_MESSAGE,
      "binary": True}, ("close", 1009, "Message too big.")),
    ({"case": "dashed-request-id", "label": "dashed X-RequestId"},
     ("close", 1002, "Invalid request. X-RequestId header value was not specified in no-dash UUID format.")),
    ({"case": "missing-path", "label": "missing Path"}, ("close", 1002, "Missing/Empty header. Path.")),
    ({"case": "missing-request-id", "label": "speech.context without X-RequestId"},
     ("close", 1002, "Missing/Empty header. X-RequestId.")),
    ({"case": "bad-context", "label": "speech.context body not a JSON object"},
     ("close", 1007, "Invalid speech.context payload.")),
    ({"case": "reuse-request-id", "label": "reused request id (audio)", "variant": "audio"}, ("close", 1002, REUSE)),
    ({"case": "reuse-request-id", "label": "reused request id (speech.context)", "variant": "context"},
     ("close", 1002, REUSE)),
    ({"case": "bad-riff", "label": "first audio without RIFF header", "variant": "none"},
     ("close", 1007, "Invalid audio header: no RIFF/WAVE tag")),
    ({"case": "bad-riff", "label": "RIFF header 8 kHz", "variant": "rate8k"},
     ("close", 1007, f"Unsupported audio format: format 1, 1 channel(s), 8000 Hz, 16 bits; {NEED}")),
    ({"case": "bad-riff", "label": "RIFF header stereo", "variant": "stereo"},
     ("close", 1007, f"Unsupported audio format: format 1, 2 channel(s), 16000 Hz, 16 bits; {NEED}")),
    ({"case": "bad-riff", "label": "RIFF header 8-bit", "variant": "bits8"},
     ("close", 1007, f"Unsupported audio format: format 1, 1 channel(s), 16000 Hz, 8 bits; {NEED}")),
    ({"case": "bad-riff", "label": "RIFF header float", "variant": "float"},
     ("close", 1007, f"Unsupported audio format: format 3, 1 channel(s), 16000 Hz, 32 bits; {NEED}")),
    ({"case": "bad-riff", "label": "truncated RIFF header", "variant": "truncated"},
     ("close", 1007, "Invalid audio header: no data chunk")),
    ({"case": "bad-riff", "label": "RIFX header", "variant": "garbage"},
     ("close", 1007, "Invalid audio header: no RIFF/WAVE tag")),
]


def describe(r):
    if "status" in r:
        return f"HTTP {r['status']} \"{(r.get('body') or '').strip()[:80]}\""
    if r.get("error"):
        return f"error {r['error'][:200]}"
    if "results" in r:
        return "sessions " + ", ".join(str(x) for x in r["results"])
    cl = r.get("close")
    if not r.get("open"):
        return "?"
    return f"close {cl['code']} \"{cl['reason']}\"" if cl else "open, no close"


def judge(r, want):
    kind = want[0]
    if kind == "status":
        return (r.get("status") == want[1] and want[2] in (r.get("body") or ""),
                f"HTTP {want[1]} \"{want[2]}\"")
    if kind == "open":
        cl = r.get("close")
        return r.get("open") is True and cl is None, "open"
    if kind == "sessions":
        exp = ["open"] * (MAX_SESSIONS - 1) + [503]  # the healthy session holds one
        return r.get("results") == exp, "sessions " + ", ".join(str(x) for x in exp)
    code, reason = want[1], want[2]
    cl = r.get("close") or {}
    if reason is None:
        return cl.get("code") == code and bool(cl.get("reason")), f"close {code} with a reason"
    return cl.get("code") == code and cl.get("reason") == reason, f"close {code} \"{reason}\""


def main():
    c = awtest.Checks("speechd: refusals, with a concurrent healthy SDK session")
    awtest.require_node_modules()
    samples = awtest.load_samples()
    if not samples:
        awtest.fail("no samples in samples/")
    # The healthy session: the longest sample, fed at real time like a live
    # source, so it spans the refusal cases.
    healthy = max(samples, key=lambda s: awtest.wav_seconds(s.pcm_wav()))
    wav = healthy.pcm_wav()
    secs = awtest.wav_seconds(wav)
    hkw = {"key": KEY, "pace": 1.0, "timeout": 120}

    with awtest.Speechd(key=KEY, extra=["--max-message-bytes", str(MAX_MESSAGE),
                                        "--max-sessions", str(MAX_SESSIONS)]) as sd:
        alone = awtest.transcribe(sd.url(), wav, "simple", label="healthy-alone", **hkw)
        c.check(alone.ok, f"healthy session alone ({healthy.name}, {secs:.1f} s at real time) completed", alone.describe())

        # At half real time, so that it spans the refusal cases even on a
        # busy machine; the recogniser's result does not depend on pace.
        job = awtest.start_transcribe(sd.url(), wav, "simple", label="healthy-concurrent",
                                      **dict(hkw, pace=0.5))
        c.check(job.wait_event("connected") is not None, "healthy session connected before the refusals")
        t0 = time.monotonic()
        results = awtest.raw(sd.base, [spec for spec, _ in CASES], key=KEY, wav=wav, timeout=5)
        t_cases = time.monotonic() - t0
        still_running = job.proc.poll() is None
        sdk401 = awtest.transcribe(sd.url(), wav, "simple", key="wrong-key", max_retries=0, timeout=60,
                                   label="sdk-wrong-key")
        conc = job.result()
        after = awtest.raw(sd.base, [{"case": "turn", "label": "healthy raw turn after the refusals"}],
                           key=KEY, wav=wav, timeout=5)[0]
        alive = sd.alive()
        code = sd.stop()

    rows = []
    for (spec, want), r in zip(CASES, results):
        ok, expect = judge(r, want)
        got = describe(r)
        rows.append([spec.get("label", spec["case"]), expect, "as expected" if ok else f"FAIL: {got}"])
        c.check(ok, f"{spec.get('label')}: {got}", f"want {expect}; result {r}")
    awtest.log()
    awtest.print_table(["case", "expected", "result"], rows, title="Refusals (raw protocol client, tests/tools/sdk/raw.js):")
    awtest.log()

    c.check(still_running, f"the healthy session was still running when all {len(CASES)} refusal cases had "
            f"finished ({t_cases:.1f} s)")
    c.check(conc.ok, "healthy session alongside the refusals completed", conc.describe())
    e_a, n, w_a = awtest.wer_figures(healthy.reference, alone.text)
    e_c, _, w_c = awtest.wer_figures(healthy.reference, conc.text)
    c.check(conc.text == alone.text,
            f"healthy transcript unchanged: WER {w_c:.1f} % ({e_c}/{n}) alongside vs {w_a:.1f} % ({e_a}/{n}) alone",
            f"alone: {alone.text}\n        alongside: {conc.text}")
    cs = sdk401.summary.get("canceled") or {}
    c.check(sdk401.rc == 1 and cs.get("code") == "ConnectionFailure" and "401" in (cs.get("details") or ""),
            f"SDK with a wrong key: canceled {cs.get('code')}: {(cs.get('details') or '')[:120]}")
    c.check(after.get("turn_end") and after.get("text"),
            f"a new session after the refusals still transcribes: \"{(after.get('text') or '')[:60]}\"")
    c.check(alive, "airwave-speechd still running")
    c.equal(code, 0, "airwave-speechd exit status on SIGTERM")
    c.finish()


if __name__ == "__main__":
    main()
