"""Helpers for airwave's operations tests (tests/integration/ops_*.py):
/metrics, /healthz, /readyz and secrets.

Import with:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    import awtest, awconn, awlive, awops

What is here:
- http(): GET on airwave's HTTP endpoint with status, headers and body
- parse_prometheus(): a strict parser of the Prometheus text exposition
  format (version 0.0.4) that returns every problem it finds, plus the
  naming rules airwave follows (airwave_ prefix, _total counters, base
  units); counter_regressions() between two scrapes
- TlsTap: a TLS-terminating TCP relay on 127.0.0.1 that records every byte
  both ways, to see what a client really sent and got (bearer tokens)
- secret_hits(): where secrets, or their first and last 8 characters,
  appear in a text
- random_secret(), self_signed_cert()
"""

import math
import os
import re
import secrets as _secrets
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import awtest  # noqa: E402


# --------------------------------------------------------------------------
# HTTP


def http(port, path, timeout=5, method="GET", headers=None, data=None, scheme="http", context=None):
    """(status, {header: value} lower-cased names, body text) of a request to
    127.0.0.1:port; (None, {}, error text) when nothing answers."""
    req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}{path}", method=method, data=data,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as e:
        return None, {}, str(e)


# --------------------------------------------------------------------------
# Prometheus text format (0.0.4), strictly

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
# Units Prometheus asks to be converted to base units (seconds, bytes, ratio).
_NON_BASE_UNITS = ("milliseconds", "microseconds", "nanoseconds", "minutes", "hours", "days", "ms", "us", "ns",
                   "kilobytes", "megabytes", "gigabytes", "kib", "mib", "gib", "kb", "mb", "gb", "bits",
                   "percent", "pct", "millis", "msec", "usec", "secs", "sec", "mins")


def _parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError(f"not a number: {s!r}")
    return float(s)


