#!/usr/bin/env python3
"""Connector must-show 5: wss:// to airwave-speechd behind a self-signed
certificate: refused by default with a clear error; accepted with
speech.ca_file.

A certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) is made with
openssl at test time; speechd serves wss:// only with it (--tls-cert,
--tls-key). `airwave transcribe --endpoint wss://127.0.0.1:PORT/...` on a
short sample:

- default (speech.tls_verify true, system CAs): exit 69, one line on stderr
  that says the TLS handshake failed because the certificate could not be
  verified (it names "certificate"), and speechd never sees a session;
- a configuration file with speech.ca_file = that certificate: exit 0 and
  the sample's text (WER <= 5 %);
- speech.ca_file = another self-signed certificate: refused like the
  default;
- speech.tls_verify false: accepted (documented as for tests only).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awconn  # noqa: E402
import awtest  # noqa: E402

SAMPLE = "health-clinic"


def make_cert(name):
    d = awtest.tmpdir()
    crt, key = os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2", "-keyout", key, "-out", crt],
                       capture_output=True, text=True, timeout=60, check=False)
    if r.returncode:
        awtest.fail(f"openssl req failed: {r.stderr}")
    return crt, key


def main():
    c = awtest.Checks("connector: wss:// to speechd with a self-signed certificate (must-show 5)")
    awtest.require_tools("openssl")
    s = next((x for x in awtest.load_samples() if x.name == SAMPLE), None)
    if s is None:
        awtest.fail(f"samples/{SAMPLE} is missing")
    crt, key = make_cert("speechd")
    other, _ = make_cert("other")
    with awtest.Speechd(name="speechd-tls", extra=["--tls-cert", crt, "--tls-key", key]) as sd:
        url = awconn.endpoint(sd.port, "wss")
        awtest.log(f"  endpoint {url}")

        def transcribe(label, conf=None):
            args = ["transcribe", "--endpoint", url]
            if conf is not None:
                args += ["--config", awconn.write_config(conf, f"{label}.yaml")]
            r = awconn.run_cli(args + [s.wav], timeout=60)
            awtest.log(f"  [{label}] rc={r.rc} {r.wall:.1f} s; stderr: {r.stderr.strip()[:300]!r}")
            c.check(not r.crashed, f"{label}: no crash or sanitizer report", "\n".join(r.sanitizer[:10]))
            return r

        opened = sd.sessions_opened()
        r = transcribe("default")
        c.equal(r.rc, 69, "default (verify against the system CAs): exit status")
        lines = r.stderr_lines
        c.check(len(lines) == 1 and lines[0].startswith("airwave: "), f"default: one line on stderr ({len(lines)})",
                r.stderr)
        low = r.stderr.lower()
        c.check(("tls" in low or "ssl" in low) and "certificate" in low,
                "default: the error says the TLS handshake failed on the certificate", r.stderr.strip())
        c.equal(sd.sessions_opened() - opened, 0, "default: no session reached speechd")

        r = transcribe("ca_file", {"speech": {"ca_file": crt}})
        c.equal(r.rc, 0, "speech.ca_file = the certificate: exit status")
        e, n, w = awtest.wer_figures(s.reference, r.stdout)
        c.check(w <= 5.0, f"speech.ca_file: the text of {SAMPLE} (WER {w:.1f} %, {e}/{n})", r.stdout)
        c.equal(r.stderr.strip(), "", "speech.ca_file: nothing on stderr")

        r = transcribe("other_ca", {"speech": {"ca_file": other}})
        c.equal(r.rc, 69, "speech.ca_file = another self-signed certificate: exit status")
        c.check(len(r.stderr_lines) == 1 and "certificate" in r.stderr.lower(),
                "another certificate: one line naming the certificate", r.stderr.strip())

        r = transcribe("no_verify", {"speech": {"tls_verify": False}})
        c.equal(r.rc, 0, "speech.tls_verify false: exit status")
        c.check(awtest.wer_figures(s.reference, r.stdout)[2] <= 5.0, "speech.tls_verify false: the text", r.stdout)
        alive = sd.alive()
    c.check(alive, "speechd still running")
    c.finish()


if __name__ == "__main__":
    main()
