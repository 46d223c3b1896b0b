#!/usr/bin/env node
"use strict";
// Raw Azure Speech protocol client for refusal and framing tests: crafted
// handshakes and frames, reporting the HTTP status or the close code + reason.
//
//   node raw.js --base ws://127.0.0.1:PORT [--key K] [--key-in header|query|both]
//               (--case NAME | --cases JSON) [--wav FILE] [--timeout S]
//
// --cases takes a JSON array of case objects, run one after another:
//   [{"case":"handshake","path":"/nope","label":"wrong path"}, {"case":"bad-riff","variant":"rate8k"}]
// Any case object may override the handshake: path, query (object; null drops
// a parameter), headers (object; null drops one), key (null: none), keyIn,
// language (query and speech.context), format, timeout (s, wait for the close).
//
// One JSON line per case on stdout:
//   {"case":..,"label":..,"status":401,"body":".."}               upgrade refused
//   {"case":..,"label":..,"open":true,"close":{"code":1007,"reason":".."},"received":[paths],"ms":..}
//   "close":null when the server did not close within the timeout (the
//   client then closes with 1000).
//
// Cases (all but handshake, sessions and turn expect the server to close):
//   handshake            open and close again; hold: ms to wait first for a server close
//   sessions             open `count` connections at once, report each status, then close all
//   turn                 a healthy turn from --wav/"wav" (pace: 0 fast, 1 real time; delay: ms
//                        between speech.config and the turn); phrases, text, turn_end
//   no-separator         text message with no blank line between headers and body
//   empty-text           empty text message
//   non-utf8             text message whose headers hold invalid UTF-8
//   binary-header-size   binary message whose header-length prefix exceeds the message
//   binary-too-short     one-byte binary message
//   audio-too-large      audio body of `bytes` (default 8193) after a valid WAV header (the
//                        server may accept it: then the result has "close": null)
//   message-too-large    a text message of `bytes` bytes in total (a padded speech.config)
//   dashed-request-id    speech.config with a dashed X-RequestId
//   missing-path         text message with no Path header
//   missing-request-id   speech.context with no X-RequestId
//   bad-context          speech.context whose body is not a JSON object
//   reuse-request-id     a complete turn, then `variant` "audio" (default) or "context"
//                        sent with the ended turn's request id
//   bad-riff             first audio of a turn with `variant`: none (bare PCM), rate8k,
//                        stereo, bits8, float, truncated, garbage
//   locale               speech.config + speech.context + audio with `language` (default xx-XX)
//                        in the query and speech.context, or `contextLanguage` in speech.context only
//
// Exit status 0 when every case ran (whatever the server answered), 2 on bad usage.

const fs = require("fs");
const usp = require("./usp.js");

function usage(msg) {
  if (msg) process.stderr.write(`raw.js: ${msg}\n`);
  process.stderr.write("usage: node raw.js --base ws://127.0.0.1:PORT [--key K] [--key-in header|query|both]\n" +
    "         (--case NAME | --cases JSON) [--wav FILE] [--timeout S]\n");
  process.exit(2);
}

