#!/usr/bin/env node
"use strict";
// Transcribe a WAV file with the official Azure Speech SDK (continuous
// recognition) against an Azure-compatible endpoint such as airwave-speechd.
//
//   node transcribe.js --url ws://127.0.0.1:PORT/speech/recognition/conversation/cognitiveservices/v1
//                      --wav FILE.wav [--format simple|detailed] [--key K | --token T]
//                      [--language en-US] [--unthrottled | --throttle-ms N]
//                      [--pace X] [--word-timings] [--max-retries N] [--timeout SECONDS] [--trace]
//
// --pace X writes the audio into the SDK's push stream in 100 ms pieces at X
// times real time, like a live source (the SDK then sends it as it comes);
// without it the whole file is written at once and the SDK paces it
// (--unthrottled: as fast as it can; --throttle-ms N: the first N ms at once,
// then 2x real time; the SDK default is 5000).
//
// FILE.wav must be 16 kHz, 16-bit, mono PCM. Prints one JSON object per line
// on stdout:
//   {"event":"recognized","reason":"RecognizedSpeech","text":"...","offset":T,"duration":T,...}
//       offset and duration in 100-ns ticks, as the SDK reports them (rebased
//       onto the stream across reconnects); detailed format adds lexical,
//       confidence and (with --word-timings) words[{word,offset,duration}]
//   {"event":"connected"|"disconnected", ...}   one per websocket (re)connect,
//       disconnected with the close code and reason
//   {"event":"canceled","reason":"EndOfStream"|"Error","code":"...","details":"..."}
//   {"event":"summary",...}   last line: ok, text (all recognized text
//       joined), phrase counts, connection counts, elapsed and audio seconds
// With --trace, also {"event":"sent"|"received","path":...} per message, and
// the upgrade URL.
//
// Exit status: 0 after sessionStopped with no error, 1 on a cancellation with
// an error, 2 on bad usage or input, 3 on the hard timeout (--timeout,
// default 600 s).
//
// Run with `node --experimental-websocket` (Node 20) and the SDK uses the
// global WebSocket: no custom handshake headers, key and connection id only in
// the query string (azure-speech-protocol.md §1.2).

const fs = require("fs");
const sdk = require("microsoft-cognitiveservices-speech-sdk");
// The SDK's own event bus: the only place that carries websocket close codes.
const internal = require("microsoft-cognitiveservices-speech-sdk/distrib/lib/src/common/Exports.js");
const usp = require("./usp.js");

function usage(msg) {
  if (msg) process.stderr.write(`transcribe.js: ${msg}\n`);
  process.stderr.write(
    "usage: node transcribe.js --url WS_URL --wav FILE.wav [--format simple|detailed]\n" +
    "         [--key K | --token T] [--language L] [--unthrottled | --throttle-ms N]\n" +
    "         [--pace X] [--word-timings] [--max-retries N] [--timeout S] [--trace]\n");
  process.exit(2);
}

function parseArgs(argv) {
  const o = { format: "simple", language: "en-US", timeout: 600, trace: false, wordTimings: false };
  const need = (i) => {
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case "--url": o.url = need(i); i++; break;
      case "--wav": o.wav = need(i); i++; break;
      case "--format": o.format = need(i); i++; break;
      case "--key": o.key = need(i); i++; break;
      case "--token": o.token = need(i); i++; break;
      case "--language": o.language = need(i); i++; break;
      case "--unthrottled": o.throttleMs = "100000000"; break;
      case "--throttle-ms": o.throttleMs = String(parseInt(need(i), 10)); i++; break;
      case "--pace": o.pace = Number(need(i)); i++; break;
      case "--word-timings": o.wordTimings = true; break;
      case "--max-retries": o.maxRetries = String(parseInt(need(i), 10)); i++; break;
      case "--timeout": o.timeout = Number(need(i)); i++; break;
      case "--trace": o.trace = true; break;
      case "-h": case "--help": usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.url || !o.wav) usage("--url and --wav are required");
  if (o.format !== "simple" && o.format !== "detailed") usage("--format is simple or detailed");
  return o;
}

const opt = parseArgs(process.argv.slice(2));
const t0 = Date.now();
let finished = false; // after the summary line, print nothing more
const out = (obj) => {
  if (!finished || obj.event === "summary") process.stdout.write(JSON.stringify(obj) + "\n");
};
const since = () => (Date.now() - t0) / 1000;

let wav;
try {
  wav = usp.readWav(fs.readFileSync(opt.wav));
  usp.requirePcm16kMono(wav, opt.wav);
} catch (e) {
  process.stderr.write(`transcribe.js: ${opt.wav}: ${e.message}\n`);
  process.exit(2);
}
const audioSeconds = wav.pcm.length / 32000;

const cfg = opt.key !== undefined
  ? sdk.SpeechConfig.fromEndpoint(new URL(opt.url), opt.key)
  : sdk.SpeechConfig.fromEndpoint(new URL(opt.url));
if (opt.token !== undefined) cfg.authorizationToken = opt.token;
if (opt.language) cfg.speechRecognitionLanguage = opt.language;
if (opt.format === "detailed") cfg.outputFormat = sdk.OutputFormat.Detailed;
if (opt.wordTimings) cfg.requestWordLevelTimestamps();
if (opt.throttleMs !== undefined) cfg.setProperty("SPEECH-TransmitLengthBeforThrottleMs", opt.throttleMs);
if (opt.maxRetries !== undefined) cfg.setProperty("SPEECH-Error-MaxRetryCount", opt.maxRetries);

