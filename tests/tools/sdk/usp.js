"use strict";
// Azure Speech websocket protocol framing for raw test clients (raw.js and
// bench/speechd/load.js). Layouts: shared/docs/azure-speech-protocol.md §2.
const crypto = require("crypto");
const WebSocket = require("ws");

const AUDIO_CHUNK = 3200; // 100 ms of 16 kHz/16-bit/mono, as the SDK sends

/** A new request or connection id: 32 upper-case hex digits, no dashes. */
function newId() {
  return crypto.randomUUID().replace(/-/g, "").toUpperCase();
}

function headerBlock(headers) {
  return Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
}

/** A text message: headers, a blank line, then the body (string or object). */
function textMessage(path, requestId, body, extra = {}) {
  const h = { Path: path, "X-RequestId": requestId, "X-Timestamp": new Date().toISOString() };
  if (body !== undefined && body !== null) h["Content-Type"] = "application/json";
  Object.assign(h, extra);
  for (const k of Object.keys(h)) if (h[k] === undefined || h[k] === null) delete h[k];
  const text = typeof body === "string" ? body : body === undefined || body === null ? "" : JSON.stringify(body);
  return headerBlock(h) + "\r\n" + text;
}

/** A binary message: uint16 BE header length, ASCII headers, body bytes. */
function binaryMessage(headers, body) {
  const hdr = Buffer.from(headerBlock(headers), "ascii");
  const out = Buffer.alloc(2 + hdr.length + (body ? body.length : 0));
  out.writeUInt16BE(hdr.length, 0);
  hdr.copy(out, 2);
  if (body) body.copy(out, 2 + hdr.length);
  return out;
}

function audioMessage(requestId, body, contentType) {
  const h = { Path: "audio", "X-RequestId": requestId, "X-Timestamp": new Date().toISOString() };
  if (contentType) h["Content-Type"] = contentType;
  return binaryMessage(h, body || Buffer.alloc(0));
}