const g = { timeout: 5, cases: [] };
{
  const a = process.argv.slice(2);
  const need = (i) => (i + 1 < a.length ? a[i + 1] : usage(`${a[i]} needs a value`));
  for (let i = 0; i < a.length; i++) {
    switch (a[i]) {
      case "--base": g.base = need(i); i++; break;
      case "--key": g.key = need(i); i++; break;
      case "--key-in": g.keyIn = need(i); i++; break;
      case "--case": g.cases.push({ case: need(i) }); i++; break;
      case "--cases": g.cases.push(...JSON.parse(need(i))); i++; break;
      case "--wav": g.wav = need(i); i++; break;
      case "--timeout": g.timeout = Number(need(i)); i++; break;
      default: usage(`unknown argument ${a[i]}`);
    }
  }
  if (!g.base || g.cases.length === 0) usage("--base and a case are required");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ts = () => new Date().toISOString();

function open(spec) {
  const language = spec.language !== undefined ? spec.language : "en-US";
  const hs = usp.handshake({
    base: g.base, path: spec.path, key: spec.key !== undefined ? spec.key : g.key,
    keyIn: spec.keyIn || g.keyIn,
    query: { language, format: spec.format || "simple", ...(spec.query || {}) },
    headers: spec.headers,
  });
  return { conn: new usp.Conn(hs.url, hs.headers), hs, language };
}

function sendConfig(c) {
  c.sendText(usp.textMessage("speech.config", usp.newId(), usp.speechConfig()));
}

/** speech.context + the 44-byte WAV header for request id rid. */
function startTurn(c, rid, language, header = usp.riffHeader()) {
  c.sendText(usp.textMessage("speech.context", rid, usp.speechContext(language)));
  c.sendBinary(usp.audioMessage(rid, header, "audio/x-wav"));
}

function silence(ms) {
  return Buffer.alloc(Math.round((ms / 1000) * 16000) * 2);
}

function loadPcm(spec) {
  const file = spec.wav || g.wav;
  if (!file) throw new Error("this case needs --wav or \"wav\"");
  const w = usp.readWav(fs.readFileSync(file));
  usp.requirePcm16kMono(w, file);
  return w.pcm;
}

async function sendPcm(c, rid, pcm, pace) {
  const t0 = Date.now();
  for (let off = 0, k = 0; off < pcm.length; off += usp.AUDIO_CHUNK, k++) {
    if (!c.isOpen) return;
    c.sendBinary(usp.audioMessage(rid, pcm.subarray(off, off + usp.AUDIO_CHUNK)));
    if (pace > 0) {
      const due = t0 + ((k + 1) * 100) / pace;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    } else if (k % 16 === 15) {
      await sleep(0); // let the socket drain
    }
  }
}

const BAD_HEADERS = {
  none: () => silence(20).subarray(0, 44).fill(7), // 44 bytes of PCM, no RIFF
  rate8k: () => usp.riffHeader(8000),
  stereo: () => usp.riffHeader(16000, 2),
  bits8: () => usp.riffHeader(16000, 1, 8),
  float: () => usp.riffHeader(16000, 1, 32, 3),
  truncated: () => usp.riffHeader().subarray(0, 20),
  garbage: () => Buffer.from("RIFX\0\0\0\0WAVEfmt junk junk junk junk junk junk!", "ascii"),
};

// Each returns nothing; the runner then waits for the server's close.
const PROTOCOL = {
  "no-separator": async (c) => {
    sendConfig(c);
    c.sendText(`Path: speech.context\r\nX-RequestId: ${usp.newId()}\r\nX-Timestamp: ${ts()}\r\n` +
      "Content-Type: application/json\r\n{\"phraseDetection\":{}}");
  },
  "empty-text": async (c) => {
    sendConfig(c);
    c.sendText("");
  },
  "non-utf8": async (c) => {
    sendConfig(c);
    const head = Buffer.from(`Path: speech.context\r\nX-RequestId: ${usp.newId()}\r\nX-Bad: `, "ascii");
    const bad = Buffer.from([0xc3, 0x28, 0xff, 0xfe]);
    const tail = Buffer.from(`\r\nX-Timestamp: ${ts()}\r\nContent-Type: application/json\r\n\r\n{}`, "ascii");
    c.ws.send(Buffer.concat([head, bad, tail]), { binary: false });
  },
  "binary-header-size": async (c) => {
    sendConfig(c);
    const b = Buffer.alloc(2 + 40);
    b.writeUInt16BE(0x7fff, 0);
    Buffer.from("Path: audio\r\nX-RequestId: 0123456789", "ascii").copy(b, 2);
    c.sendBinary(b);
  },
  "binary-too-short": async (c) => {
    sendConfig(c);
    c.sendBinary(Buffer.from([0x00]));
  },
  "audio-too-large": async (c, spec, lang) => {
    sendConfig(c);
    const rid = usp.newId();
    startTurn(c, rid, lang);
    c.sendBinary(usp.audioMessage(rid, silence(1000).subarray(0, spec.bytes || 8193)));
  },
  "message-too-large": async (c, spec) => {
    const rid = usp.newId();
    const head = `Path: speech.config\r\nX-RequestId: ${rid}\r\nX-Timestamp: ${ts()}\r\n` +
      "Content-Type: application/json\r\n\r\n";
    const total = spec.bytes || 1024 * 1024 + 1;
    const pad = Math.max(0, total - head.length - '{"pad":""}'.length);
    const msg = head + `{"pad":"${"x".repeat(pad)}"}`;
    if (spec.binary) c.sendBinary(usp.audioMessage(rid, Buffer.alloc(total)));
    else c.sendText(msg);
  },
  "dashed-request-id": async (c) => {
    const dashed = "123e4567-e89b-12d3-a456-426655440000";
    c.sendText(usp.textMessage("speech.config", dashed, usp.speechConfig()));
  },
  "missing-path": async (c) => {
    c.sendText(`X-RequestId: ${usp.newId()}\r\nX-Timestamp: ${ts()}\r\nContent-Type: application/json\r\n\r\n` +
      JSON.stringify(usp.speechConfig()));
  },
  "missing-request-id": async (c) => {
    sendConfig(c);
    c.sendText(`Path: speech.context\r\nX-Timestamp: ${ts()}\r\nContent-Type: application/json\r\n\r\n` +
      JSON.stringify(usp.speechContext()));
  },
  "bad-context": async (c) => {
    sendConfig(c);
    c.sendText(usp.textMessage("speech.context", usp.newId(), "[1, 2, 3]"));
  },
  "reuse-request-id": async (c, spec, lang, r) => {
    sendConfig(c);
    const rid = usp.newId();
    startTurn(c, rid, lang);
    const pcm = spec.wav || g.wav ? loadPcm(spec) : silence(1000);
    await sendPcm(c, rid, pcm, 0);
    c.sendBinary(usp.audioMessage(rid, null));
    const end = await c.next("turn.end", (spec.turnTimeout || 30) * 1000);
    r.first_turn_end = !!end;
    c.sendText(usp.textMessage("telemetry", rid, { Metrics: [], ReceivedMessages: {} }));
    await sleep(100);
    if ((spec.variant || "audio") === "context") {
      c.sendText(usp.textMessage("speech.context", rid, usp.speechContext(lang)));
    } else {
      c.sendBinary(usp.audioMessage(rid, usp.riffHeader(), "audio/x-wav"));
    }
  },
  "bad-riff": async (c, spec, lang) => {
    sendConfig(c);
    const rid = usp.newId();
    const variant = spec.variant || "none";
    if (!BAD_HEADERS[variant]) throw new Error(`unknown bad-riff variant ${variant}`);
    startTurn(c, rid, lang, BAD_HEADERS[variant]());
    c.sendBinary(usp.audioMessage(rid, silence(100)));
  },
  locale: async (c, spec, lang) => {
    sendConfig(c);
    const rid = usp.newId();
    startTurn(c, rid, spec.contextLanguage || lang);
    c.sendBinary(usp.audioMessage(rid, silence(100)));
  },
};

async function runCase(spec) {
  const name = spec.case;
  const r = { case: name };
  if (spec.label) r.label = spec.label;
  if (spec.variant) r.variant = spec.variant;
  const t0 = Date.now();
  const timeoutMs = (spec.timeout || g.timeout) * 1000;

  if (name === "sessions") {
    const conns = [];
    for (let i = 0; i < (spec.count || 2); i++) conns.push(open(spec).conn);
    const res = await Promise.all(conns.map((c) => c.opened));
    r.results = res.map((x) => (x.open ? "open" : x.status || x.error));
    if (spec.hold) await sleep(spec.hold);
    r.closes = conns.map((c) => c.closeInfo);
    await Promise.all(conns.map((c) => c.close()));
    r.ms = Date.now() - t0;
    return r;
  }

  if (spec.locale !== undefined) spec.language = spec.locale;
  if (name === "locale" && spec.language === undefined && spec.contextLanguage === undefined) spec.language = "xx-XX";
  const { conn: c, language } = open(spec);
  const o = await c.opened;
  if (!o.open) {
    Object.assign(r, o);
    r.ms = Date.now() - t0;
    c.terminate();
    return r;
  }
  r.open = true;

  if (name === "handshake") {
    r.close = spec.hold ? await c.closedWithin(spec.hold) : null;
    if (!r.close) await c.close();
  } else if (name === "turn") {
    sendConfig(c);
    const rid = usp.newId();
    if (spec.delay) await sleep(spec.delay);
    startTurn(c, rid, language);
    const phrases = [];
    c.onMessage = (m) => {
      if (m.path === "speech.phrase" && m.json) phrases.push(m.json);
    };
    await sendPcm(c, rid, loadPcm(spec), spec.pace || 0);
    c.sendBinary(usp.audioMessage(rid, null));
    const end = await c.next("turn.end", (spec.turnTimeout || 120) * 1000);
    r.turn_end = !!end;
    c.sendText(usp.textMessage("telemetry", rid, { Metrics: [], ReceivedMessages: {} }));
    r.phrases = phrases.map((p) => ({ status: p.RecognitionStatus, text: p.DisplayText, offset: p.Offset,
      duration: p.Duration }));
    r.text = phrases.filter((p) => p.RecognitionStatus === "Success").map((p) => p.DisplayText).join(" ");
    r.close = c.closeInfo;
    if (!r.close) await c.close();
  } else if (PROTOCOL[name]) {
    await PROTOCOL[name](c, spec, language, r);
    r.close = await c.closedWithin(timeoutMs);
    if (!r.close) await c.close();
  } else {
    throw new Error(`unknown case ${name}`);
  }
  r.received = c.received.map((m) => m.path || "?");
  r.ms = Date.now() - t0;
  return r;
}

(async () => {
  for (const spec of g.cases) {
    let r;
    try {
      r = await runCase(spec);
    } catch (e) {
      r = { case: spec.case, label: spec.label, error: String(e && e.stack ? e.stack : e) };
    }
    process.stdout.write(JSON.stringify(r) + "\n");
  }
  process.exit(0);
})();
