#!/usr/bin/env node
"use strict";
// Load generator for airwave-speechd: N raw-protocol sessions in one Node
// process, each streaming a WAV (looped) at exactly real time as one long
// turn, and measuring how late each final phrase arrives.
//
//   node load.js --base ws://127.0.0.1:PORT --wav FILE.wav --sessions N --seconds S
//                [--key K] [--stagger-ms MS] [--pace 1.0] [--warmup 10]
//
// lag of a phrase = arrival time of its speech.phrase - the time the audio
// chunk holding the end of its utterance was sent (speech.endDetected's
// Offset, which follows the phrase; else the phrase's Offset + Duration).
// Lag figures
// cover phrases that end after the first --warmup seconds of a session; the
// largest lag before that is reported as warmup_lag_max.
// Prints one JSON line per session and a final {"event":"summary", ...}.

const fs = require("fs");
const path = require("path");
const usp = require(path.join(__dirname, "..", "..", "tests", "tools", "sdk", "usp.js"));

const o = { sessions: 1, seconds: 60, stagger: 2000, pace: 1.0, warmup: 10 };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = a[i + 1];
    switch (a[i]) {
      case "--base": o.base = v; i++; break;
      case "--wav": o.wav = v; i++; break;
      case "--sessions": o.sessions = parseInt(v, 10); i++; break;
      case "--seconds": o.seconds = Number(v); i++; break;
      case "--key": o.key = v; i++; break;
      case "--stagger-ms": o.stagger = Number(v); i++; break;
      case "--pace": o.pace = Number(v); i++; break;
      case "--warmup": o.warmup = Number(v); i++; break;
      case "--verbose": o.verbose = true; break;
      default:
        process.stderr.write(`load.js: unknown argument ${a[i]}\n`);
        process.exit(2);
    }
  }
  if (!o.base || !o.wav) {
    process.stderr.write("usage: node load.js --base ws://127.0.0.1:PORT --wav FILE.wav --sessions N --seconds S\n");
    process.exit(2);
  }
}