const push = sdk.AudioInputStream.createPushStream(sdk.AudioStreamFormat.getWaveFormatPCM(16000, 16, 1));
// write() needs an ArrayBuffer; a Node Buffer cancels the session.
const ab = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
if (opt.pace > 0) {
  const t1 = Date.now();
  let k = 0;
  const feed = () => {
    // Write every 100 ms piece that is due, then sleep until the next one.
    while (k * usp.AUDIO_CHUNK < wav.pcm.length && t1 + (k * 100) / opt.pace <= Date.now()) {
      push.write(ab(wav.pcm.subarray(k * usp.AUDIO_CHUNK, (k + 1) * usp.AUDIO_CHUNK)));
      k++;
    }
    if (k * usp.AUDIO_CHUNK >= wav.pcm.length) push.close();
    else setTimeout(feed, Math.max(0, t1 + (k * 100) / opt.pace - Date.now()));
  };
  feed();
} else {
  push.write(ab(wav.pcm));
  push.close();
}

const recognizer = new sdk.SpeechRecognizer(cfg, sdk.AudioConfig.fromStreamInput(push));
const s = {
  texts: [], phrases: 0, nomatch: 0, connects: 0, disconnects: 0, closes: [],
  canceled: null, sessionId: null, started: false,
};

internal.Events.instance.attachListener({
  onEvent(e) {
    if (e.name === "ConnectionStartEvent" && opt.trace) {
      out({ event: "connecting", t: since(), uri: e.uri });
    } else if (e.name === "ConnectionEstablishedEvent") {
      s.connects++;
      out({ event: "connected", t: since(), connection_id: e.connectionId, n: s.connects });
    } else if (e.name === "ConnectionClosedEvent") {
      s.disconnects++;
      s.closes.push(e.statusCode);
      out({ event: "disconnected", t: since(), code: e.statusCode, reason: e.reason || "" });
    } else if (e.name === "ConnectionMessageSentEvent" && opt.trace) {
      const m = e.message;
      const binary = m.messageType === internal.MessageType.Binary; // the other body getter throws
      const body = binary ? m.binaryBody : m.textBody;
      out({ event: "sent", t: since(), path: m.path, rid: m.requestId,
        bytes: body ? (binary ? body.byteLength : body.length) : 0 });
    } else if (e.name === "ConnectionMessageReceivedEvent" && opt.trace) {
      const m = e.message;
      out({ event: "received", t: since(), path: m.path, rid: m.requestId,
        body: m.messageType === internal.MessageType.Binary ? "(binary)" : m.textBody });
    }
  },
});

recognizer.sessionStarted = (_, e) => {
  s.started = true;
  s.sessionId = e.sessionId;
};

recognizer.recognized = (_, e) => {
  const r = e.result;
  const rec = { event: "recognized", t: since(), reason: sdk.ResultReason[r.reason], text: r.text || "",
    offset: r.offset, duration: r.duration };
  if (r.reason === sdk.ResultReason.RecognizedSpeech) {
    s.phrases++;
    if (r.text) s.texts.push(r.text);
  } else {
    s.nomatch++;
  }
  if (opt.format === "detailed" && r.json) {
    try {
      const j = JSON.parse(r.json);
      const best = j.NBest && j.NBest[0];
      if (best) {
        rec.lexical = best.Lexical;
        rec.confidence = best.Confidence;
        if (best.Words) {
          rec.words = best.Words.map((w) => ({ word: w.Word, offset: w.Offset, duration: w.Duration }));
        }
      }
    } catch {
      rec.json_error = true;
    }
  }
  out(rec);
};

function finish(code, extra = {}) {
  if (finished) return;
  finished = true;
  const ok = code === 0;
  out({
    event: "summary", ok, exit: code, text: s.texts.join(" "), phrases: s.phrases, nomatch: s.nomatch,
    connects: s.connects, disconnects: s.disconnects, close_codes: s.closes, canceled: s.canceled,
    session_id: s.sessionId, format: opt.format, elapsed_s: since(), audio_s: audioSeconds,
    global_websocket: typeof WebSocket !== "undefined", ...extra,
  });
  // Close the websocket cleanly (1000) before leaving; give up after 2 s.
  setTimeout(() => process.exit(code), 2000);
  try {
    recognizer.close(() => process.exit(code), () => process.exit(code));
  } catch {
    process.exit(code);
  }
}

recognizer.canceled = (_, e) => {
  const reason = sdk.CancellationReason[e.reason];
  const c = { event: "canceled", t: since(), reason };
  if (e.reason === sdk.CancellationReason.Error) {
    c.code = sdk.CancellationErrorCode[e.errorCode];
    c.details = e.errorDetails || "";
  }
  out(c);
  if (e.reason === sdk.CancellationReason.Error) {
    s.canceled = { reason, code: c.code, details: c.details };
    // Without a session, sessionStopped never comes; after one, let it arrive.
    setTimeout(() => finish(1), s.started ? 2000 : 0);
  }
};

recognizer.sessionStopped = () => finish(s.canceled ? 1 : 0);

setTimeout(() => {
  process.stderr.write(`transcribe.js: timed out after ${opt.timeout} s\n`);
  finish(3, { timeout: true });
}, opt.timeout * 1000);

recognizer.startContinuousRecognitionAsync(
  () => {},
  (err) => {
    out({ event: "canceled", t: since(), reason: "StartFailed", details: String(err) });
    s.canceled = { reason: "StartFailed", details: String(err) };
    finish(1);
  });
