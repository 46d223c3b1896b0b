#!/usr/bin/env python3
"""Connector must-show 6: bad input, each with a one-line error naming the
cause, a non-zero exit and no crash or leak.

`airwave transcribe` (quiet by default: its stderr must be exactly one line
"airwave: <cause>") on:

| case                          | exit | the line names               |
|-------------------------------|------|------------------------------|
| missing file                  | 66   | the path                     |
| a file that is not audio      | 65   | the path                     |
|   (text as .txt, .mp3, .aac)  |      |                              |
| HTTP 404 (in-test server)     | 66   | 404 and the URL              |
| refused speech connection     | 69   | refused / connect            |
| wrong key (speechd: 401)      | 77   | 401 / key                    |
| unsupported language (1007)   | 69   | 1007 / locale, the tag       |

`airwave check-config` and `airwave run --config` on a malformed YAML file
(two kinds: an unclosed flow sequence, a badly indented line) and on an
unknown key: exit 78, one line naming the file, the line and the problem
(the key for an unknown key). `airwave run` also on the runtime cases that
end a file stream (missing file, 404, 401, 1007): its log may precede it,
but exactly one "airwave: <cause>" line, and the same exit status.

Everywhere: AZURE_SPEECH_KEY is set and never appears in any output; no
sanitizer report (the ASan build checks leaks at exit: LeakSanitizer
output would show here), no death by a signal.
"""

import http.server
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awtest  # noqa: E402