const w = usp.readWav(fs.readFileSync(o.wav));
usp.requirePcm16kMono(w, o.wav);
const pcm = w.pcm;
const CHUNK = usp.AUDIO_CHUNK;
const CHUNK_MS = 100;
const nChunks = Math.round((o.seconds * 1000) / CHUNK_MS);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pct(a, p) {
  if (!a.length) return null;
  const s = a.slice().sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function session(idx) {
  await sleep(Math.random() * o.stagger);
  const hs = usp.handshake({ base: o.base, key: o.key, keyIn: "header" });
  const c = new usp.Conn(hs.url, hs.headers);
  const r = { event: "session", idx, phrases: 0, success: 0, lags: [], errors: [] };
  const op = await c.opened;
  if (!op.open) {
    r.errors.push(`handshake: ${JSON.stringify(op)}`);
    return r;
  }
  const rid = usp.newId();
  c.sendText(usp.textMessage("speech.config", usp.newId(), usp.speechConfig()));
  c.sendText(usp.textMessage("speech.context", rid, usp.speechContext("en-US")));
  c.sendBinary(usp.audioMessage(rid, usp.riffHeader(), "audio/x-wav"));
  const sentAt = new Float64Array(nChunks);
  let sent = 0;
  const tStart = Date.now();
  // A phrase is timed against the end of its utterance as the detector
  // delimits it: speech.endDetected's Offset, which follows the phrase
  // (>= the last word's end; in a jingle bed the detector may stay "in
  // speech" for seconds after the last word). Without one, the phrase end.
  let pending = null;
  const settle = (endTicks) => {
    const p = pending;
    pending = null;
    const k = Math.min(sent - 1, Math.max(0, Math.ceil(endTicks / 1e6) - 1)); // chunk holding the end
    if (k < 0) return;
    const lag = (p.t - sentAt[k]) / 1000;
    r.lags.push({ at: (sentAt[k] - tStart) / 1000, lag });
    if (o.verbose) {
      process.stderr.write(`[${idx}] t=${((p.t - tStart) / 1000).toFixed(2)} ${p.json.RecognitionStatus} ` +
        `${(p.json.Offset / 1e7).toFixed(2)}-${((p.json.Offset + p.json.Duration) / 1e7).toFixed(2)} ` +
        `end=${(endTicks / 1e7).toFixed(2)} lag=${lag.toFixed(2)} ${p.json.DisplayText || ""}\n`);
    }
  };
  c.onMessage = (m) => {
    if (m.path === "speech.endDetected" && pending && m.json) {
      settle(Math.max(pending.json.Offset + pending.json.Duration, m.json.Offset || 0));
      return;
    }
    if (m.path !== "speech.phrase" || !m.json) return;
    if (pending) settle(pending.json.Offset + pending.json.Duration);
    r.phrases++;
    if (m.json.RecognitionStatus === "Success") r.success++;
    // Every phrase with a span counts for lag, Success or not (the null
    // engine finds utterances but recognises no words).
    if (m.json.Duration > 0) pending = m;
  };
  const chunksInFile = Math.floor(pcm.length / CHUNK);
  for (let k = 0; k < nChunks; k++) {
    if (!c.isOpen) {
      r.errors.push(`closed early: ${JSON.stringify(c.closeInfo)}`);
      break;
    }
    const j = k % chunksInFile;
    c.sendBinary(usp.audioMessage(rid, pcm.subarray(j * CHUNK, (j + 1) * CHUNK)));
    sentAt[k] = Date.now();
    sent = k + 1;
    const due = tStart + ((k + 1) * CHUNK_MS) / o.pace;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -1000) r.sendLate = Math.max(r.sendLate || 0, -wait); // the client itself fell behind
  }
  r.audio_s = (sent * CHUNK_MS) / 1000;
  c.sendBinary(usp.audioMessage(rid, null));
  const end = await c.next("turn.end", 60000);
  if (pending) settle(pending.json.Offset + pending.json.Duration);
  r.turn_end = !!end;
  r.drain_s = (Date.now() - tStart) / 1000 - r.audio_s / o.pace;
  c.sendText(usp.textMessage("telemetry", rid, { Metrics: [], ReceivedMessages: {} }));
  await c.close();
  // Phrases whose audio ended in the first --warmup seconds (a new session
  // may wait for a decoder to be created) are reported apart.
  const warm = r.lags.filter((x) => x.at < o.warmup).map((x) => x.lag);
  r.warmup_lag_max = warm.length ? Math.max(...warm) : null;
  r.lags = r.lags.filter((x) => x.at >= o.warmup);
  const lags = r.lags.map((x) => x.lag);
  r.lag_p50 = pct(lags, 50);
  r.lag_p95 = pct(lags, 95);
  r.lag_max = lags.length ? Math.max(...lags) : null;
  // Growth: median lag of the last third minus that of the first third.
  const third = Math.floor(r.lags.length / 3);
  if (third >= 1) {
    r.lag_growth = pct(lags.slice(-third), 50) - pct(lags.slice(0, third), 50);
  }
  r.timed = r.lags.length;
  delete r.lags;
  r.all_lags = lags;
  return r;
}

(async () => {
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: o.sessions }, (_, i) => session(i)));
  const all = [];
  for (const r of results) {
    all.push(...r.all_lags);
    delete r.all_lags;
    process.stdout.write(JSON.stringify(r) + "\n");
  }
  const growths = results.map((r) => r.lag_growth).filter((x) => x !== undefined && x !== null);
  process.stdout.write(JSON.stringify({
    event: "summary", sessions: o.sessions, seconds: o.seconds, wall_s: (Date.now() - t0) / 1000,
    phrases: results.reduce((n, r) => n + r.phrases, 0), success: results.reduce((n, r) => n + r.success, 0),
    timed: all.length, lag_p50: pct(all, 50), lag_p95: pct(all, 95), lag_max: all.length ? Math.max(...all) : null,
    lag_growth_max: growths.length ? Math.max(...growths) : null,
    errors: results.reduce((n, r) => n + r.errors.length, 0),
    turn_end_missing: results.filter((r) => !r.turn_end).length,
    client_late_max_ms: Math.max(0, ...results.map((r) => r.sendLate || 0)),
    warmup_s: o.warmup, warmup_lag_max: Math.max(0, ...results.map((r) => r.warmup_lag_max || 0)),
  }) + "\n");
  process.exit(0);
})();
