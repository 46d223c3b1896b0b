#!/usr/bin/env python3
"""A cheap paced live station for the stream benchmark: one process, one
thread, any number of listeners, each fed an MP3 programme at exactly its
bitrate by the wall clock (as an Icecast server relays a live source).

    station.py FILE.mp3 [--port 0] [--port-file F] [--tick 0.05] [--burst 1.0]
               [--offset-step 17.0]

GET /s/N (any N >= 0) is a live stream: the programme (FILE's bare MPEG audio
frames, ID3/Xing skipped, looped) from position (now - start) + N *
--offset-step seconds, so different streams carry different audio at any
moment. Each connection first gets --burst seconds at once (Icecast's
burst-on-connect), then bytes are due at the programme's byte rate from the
moment it connected; every --tick seconds the station sends what is due.
A listener that does not read (socket buffer full) falls behind: the bytes
are sent later, and the shortfall is counted.

GET /status answers JSON: {"listeners", "sent_bytes", "behind_max_bytes",
"byte_rate"} (behind = due - sent, now, per listener).

tests/tools/icy_server.py is the full-featured fake station (ICY titles,
faults); it runs a thread per listener that wakes every 20 ms, which is too
dear for hundreds of listeners. This one costs one send() per listener per
tick: bench.py measures it and reports it apart from airwave.
"""

import argparse
import json
import os
import selectors
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "tools"))
import icy_server  # noqa: E402  (its MPEG frame parser)


class Programme:
    def __init__(self, path):
        with open(path, "rb") as f:
            raw = f.read()
        frames = icy_server.mp3_frames(raw)
        if not frames:
            sys.exit(f"station: {path}: no MPEG audio frames")
        self.data = b"".join(raw[o:o + n] for o, n, _ in frames)
        self.starts = []  # (seconds, byte offset) of each frame
        t = b = 0
        for _, n, d in frames:
            self.starts.append((t, b))
            t += d
            b += n
        self.duration = t
        self.byte_rate = len(self.data) / t
        # Twice over, so any slice up to one programme long is contiguous.
        self.view = memoryview(self.data + self.data)

    def offset_at(self, pos):
        """Byte offset of the frame playing at programme position pos."""
        pos %= self.duration
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid][0] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return self.starts[lo][1]


class Listener:
    __slots__ = ("sock", "req", "start_byte", "t0", "sent", "burst", "streaming")

    def __init__(self, sock):
        self.sock = sock
        self.req = b""
        self.sent = 0
        self.streaming = False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tick", type=float, default=0.05)
    ap.add_argument("--burst", type=float, default=1.0)
    ap.add_argument("--offset-step", type=float, default=17.0)
    a = ap.parse_args()
    prog = Programme(a.file)
    plen = len(prog.data)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(1024)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    t_start = time.monotonic()
    port = srv.getsockname()[1]
    if a.port_file:
        tmp = f"{a.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)
    print(f"PORT {port} byte_rate {prog.byte_rate:.1f} duration {prog.duration:.1f}", flush=True)
    streaming = []
    head = (f"HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\nicy-name: Bench FM\r\n"
            f"icy-br: {round(prog.byte_rate * 8 / 1000)}\r\nCache-Control: no-cache\r\n\r\n").encode()
    burst_bytes = int(a.burst * prog.byte_rate)
    next_tick = time.monotonic()

    def drop(li):
        try:
            sel.unregister(li.sock)
        except (KeyError, ValueError):
            pass
        li.sock.close()
        if li.streaming:
            li.streaming = False
            streaming.remove(li)

    def on_request(li):
        line = li.req.split(b"\r\n", 1)[0].decode("latin-1", "replace").split()
        path = line[1] if len(line) > 1 else "/"
        if path == "/status":
            now = time.monotonic()
            behind = [int(burst_bytes + prog.byte_rate * (now - x.t0)) - x.sent for x in streaming]
            body = json.dumps({"listeners": len(streaming), "sent_bytes": sum(x.sent for x in streaming),
                               "behind_max_bytes": max(behind, default=0), "byte_rate": prog.byte_rate}).encode()
            li.sock.setblocking(True)
            li.sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body)
            drop(li)
            return
        try:
            n = int(path.rsplit("/", 1)[1]) if path.startswith("/s/") else 0
        except ValueError:
            n = 0
        li.sock.setblocking(True)
        try:
            li.sock.sendall(head)
        except OSError:
            drop(li)
            return
        li.sock.setblocking(False)
        li.start_byte = prog.offset_at(time.monotonic() - t_start + n * a.offset_step)
        li.t0 = time.monotonic()
        li.streaming = True
        streaming.append(li)
        sel.modify(li.sock, selectors.EVENT_READ, li)

    while True:
        timeout = max(0.0, next_tick - time.monotonic())
        for key, _ in sel.select(timeout):
            if key.data is None:
                while True:
                    try:
                        s, _ = srv.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(s, selectors.EVENT_READ, Listener(s))
                continue
            li = key.data
            try:
                got = li.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                got = b""
            if not got:
                drop(li)
                continue
            if li.streaming:
                continue  # a listener has nothing more to say
            li.req += got
            if b"\r\n\r\n" in li.req or len(li.req) > 16384:
                on_request(li)
        now = time.monotonic()
        if now < next_tick:
            continue
        next_tick += a.tick
        if next_tick < now:  # the station itself fell behind: catch up
            next_tick = now + a.tick
        for li in list(streaming):
            due = burst_bytes + int(prog.byte_rate * (now - li.t0)) - li.sent
            if due <= 0:
                continue
            pos = (li.start_byte + li.sent) % plen
            try:
                n = li.sock.send(prog.view[pos:pos + min(due, plen)])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                drop(li)
                continue
            li.sent += n


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
