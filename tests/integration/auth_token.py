#!/usr/bin/env python3
"""Bearer-token authentication against a local HTTPS token endpoint.

airwave-speechd, with a key and a self-signed certificate, serves both the
wss:// speech endpoint and POST /sts/v1.0/issueToken (as Azure's regional
token service does). airwave, given speech.token_endpoint, fetches a token
with the key and opens every session with `Authorization: Bearer` instead
of the key; speechd logs which each session used. A wrong key is refused
by the token endpoint, once, with a one-line error and exit 77.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import awtest  # noqa: E402

KEY = "t0ken-test-key-7f3a"


def main():
    c = awtest.Checks("bearer tokens from a local HTTPS token endpoint")
    awtest.require_tools("openssl")
    d = awtest.tmpdir()
    cert, pkey = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2", "-keyout", pkey, "-out", cert],
                   check=True, capture_output=True)
    sample = awtest.load_samples()[0]
    airwave = awtest.binary("airwave")

    with awtest.Speechd(key=KEY, extra=["--tls-cert", cert, "--tls-key", pkey]) as sd:
        base = f"127.0.0.1:{sd.port}"
        conf = os.path.join(d, "airwave.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write("speech:\n"
                    f"  endpoint: wss://{base}/speech/recognition/conversation/cognitiveservices/v1\n"
                    f"  token_endpoint: https://{base}/sts/v1.0/issueToken\n"
                    f"  ca_file: {cert}\n")

        def transcribe(key):
            env = dict(os.environ, AZURE_SPEECH_KEY=key)
            return subprocess.run([airwave, "transcribe", "--config", conf, "--quiet", sample.media],
                                  env=env, capture_output=True, text=True, timeout=120 * awtest.timeout_mult())

        r = transcribe(KEY)
        c.equal(r.returncode, 0, "transcribe with a token: exit status")
        errors, words, wer = awtest.wer_figures(sample.reference, r.stdout)
        c.check(wer <= 10, f"transcript of {sample.name}: WER {wer:.1f} % ({errors}/{words})", r.stdout + r.stderr)
        opens = [rec for rec in sd.log_records() if rec.get("msg", "").startswith("open ")]
        c.check(opens and all("auth=bearer" in rec["msg"] for rec in opens),
                f"every session opened with a bearer token ({len(opens)} sessions)",
                "\n".join(rec["msg"] for rec in opens))
        c.check(sd.count_log(r"token issued") >= 1, f"tokens issued: {sd.count_log(r'token issued')}")

        issued = sd.count_log(r"token issued")
        r = transcribe("not-the-" + KEY)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        c.equal(r.returncode, 77, "wrong key: exit status")
        c.check(len(lines) == 1 and "refused the key (HTTP 401)" in lines[0],
                "wrong key: one line naming the refusal", r.stderr)
        c.check(KEY not in r.stderr, "the key never appears in the error")
        c.equal(sd.count_log(r"token refused"), 1, "the endpoint was asked once, not in a loop")
        c.equal(sd.count_log(r"token issued"), issued, "no token issued for a wrong key")
        c.check(KEY not in sd.log_text(), "the key never appears in speechd's log")
    c.finish()


if __name__ == "__main__":
    main()