/** The 44-byte RIFF header the SDK sends: sizes 0 ("unknown"). */
function riffHeader(rate = 16000, channels = 1, bits = 16, format = 1) {
  const b = Buffer.alloc(44);
  b.write("RIFF", 0, "ascii");
  b.writeUInt32LE(0, 4);
  b.write("WAVE", 8, "ascii");
  b.write("fmt ", 12, "ascii");
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(format, 20);
  b.writeUInt16LE(channels, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE((rate * channels * bits) / 8, 28);
  b.writeUInt16LE((channels * bits) / 8, 32);
  b.writeUInt16LE(bits, 34);
  b.write("data", 36, "ascii");
  b.writeUInt32LE(0, 40);
  return b;
}

function speechConfig() {
  return {
    context: {
      system: { name: "airwave-test", version: "1.0.0", build: "JavaScript", lang: "JavaScript" },
      os: { platform: "Node", name: "unknown", version: process.version },
      audio: { source: { bitspersample: 16, channelcount: 1, connectivity: "Unknown",
        manufacturer: "airwave", model: "PushStream", samplerate: 16000, type: "Stream" } },
    },
    recognition: "conversation",
  };
}

function speechContext(language = "en-US", detailed = false) {
  const c = { phraseDetection: { mode: "Conversation", language, enrichment: {} }, phraseOutput: {} };
  if (detailed) c.phraseOutput = { detailed: { options: [] }, format: "Detailed" };
  return c;
}

/**
 * Parse a server message (text string/Buffer or binary Buffer) into
 * {path, requestId, headers, body, json}. Header names are lower-cased.
 */
function parseMessage(data, isBinary) {
  let hdr;
  let body;
  if (isBinary) {
    const n = data.readUInt16BE(0);
    hdr = data.subarray(2, 2 + n).toString("ascii");
    body = data.subarray(2 + n);
  } else {
    const s = data.toString();
    const k = s.indexOf("\r\n\r\n");
    hdr = k < 0 ? s : s.slice(0, k);
    body = k < 0 ? "" : s.slice(k + 4);
  }
  const headers = {};
  for (const line of hdr.split("\r\n")) {
    const c = line.indexOf(":");
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let json;
  if (!isBinary && body.length) {
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
  }
  return { path: headers.path, requestId: headers["x-requestid"], headers, body, json };
}

/**
 * Read a WAV file and return {pcm, rate, channels, bits, format}. Finds the
 * fmt and data chunks; a data size of 0 or 0xFFFFFFFF means "to the end".
 */
function readWav(buf) {
  if (buf.length < 12 || buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error("not a RIFF/WAVE file");
  }
  let pos = 12;
  let fmt = null;
  while (pos + 8 <= buf.length) {
    const id = buf.toString("ascii", pos, pos + 4);
    let size = buf.readUInt32LE(pos + 4);
    const start = pos + 8;
    if (id === "fmt ") {
      fmt = { format: buf.readUInt16LE(start), channels: buf.readUInt16LE(start + 2),
        rate: buf.readUInt32LE(start + 4), bits: buf.readUInt16LE(start + 14) };
    } else if (id === "data") {
      if (!fmt) throw new Error("data chunk before fmt chunk");
      if (size === 0 || size === 0xffffffff || start + size > buf.length) size = buf.length - start;
      return { ...fmt, pcm: buf.subarray(start, start + size) };
    }
    pos = start + size + (size & 1);
  }
  throw new Error("no data chunk");
}

/** Throw unless the WAV is 16 kHz, 16-bit, mono PCM. */
function requirePcm16kMono(w, name) {
  if (w.format !== 1 || w.rate !== 16000 || w.channels !== 1 || w.bits !== 16) {
    throw new Error(`${name}: need 16 kHz 16-bit mono PCM, got format ${w.format} ${w.rate} Hz ` +
      `${w.bits}-bit ${w.channels} ch (convert with ffmpeg -ac 1 -ar 16000 -c:a pcm_s16le)`);
  }
}


/**
 * One raw websocket connection with promise helpers.
 *   const c = new Conn(url, headers);
 *   const r = await c.opened;      // {open: true} or {status: 401, body: "..."} or {error}
 *   c.sendText(str) / c.sendBinary(buf)
 *   const m = await c.next("turn.end", 5000);   // parsed message, or null on timeout/close
 *   const {code, reason} = await c.closedWithin(5000);  // null on timeout
 */
class Conn {
  constructor(url, headers = {}, options = {}) {
    this.received = [];
    this.waiters = [];
    this.closeInfo = null;
    this.onMessage = null;
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 10000,
      maxPayload: 0, ...options });
    this.opened = new Promise((resolve) => {
      this.ws.on("open", () => resolve({ open: true }));
      this.ws.on("unexpected-response", (req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => { body += d; });
        const done = () => {
          resolve({ status: res.statusCode, body: body.slice(0, 500) });
          req.destroy();
        };
        res.on("end", done);
        res.on("error", done);
        setTimeout(done, 1000);
      });
      this.ws.on("error", (e) => resolve({ error: e.message }));
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.resolve(null);
      });
    });
    this.ws.on("message", (data, isBinary) => {
      const m = parseMessage(Buffer.isBuffer(data) ? data : Buffer.from(data), isBinary);
      m.t = Date.now();
      this.received.push(m);
      if (this.onMessage) this.onMessage(m);
      for (const w of this.waiters.slice()) {
        if (w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendText(s) {
    if (this.isOpen) this.ws.send(s, { binary: false });
  }

  sendBinary(b) {
    if (this.isOpen) this.ws.send(b, { binary: true });
  }

  /** Wait for the next message whose path is `path` (or that satisfies a predicate). */
  next(path, ms) {
    const pred = typeof path === "function" ? path : (m) => m.path === path;
    if (this.closeInfo) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w = { pred, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) {
          this.waiters.splice(k, 1);
          resolve(null);
        }
      }, ms);
    });
  }

  closedWithin(ms) {
    return Promise.race([this.closed, new Promise((r) => setTimeout(() => r(null), ms))]);
  }

  close(code = 1000) {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      try {
        this.ws.close(code);
      } catch {
        this.ws.terminate();
      }
    }
    return this.closedWithin(2000);
  }

  terminate() {
    this.ws.terminate();
  }
}

/**
 * Build the handshake of a speech session: the URL (with query) and headers.
 * opts: base ("ws://127.0.0.1:PORT"), path, query (object; null values
 * dropped), key, keyIn ("header" | "query" | "both"), connectionId,
 * headers (extra or overriding; null drops one).
 */
function handshake(opts) {
  const path = opts.path !== undefined ? opts.path : "/speech/recognition/conversation/cognitiveservices/v1";
  const cid = opts.connectionId || newId();
  const keyIn = opts.keyIn || "both";
  const query = { language: "en-US", format: "simple" };
  const headers = {};
  if (opts.key !== undefined && opts.key !== null) {
    if (keyIn === "query" || keyIn === "both") query["Ocp-Apim-Subscription-Key"] = opts.key;
    if (keyIn === "header" || keyIn === "both") headers["Ocp-Apim-Subscription-Key"] = opts.key;
  }
  if (keyIn === "query" || keyIn === "both") {
    query["X-ConnectionId"] = cid;
  }
  if (keyIn === "header" || keyIn === "both") headers["X-ConnectionId"] = cid;
  Object.assign(query, opts.query || {});
  Object.assign(headers, opts.headers || {});
  const u = new URL(opts.base.replace(/\/+$/, "") + path);
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined) u.searchParams.set(k, v);
  for (const k of Object.keys(headers)) if (headers[k] === null || headers[k] === undefined) delete headers[k];
  return { url: u.toString(), headers, connectionId: cid };
}

module.exports = {
  Conn, handshake, AUDIO_CHUNK, newId, textMessage, binaryMessage, audioMessage, riffHeader,
  speechConfig, speechContext, parseMessage, readWav, requirePcm16kMono,
};
