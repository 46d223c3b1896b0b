#!/usr/bin/env node
"use strict";
// The alternative a user would write instead of airwave: FFmpeg decodes, this
// Node program pipes the PCM into the official Azure Speech SDK
// (continuous recognition, push stream) and prints each recognised phrase.
//
//   ffmpeg -i FILE -ac 1 -ar 16000 -f s16le - |
//     node sdk_pipe.js --url ws://127.0.0.1:PORT/speech/recognition/conversation/cognitiveservices/v1
//                      [--key K] [--language en-US] [--format simple|detailed] [--timeout S]
//
// Reads 16 kHz mono s16le PCM from stdin and writes it into the SDK's push
// stream as it arrives; the SDK sends it unthrottled
// (SPEECH-TransmitLengthBeforThrottleMs very large), as airwave sends a file
// to a local service. One JSON line per phrase on stdout, then a summary line;
// exit 0 after sessionStopped, 1 on an error, 3 on the timeout.
//
// The SDK comes from tests/tools/sdk/node_modules (npm ci --prefix tests/tools/sdk).

const path = require("path");
const sdk = require(path.join(__dirname, "..", "..", "tests", "tools", "sdk", "node_modules",
                              "microsoft-cognitiveservices-speech-sdk"));

const opt = { language: "en-US", format: "simple", timeout: 900, key: "bench-key" };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === "--url") { opt.url = v; i++; }
  else if (a === "--key") { opt.key = v; i++; }
  else if (a === "--language") { opt.language = v; i++; }
  else if (a === "--format") { opt.format = v; i++; }
  else if (a === "--timeout") { opt.timeout = Number(v); i++; }
  else { process.stderr.write(`sdk_pipe.js: unknown argument ${a}\n`); process.exit(2); }
}
if (!opt.url) { process.stderr.write("sdk_pipe.js: --url is required\n"); process.exit(2); }

const cfg = sdk.SpeechConfig.fromEndpoint(new URL(opt.url), opt.key);
cfg.speechRecognitionLanguage = opt.language;
if (opt.format === "detailed") cfg.outputFormat = sdk.OutputFormat.Detailed;
cfg.setProperty("SPEECH-TransmitLengthBeforThrottleMs", "100000000");

const push = sdk.AudioInputStream.createPushStream(sdk.AudioStreamFormat.getWaveFormatPCM(16000, 16, 1));
let bytes = 0, odd = null;
process.stdin.on("data", (chunk) => {
  if (odd) { chunk = Buffer.concat([odd, chunk]); odd = null; }
  if (chunk.length & 1) { odd = chunk.subarray(chunk.length - 1); chunk = chunk.subarray(0, chunk.length - 1); }
  bytes += chunk.length;
  // write() needs an ArrayBuffer; a Node Buffer cancels the session.
  push.write(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
});
process.stdin.on("end", () => push.close());

const r = new sdk.SpeechRecognizer(cfg, sdk.AudioConfig.fromStreamInput(push));
let phrases = 0, nomatch = 0, failed = null, done = false;
const t0 = Date.now();
r.recognized = (_, e) => {
  if (e.result.reason === sdk.ResultReason.RecognizedSpeech) {
    phrases++;
    process.stdout.write(JSON.stringify({ text: e.result.text, offset: e.result.offset,
      duration: e.result.duration }) + "\n");
  } else {
    nomatch++;
  }
};
r.canceled = (_, e) => {
  if (e.reason === sdk.CancellationReason.Error) failed = e.errorDetails || "error";
};
function finish(code) {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify({ summary: true, ok: code === 0, phrases, nomatch,
    audio_seconds: bytes / 32000, seconds: (Date.now() - t0) / 1000, error: failed }) + "\n");
  r.close();
  process.exit(code);
}
r.sessionStopped = () => finish(failed ? 1 : 0);
setTimeout(() => finish(3), opt.timeout * 1000).unref();
r.startContinuousRecognitionAsync(() => {}, (err) => { failed = String(err); finish(1); });
