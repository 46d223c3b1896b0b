#!/usr/bin/env python3
"""A fake Icecast/SHOUTcast station for airwave's live-source tests and soak
(after TESTBED.md §5.2): one or more MP3 files played as a live programme,
with ICY titles and scripted faults.

    icy_server.py FILE.mp3 [FILE.mp3 ...] [--port 0] [--port-file F] [--log F]
        [--speed 1.0] [--loop] [--metaint 8192] [--titles FILE.tsv | --title-every S]
        [--burst S] [--plan ACTION[,ACTION...] [--cycle]] [--fault-every S --fault ACTION]

The programme: the files joined frame by frame (bare MPEG audio frames, as
samples/*.mp3 are; ID3 tags and Xing headers are skipped), optionally
looped. Positions are seconds of audio, counted from MP3 frame durations,
so the server knows exactly which audio it sends.

It is *live*: the programme runs on the server's clock from its start
(--speed times real time), whether or not anyone listens. A listener that
connects at time t gets the programme from position speed*t (the first
connection minus --burst seconds of back-buffer, as Icecast's
burst-on-connect; later ones none, so a reconnect never hears the same
audio twice), paced at --speed;
what is broadcast while nobody listens is lost to that listener, as with a
real station. With --loop the programme repeats; without, the station ends
(connections are closed, new ones get 404) after the last frame.

ICY metadata: when the client sends "Icy-MetaData: 1", a metadata block
follows every --metaint bytes of audio (it is empty unless the title
changed). Titles come from --titles (TSV lines "SECONDS<TAB>TITLE": the
title from that programme position on) or --title-every S ("Song N", N =
position // S). A title reaches the listener in the first metadata block
after its position, so its place in the audio is exact to --metaint bytes.

Faults, per connection, from --plan (the i-th connection takes the i-th
action; the last repeats, or with --cycle the whole plan) or every
--fault-every seconds of a connection:
    play            normal (default)
    close:S         play S seconds of wall time, then close the socket
    stall:S         play S seconds, then send nothing and keep the socket
                    open until the client goes away
    silent          accept, read the request, never answer
    headers-only    answer 200 with headers, then send nothing
    404             answer 404 Not Found (the station is off the air)

--log writes one JSON line per event, with the wall time (time.time()) and
the connection number: listen (port), connect (pos), title (pos, title),
stall (pos), close (pos, why), gone (pos, why: the client left). "pos" is
the programme position in seconds of the next byte to be sent.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

# --------------------------------------------------------------------------
# MPEG audio frames

_BITRATES = {  # (mpeg1?, layer) -> kbps table index 1..14
    (True, 3): [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    (False, 3): [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    (True, 2): [32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    (False, 2): [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def mp3_frames(data):
    """[(offset, length, seconds)] of the MPEG audio Layer II/III frames of data
    (an ID3v2 tag and a Xing/Info frame are skipped)."""
    out = []
    i = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        i = 10 + size
    n = len(data)
    while i + 4 <= n:
        h = struct.unpack(">I", data[i:i + 4])[0]
        if (h >> 21) & 0x7FF != 0x7FF:
            i += 1
            continue
        ver = (h >> 19) & 3          # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        layer = 4 - ((h >> 17) & 3)  # 1..3
        bri = (h >> 12) & 15
        sri = (h >> 10) & 3
        pad = (h >> 9) & 1
        if ver == 1 or layer not in (2, 3) or bri in (0, 15) or sri == 3:
            i += 1
            continue
        mpeg1 = ver == 3
        kbps = _BITRATES[(mpeg1, layer)][bri - 1]
        rate = _RATES[ver][sri]
        if layer == 3:
            samples = 1152 if mpeg1 else 576
        else:
            samples = 1152
        length = samples // 8 * kbps * 1000 // rate + pad
        if length < 4 or i + length > n:
            break
        frame = data[i:i + length]
        if not out and (b"Xing" in frame[:64] or b"Info" in frame[:64]):
            i += length  # a VBR/LAME header frame carries no audio
            continue
        out.append((i, length, samples / rate))
        i += length
    return out


class Programme:
    """The joined files as one byte string with a frame index."""

    def __init__(self, paths):
        chunks, self.frames, t, base = [], [], 0.0, 0
        for p in paths:
            with open(p, "rb") as f:
                data = f.read()
            frames = mp3_frames(data)
            if not frames:
                sys.exit(f"icy_server: {p}: no MPEG audio frames")
            for off, length, dur in frames:
                chunks.append(data[off:off + length])
                self.frames.append((base, length, t))
                base += length
                t += dur
        self.data = b"".join(chunks)
        self.duration = t
        self.byte_rate = len(self.data) / t

    def frame_at(self, pos):
        """Index of the frame playing at programme position pos (seconds)."""
        lo, hi = 0, len(self.frames) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.frames[mid][2] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo


# --------------------------------------------------------------------------
# The station


class Station:
    def __init__(self, args):
        self.args = args
        self.prog = Programme(args.files)
        self.t0 = time.time()
        self.speed = args.speed
        self.lock = threading.Lock()
        self.conns = 0
        self.titles = []
        if args.titles:
            with open(args.titles, encoding="utf-8") as f:
                for line in f:
                    line = line.rstrip("\n")
                    if not line.strip() or line.startswith("#"):
                        continue
                    pos, title = line.split("\t", 1)
                    self.titles.append((float(pos), title))
            self.titles.sort()
        self.logf = open(args.log, "a", encoding="utf-8") if args.log else None

    def log(self, **rec):
        rec = {"t": round(time.time(), 3), **rec}
        line = json.dumps(rec)
        with self.lock:
            if self.logf:
                self.logf.write(line + "\n")
                self.logf.flush()

    def now_pos(self):
        """Programme position now (seconds), unbounded (looping is applied later)."""
        return (time.time() - self.t0) * self.speed

    def ended(self, pos):
        return not self.args.loop and pos >= self.prog.duration

    def title_at(self, pos):
        """The title at absolute programme position pos (looping applied)."""
        if self.args.title_every:
            return f"Song {int(pos // self.args.title_every)}"
        if not self.titles:
            return None
        p = pos % self.prog.duration if self.args.loop else pos
        t = None
        for start, title in self.titles:
            if start <= p:
                t = title
        return t

    def action(self, n):
        plan = self.args.plan.split(",") if self.args.plan else ["play"]
        if self.args.cycle:
            return plan[n % len(plan)].strip()
        return plan[min(n, len(plan) - 1)].strip()


def read_request(sock, timeout=10):
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 16384:
        try:
            got = sock.recv(4096)
        except (socket.timeout, OSError):
            return None
        if not got:
            return None
        buf += got
    sock.settimeout(None)
    return buf.decode("latin-1", "replace")


def hold(sock, st, n, pos, why):
    """Keep the socket open, sending nothing, until the client leaves."""
    sock.settimeout(0.2)
    while True:
        try:
            if not sock.recv(4096):
                break
        except socket.timeout:
            continue
        except OSError:
            break
    st.log(event="gone", conn=n, pos=round(pos, 3), why=why)


def meta_block(title):
    if title is None:
        return b"\0"
    body = f"StreamTitle='{title}';".encode("utf-8")
    body += b"\0" * (-len(body) % 16)
    return bytes([len(body) // 16]) + body


def serve(sock, st, n):
    args = st.args
    req = read_request(sock)
    if req is None:
        sock.close()
        return
    act = st.action(n)
    kind, _, arg = act.partition(":")
    pos = st.now_pos()
    if kind == "silent":
        st.log(event="connect", conn=n, pos=round(pos, 3), action=act)
        hold(sock, st, n, pos, "silent")
        sock.close()
        return
    if kind == "404" or st.ended(pos):
        st.log(event="connect", conn=n, pos=round(pos, 3), action="404")
        try:
            sock.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        sock.close()
        return
    meta = "icy-metadata: 1" in req.lower()
    head = ["HTTP/1.0 200 OK", "Content-Type: audio/mpeg", "icy-name: Test FM",
            f"icy-br: {round(st.prog.byte_rate * 8 / 1000)}", "Cache-Control: no-cache"]
    if meta:
        head.append(f"icy-metaint: {args.metaint}")
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("ascii"))
    except OSError:
        sock.close()
        return
    if kind == "headers-only":
        st.log(event="connect", conn=n, pos=round(pos, 3), action=act)
        hold(sock, st, n, pos, "headers-only")
        sock.close()
        return

    prog = st.prog
    total = prog.duration
    # Start at the frame playing now; the first connection also gets the
    # burst back-buffer (a reconnect must not hear the same audio twice).
    start = max(0.0, pos - (args.burst if n == 0 else 0.0))
    loops, within = divmod(start, total) if args.loop else (0, start)
    fi = prog.frame_at(within)
    cur = loops * total + prog.frames[fi][2]  # absolute position of frame fi
    st.log(event="connect", conn=n, pos=round(cur, 3), action=act)
    limit = float(arg) if kind in ("close", "stall") and arg else None
    if args.fault_every and kind == "play":
        kind, limit = args.fault.partition(":")[0], args.fault_every
    t_conn = time.time()
    # Metadata bookkeeping: bytes of audio until the next block.
    until_meta = args.metaint
    last_title = None
    out = bytearray()
    why = "end"
    try:
        while True:
            if limit is not None and time.time() - t_conn >= limit:
                if kind == "stall":
                    st.log(event="stall", conn=n, pos=round(cur, 3))
                    hold(sock, st, n, cur, "stalled")
                    return
                st.log(event="close", conn=n, pos=round(cur, 3), why="planned")
                return
            if st.ended(cur):
                st.log(event="close", conn=n, pos=round(cur, 3), why="programme ended")
                return
            # Send what is due now: frames up to the live position.
            due = st.now_pos()
            sent_any = False
            while cur <= due and not st.ended(cur) and len(out) < 65536:
                if args.loop:
                    loops, within = divmod(cur, total)
                    fi = prog.frame_at(within)
                else:
                    fi = prog.frame_at(cur)
                off, length, ft = prog.frames[fi]
                frame = prog.data[off:off + length]
                if meta:
                    # Interleave metadata every metaint audio bytes.
                    while frame:
                        take = frame[:until_meta]
                        out += take
                        frame = frame[len(take):]
                        until_meta -= len(take)
                        if until_meta == 0:
                            title = st.title_at(cur)
                            if title is not None and title != last_title:
                                out += meta_block(title)
                                st.log(event="title", conn=n, pos=round(cur, 3), title=title)
                                last_title = title
                            else:
                                out += b"\0"
                            until_meta = args.metaint
                else:
                    out += frame
                nxt = fi + 1
                if nxt < len(prog.frames):
                    cur += prog.frames[nxt][2] - ft
                else:
                    cur += prog.duration - ft  # to the end (or the loop's start)
                sent_any = True
            if out:
                sock.sendall(out)
                out.clear()
            if not sent_any:
                time.sleep(min(0.02, max(0.001, 0.05 / max(st.speed, 1))))
    except (BrokenPipeError, ConnectionResetError, OSError) as e:
        why = f"client gone: {e.__class__.__name__}"
        st.log(event="gone", conn=n, pos=round(cur, 3), why=why)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--metaint", type=int, default=8192)
    ap.add_argument("--titles")
    ap.add_argument("--title-every", type=float, default=0)
    ap.add_argument("--burst", type=float, default=0.0,
                    help="seconds of programme sent at once to the first connection")
    ap.add_argument("--plan", default="")
    ap.add_argument("--cycle", action="store_true", help="repeat the whole --plan instead of its last action")
    ap.add_argument("--fault-every", type=float, default=0)
    ap.add_argument("--fault", default="close")
    args = ap.parse_args()

    st = Station(args)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(16)
    port = srv.getsockname()[1]
    st.t0 = time.time()  # the programme starts now
    st.log(event="listen", port=port, duration=round(st.prog.duration, 3),
           byte_rate=round(st.prog.byte_rate, 1), speed=args.speed)
    if args.port_file:
        tmp = f"{args.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"PORT {port}", flush=True)
    while True:
        try:
            sock, _ = srv.accept()
        except OSError:
            break
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with st.lock:
            n = st.conns
            st.conns += 1
        threading.Thread(target=serve, args=(sock, st, n), daemon=True).start()


if __name__ == "__main__":
    main()
