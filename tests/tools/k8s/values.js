#!/usr/bin/env node
// Check chart values against values.schema.json with ajv (draft-07, strict),
// a second, independent validator beside helmish's own (schema.go): the
// chart tests require both to give the same verdict.
//
//   node values.js SCHEMA.json VALUES.json...
//
// VALUES.json are merged values as `helmish --values-json` prints them.
// Prints "FILE: valid" or "FILE: invalid: <ajv errors>" per file; exits 0
// when the schema compiles (whatever the verdicts), 2 when it does not.
"use strict";
const fs = require("fs");
const Ajv = require("ajv");

const [schemaFile, ...files] = process.argv.slice(2);
if (!schemaFile || files.length === 0) {
  console.error("usage: node values.js SCHEMA.json VALUES.json...");
  process.exit(64);
}
const ajv = new Ajv({ strict: true, allErrors: true, strictTypes: false });
let validate;
try {
  validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
} catch (e) {
  console.error(`${schemaFile}: schema does not compile: ${e.message}`);
  process.exit(2);
}
for (const f of files) {
  const ok = validate(JSON.parse(fs.readFileSync(f, "utf8")));
  if (ok) console.log(`${f}: valid`);
  else console.log(`${f}: invalid: ` + validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}`).join("; "));
}