def _parse_labels(s, problems, where):
    """{name: value} of the text between braces; problems appended."""
    out = {}
    i, n = 0, len(s)
    while i < n:
        m = re.match(r"([^=\s,]*)=\"", s[i:])
        if not m:
            problems.append(f"{where}: bad label syntax at {s[i:]!r}")
            return out
        name = m.group(1)
        i += m.end()
        val = []
        while True:
            if i >= n:
                problems.append(f"{where}: unterminated label value")
                return out
            c = s[i]
            if c == "\\":
                if i + 1 >= n or s[i + 1] not in '\\"n':
                    problems.append(f"{where}: bad escape in label value {s[i:i + 2]!r}")
                    return out
                val.append({"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                problems.append(f"{where}: newline in a label value")
                return out
            else:
                val.append(c)
                i += 1
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            problems.append(f"{where}: bad label name {name!r}")
        if name in out:
            problems.append(f"{where}: label {name!r} given twice")
        out[name] = "".join(val)
        if i < n:
            if s[i] != ",":
                problems.append(f"{where}: expected ',' between labels, got {s[i:]!r}")
                return out
            i += 1
    return out


class Exposition:
    """A parsed /metrics body: families {name: {"type", "help", "samples"}},
    samples [(sample name, {labels}, value)], problems [str]."""

    def __init__(self):
        self.families = {}
        self.samples = []
        self.problems = []

    def value(self, name, default=None, **labels):
        """The value of the sample name whose labels include labels."""
        for n, ls, v in self.samples:
            if n == name and all(ls.get(k) == str(x) for k, x in labels.items()):
                return v
        return default

    def series(self):
        """{(name, frozenset(labels)): value}."""
        return {(n, frozenset(ls.items())): v for n, ls, v in self.samples}


def _family_of(sample, families):
    if sample in families:
        return sample
    for suffix in ("_bucket", "_sum", "_count"):
        if sample.endswith(suffix) and families.get(sample[:-len(suffix)], {}).get("type") in ("histogram", "summary"):
            return sample[:-len(suffix)]
    return None


def parse_prometheus(text, prefix="airwave_"):
    """Parse text strictly as the Prometheus text exposition format 0.0.4
    and check the naming conventions. Returns an Exposition whose problems
    list every deviation:
    - syntax: HELP/TYPE lines (one each per family, HELP and TYPE before
      its samples, a known type), sample lines (name, labels with valid
      names and escapes, a float value, optional integer timestamp), no
      blank lines, a final newline;
    - structure: every sample belongs to a declared family, a family's
      samples are contiguous, no series twice;
    - naming: the prefix, lower-case snake_case, counters end in _total and
      nothing else does, no non-base units (milliseconds, kilobytes,
      percent ...), no negative or NaN counters;
    - histograms: _bucket samples with an le label, le increasing and
      ending at +Inf, cumulative counts non-decreasing, +Inf bucket ==
      _count, a _sum, per label set.
    """
    ex = Exposition()
    P = ex.problems
    if not text.endswith("\n"):
        P.append("the body does not end with a newline")
    current = None  # family whose samples are being read
    closed = set()  # families whose samples ended
    seen_series = set()
    hist = {}  # (family, frozenset(labels without le)) -> {"buckets": [(le, v)], "sum", "count"}
    for no, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        where = f"line {no}"
        if line == "":
            P.append(f"{where}: blank line")
            continue
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+)(?: (.*))?\Z", line)
            if not m:
                if re.match(r"#\s*(HELP|TYPE)\b", line):
                    P.append(f"{where}: malformed {line!r}")
                continue  # a plain comment
            kind, name, rest = m.group(1), m.group(2), m.group(3)
            if not _NAME.match(name):
                P.append(f"{where}: bad metric name {name!r}")
            fam = ex.families.setdefault(name, {"type": None, "help": None, "samples": [], "line": no})
            if name in closed or (current is not None and current != name and fam["samples"]):
                P.append(f"{where}: {kind} for {name} after its samples")
            if kind == "HELP":
                if fam["help"] is not None:
                    P.append(f"{where}: second HELP for {name}")
                h = rest or ""
                if "\\" in re.sub(r"\\[\\n]", "", h):  # only \\ and \n are escapes
                    P.append(f"{where}: bad escape in HELP of {name}: {h!r}")
                fam["help"] = h
                if not h.strip():
                    P.append(f"{where}: empty HELP for {name}")
            else:
                if fam["type"] is not None:
                    P.append(f"{where}: second TYPE for {name}")
                if fam["samples"]:
                    P.append(f"{where}: TYPE for {name} after its samples")
                if rest not in _TYPES:
                    P.append(f"{where}: unknown type {rest!r} for {name}")
                fam["type"] = rest
            if current is not None and current != name:
                closed.add(current)
            current = name
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?[ ]+(\S+)(?:[ ]+(-?\d+))?\Z", line)
        if not m:
            P.append(f"{where}: not a sample line: {line!r}")
            continue
        sname, labels_txt, vtxt = m.group(1), m.group(3), m.group(4)
        labels = _parse_labels(labels_txt, P, where) if labels_txt else {}
        try:
            v = _parse_value(vtxt)
        except ValueError as e:
            P.append(f"{where}: {e}")
            continue
        fname = _family_of(sname, ex.families)
        if fname is None:
            P.append(f"{where}: sample {sname} of no declared family")
            continue
        fam = ex.families[fname]
        if fam["type"] is None or fam["help"] is None:
            P.append(f"{where}: sample {sname} before its family's HELP and TYPE")
        if fname in closed:
            P.append(f"{where}: sample {sname}: family {fname}'s samples are not together")
        if current != fname:
            if current is not None:
                closed.add(current)
            current = fname
        key = (sname, frozenset(labels.items()))
        if key in seen_series:
            P.append(f"{where}: series {sname}{labels} given twice")
        seen_series.add(key)
        fam["samples"].append((sname, labels, v))
        ex.samples.append((sname, labels, v))
        if fam["type"] == "histogram":
            base = frozenset((k, x) for k, x in labels.items() if k != "le")
            h = hist.setdefault((fname, base), {"buckets": [], "sum": None, "count": None})
            if sname.endswith("_bucket"):
                if "le" not in labels:
                    P.append(f"{where}: {sname} without an le label")
                    continue
                try:
                    le = _parse_value(labels["le"])
                except ValueError:
                    P.append(f"{where}: {sname}: le={labels['le']!r} is not a number")
                    continue
                h["buckets"].append((le, v, labels["le"]))
            elif sname.endswith("_sum"):
                h["sum"] = v
            elif sname.endswith("_count"):
                h["count"] = v
            else:
                P.append(f"{where}: {sname}: a histogram has only _bucket, _sum and _count samples")
        elif sname != fname:
            P.append(f"{where}: sample {sname} in {fam['type']} family {fname}")

    for (fname, base), h in hist.items():
        what = f"histogram {fname}{dict(base)}"
        b = h["buckets"]
        if not b:
            P.append(f"{what}: no buckets")
            continue
        les = [x[0] for x in b]
        if any(not (x < y) for x, y in zip(les, les[1:])):
            P.append(f"{what}: le not increasing: {[x[2] for x in b]}")
        if les[-1] != math.inf or b[-1][2] != "+Inf":
            P.append(f"{what}: last bucket is le={b[-1][2]!r}, not +Inf")
        counts = [x[1] for x in b]
        if any(y < x for x, y in zip(counts, counts[1:])):
            P.append(f"{what}: bucket counts not cumulative: {counts}")
        if any(c != int(c) or c < 0 for c in counts):
            P.append(f"{what}: bucket counts not non-negative integers: {counts}")
        if h["count"] is None:
            P.append(f"{what}: no _count")
        elif counts[-1] != h["count"]:
            P.append(f"{what}: +Inf bucket {counts[-1]} != _count {h['count']}")
        if h["sum"] is None:
            P.append(f"{what}: no _sum")
        elif not (h["sum"] >= 0):
            P.append(f"{what}: _sum {h['sum']} (observations are durations, never negative)")

    for name, fam in ex.families.items():
        where = f"family {name}"
        if fam["type"] is None:
            P.append(f"{where}: no TYPE")
        if fam["help"] is None:
            P.append(f"{where}: no HELP")
        if not name.startswith(prefix):
            P.append(f"{where}: no {prefix} prefix")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or "__" in name or name.endswith("_"):
            P.append(f"{where}: not lower-case snake_case")
        words = name.split("_")
        bad_units = [w for w in words if w in _NON_BASE_UNITS]
        if bad_units:
            P.append(f"{where}: non-base unit {bad_units} (use seconds, bytes, ratio)")
        if fam["type"] == "counter":
            if not name.endswith("_total"):
                P.append(f"{where}: a counter whose name does not end in _total")
            for s, ls, v in fam["samples"]:
                if math.isnan(v) or v < 0:
                    P.append(f"{where}: counter sample {s}{ls} = {v}")
        elif name.endswith("_total"):
            P.append(f"{where}: a {fam['type']} named like a counter (_total)")
        if fam["type"] in ("histogram", "summary") and re.search(r"_(bucket|sum|count)\Z", name):
            P.append(f"{where}: a {fam['type']} whose name ends with a reserved suffix")
        if fam["type"] == "gauge" and name.endswith("_ratio"):
            for s, ls, v in fam["samples"]:
                if not (0 <= v <= 1):
                    P.append(f"{where}: ratio {s}{ls} = {v} outside 0..1")
        if not fam["samples"]:
            P.append(f"{where}: declared without samples")
    return ex


def counter_regressions(before, after):
    """Counter series (and histogram _count/_bucket/_sum) that went down from
    Exposition before to Exposition after: [(series, before, after)]."""
    out = []
    a = after.series()
    for sname, ls, v in before.samples:
        fam = before.families.get(_family_of(sname, before.families) or "", {})
        if fam.get("type") not in ("counter", "histogram"):
            continue
        k = (sname, frozenset(ls.items()))
        if k in a and a[k] < v:
            out.append((f"{sname}{ls}", v, a[k]))
    return out


# --------------------------------------------------------------------------
# Secrets


def random_secret(prefix, nbytes=20):
    """A distinctive random secret: prefix + hex, e.g. "awkey-3f9c...". """
    return f"{prefix}{_secrets.token_hex(nbytes)}"


def secret_fragments(secret, n=8):
    """The secret, and its first and last n characters (a truncated or
    half-redacted secret shows as one of these)."""
    out = [secret]
    if len(secret) > n:
        out += [secret[:n], secret[-n:]]
    return out


def secret_hits(text, secrets_, n=8):
    """[(fragment, context)] of every occurrence in text of each secret or
    its first/last n characters."""
    hits = []
    for s in secrets_:
        for frag in secret_fragments(s, n):
            for m in re.finditer(re.escape(frag), text):
                a, b = max(0, m.start() - 60), min(len(text), m.end() + 60)
                hits.append((frag, text[a:b].replace("\n", "\\n")))
    return hits


def self_signed_cert(directory, cn="127.0.0.1"):
    """(cert.pem, key.pem) of a fresh self-signed certificate for 127.0.0.1."""
    awtest.require_tools("openssl")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


class TlsTap:
    """A TLS-terminating relay: listens on 127.0.0.1 (TLS with cert/key),
    forwards each connection in plain TCP to 127.0.0.1:backend_port, and
    records every byte both ways. What airwave sent (keys, bearer tokens in
    headers) and what it got (tokens in issueToken answers) can then be
    read from .sent() and .received().

        tap = TlsTap(cert, key, speechd.port).start()
        ... wss://127.0.0.1:{tap.port}/...
        tap.tokens_issued()   # bodies of 200 answers to POST .../issueToken
    """

    def __init__(self, cert, key, backend_port):
        self.backend_port = backend_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []  # [{"up": bytearray, "down": bytearray}]
        self._stop = False

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self._stop:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        rec = {"up": bytearray(), "down": bytearray()}
        with self.lock:
            self.conns.append(rec)
        try:
            raw.settimeout(10)
            cli = self.ctx.wrap_socket(raw, server_side=True)
            cli.settimeout(None)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        try:
            back = socket.create_connection(("127.0.0.1", self.backend_port), timeout=5)
            back.settimeout(None)
        except OSError:
            cli.close()
            return

        def pump(src, dst, buf):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    with self.lock:
                        buf += data
                    dst.sendall(data)
            except (OSError, ssl.SSLError):
                pass
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except (OSError, ssl.SSLError):
                    pass

        t = threading.Thread(target=pump, args=(back, cli, rec["down"]), daemon=True)
        t.start()
        pump(cli, back, rec["up"])
        t.join(10)
        for s in (cli, back):
            try:
                s.close()
            except OSError:
                pass

    def sent(self):
        with self.lock:
            return [bytes(c["up"]) for c in self.conns]

    def received(self):
        with self.lock:
            return [bytes(c["down"]) for c in self.conns]

    def tokens_issued(self):
        """Tokens in the bodies of 200 answers to POST .../issueToken."""
        out = []
        with self.lock:
            pairs = [(bytes(c["up"]), bytes(c["down"])) for c in self.conns]
        for up, down in pairs:
            if not up.startswith(b"POST ") or b"issueToken" not in up.split(b"\r\n", 1)[0]:
                continue
            head, _, body = down.partition(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"):
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if m:
                    body = body[:int(m.group(1))]
                tok = body.decode("ascii", "replace").strip()
                if tok:
                    out.append(tok)
        return out

    def bearer_tokens_sent(self):
        """Tokens airwave presented in websocket upgrades (header or query)."""
        out = []
        for up in self.sent():
            head = up.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            out += re.findall(r"(?im)^authorization:\s*bearer\s+(\S+)", head)
            out += [urllib.request.unquote(x) for x in
                    re.findall(r"[?&]Authorization=(?:Bearer(?:%20|\+| ))?([^&\s]+)", head.split("\r\n", 1)[0])]
        return out

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