KEY = "connector-key-3f9a"
WRONG_KEY = "wrong-key-77c1"
SAMPLE = "health-clinic"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    c = awtest.Checks("connector: bad input, one line naming the cause (must-show 6)")
    tdir = awtest.tmpdir()
    s = next((x for x in awtest.load_samples() if x.name == SAMPLE), None)
    if s is None:
        awtest.fail(f"samples/{SAMPLE} is missing")
    www = os.path.join(tdir, "www")
    os.makedirs(www)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: Quiet(*a, directory=www, **k))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    http_base = f"http://127.0.0.1:{srv.server_address[1]}"
    # Not audio: text, under three names (FFmpeg picks the demuxer by content
    # and by extension, so each takes another path): .txt, and an .mp3 and an
    # .aac such as an HTML error page saved under the stream's name.
    not_audio = {}
    for ext in ("txt", "mp3", "aac"):
        not_audio[ext] = os.path.join(tdir, f"bulletin.{ext}")
        with open(not_audio[ext], "w", encoding="utf-8") as f:
            f.write("<html><body>This is text with an audio name, not audio.</body></html>\n" * 50)
    missing = os.path.join(tdir, "no-such-dir", "missing.mp3")
    dead = awconn.endpoint(free_port())

    def judge(label, r, code, names, single=True):
        """One case: exit code, one "airwave:" line naming the cause, no key, no crash."""
        out = r.stdout + r.stderr
        c.check(not r.crashed, f"{label}: no crash, no sanitizer report (rc {r.rc})", "\n".join(r.sanitizer[:10]))
        c.equal(r.rc, code, f"{label}: exit status")
        lines = r.stderr_lines
        fails = [ln for ln in lines if ln.startswith("airwave: ") or (not ln.startswith("ts=") and ":" in ln)]
        if single:
            ok = len(lines) == 1
            c.check(ok, f"{label}: exactly one line on stderr ({len(lines)})", r.stderr.rstrip())
        else:
            ok = len([ln for ln in lines if ln.startswith("airwave: ")]) == 1
            c.check(ok, f"{label}: exactly one 'airwave:' line on stderr", r.stderr.rstrip()[-1500:])
        line = fails[-1] if fails else ""
        low = line.lower()
        missing_names = [alts for alts in names if not any(a.lower() in low for a in alts)]
        c.check(line and not missing_names,
                f"{label}: the line names the cause ({' and '.join('/'.join(a) for a in names)}): {line!r}",
                f"missing: {missing_names}")
        c.check(KEY not in out and WRONG_KEY not in out, f"{label}: the key appears in no output")

    env = awconn.airwave_env({"AZURE_SPEECH_KEY": KEY})
    with awtest.Speechd(key=KEY) as sd:
        url = sd.url()
        cases = [
            ("missing file", ["--endpoint", url, missing], env, 66, [(missing,)]),
            ("not audio (.txt)", ["--endpoint", url, not_audio["txt"]], env, 65, [(not_audio["txt"],)]),
            ("not audio (text named .mp3)", ["--endpoint", url, not_audio["mp3"]], env, 65, [(not_audio["mp3"],)]),
            ("not audio (text named .aac)", ["--endpoint", url, not_audio["aac"]], env, 65, [(not_audio["aac"],)]),
            ("HTTP 404", ["--endpoint", url, f"{http_base}/missing.mp3"], env, 66,
             [("404",), (f"{http_base}/missing.mp3",)]),
            ("refused connection", ["--endpoint", dead, s.wav], env, 69, [("refused", "connect")]),
            ("wrong key", ["--endpoint", url, s.wav], awconn.airwave_env({"AZURE_SPEECH_KEY": WRONG_KEY}), 77,
             [("401", "key")]),
            ("unsupported language", ["--endpoint", url, "--language", "fr-FR", s.wav], env, 69,
             [("1007", "locale", "language"), ("fr-FR",)]),
        ]
        for label, args, e, code, names in cases:
            r = awconn.run_cli(["transcribe"] + args, env=e, timeout=60)
            awtest.log(f"  [transcribe: {label}] rc={r.rc} {r.wall:.1f} s: {r.stderr.strip()[:200]!r}")
            judge(f"transcribe, {label}", r, code, names)

        # The same runtime causes through `airwave run` (file streams end there).
        run_cases = [
            ("missing file", {"url": missing}, env, 66, [(missing,)]),
            ("HTTP 404", {"url": f"{http_base}/missing.mp3"}, env, 66, [("404",)]),
            ("wrong key", {"url": s.wav}, awconn.airwave_env({"AZURE_SPEECH_KEY": WRONG_KEY}), 77, [("401", "key")]),
            ("unsupported language", {"url": s.wav, "language": "fr-FR"}, env, 69, [("1007", "locale")]),
        ]
        for label, st, e, code, names in run_cases:
            conf = {"speech": {"endpoint": url}, "streams": [dict(id="bad", live="false", **st)]}
            path = awconn.write_config(conf, f"run-{label.replace(' ', '-')}.yaml")
            r = awconn.run_cli(["run", "--config", path], env=e, timeout=60)
            awtest.log(f"  [run: {label}] rc={r.rc} {r.wall:.1f} s: {r.stderr_lines[-1] if r.stderr_lines else ''!r}")
            judge(f"run, {label}", r, code, names, single=False)
        alive = sd.alive()
    c.check(alive, "speechd still running after the refusals")
    srv.shutdown()

    # Configuration errors: check-config and run, one line each.
    good_stream = f"streams:\n  - id: a\n    url: {s.wav}\n"
    configs = [
        ("malformed YAML (unclosed flow sequence)", "speech:\n  endpoint: [ws://127.0.0.1:1/x\n" + good_stream,
         [("yaml",), ("line 2", ":2:", ":3:")]),
        ("malformed YAML (bad indentation)", "speech:\n  pace: 1\n    format: simple\n" + good_stream,
         [("yaml",), (":3:",)]),
        ("unknown key", "speech:\n  pace: 1\n  colour: red\n" + good_stream, [("colour",), (":3",)]),
    ]
    for label, text, names in configs:
        path = os.path.join(tdir, label.split(" (")[0].replace(" ", "-") + f"-{len(text)}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        for cmd in (["check-config", path], ["run", "--config", path]):
            r = awconn.run_cli(cmd, env=env, timeout=30)
            awtest.log(f"  [{cmd[0]}: {label}] rc={r.rc}: {r.stderr.strip()!r}")
            judge(f"{cmd[0]}, {label}", r, 78, [(os.path.basename(path),)] + names)
    c.finish()


if __name__ == "__main__":
    main()
