#!/usr/bin/env node
// Validate rendered Kubernetes manifests offline (TESTBED.md §6.1).
//
//   node validate.js [--json OUT.json] FILE.yaml...
//
// Every YAML document must be an object of a known apiVersion/kind and pass:
//   1. the kubernetes-models schema of its kind (types, required fields,
//      enums, formats; Kubernetes 1.30 API), ServiceMonitor from
//      @kubernetes-models/prometheus-operator;
//   2. a strict check that refuses unknown fields, as `helm install` and
//      `kubectl apply` (server-side field validation) do: kubernetes-models'
//      schemas accept any extra property, so `containerz:` or a misspelt
//      `readOnlyRootFileSystem` would otherwise pass. The field lists come
//      from the packages' TypeScript declarations (*.d.ts), the same API
//      definitions the schemas were generated from.
// --json writes every document, in order, as a JSON array (for tests that
// inspect the objects without a YAML parser).
// Prints one line per object; exits 1 when any object is invalid.
"use strict";
const fs = require("fs");
const path = require("path");
const yaml = require("js-yaml");

const groups = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

// --- a small reader for the packages' .d.ts declarations -------------------
// Types are kept as trees: {k: "obj", members: {name: type}, index: type|null}
// | {k: "ref", name, file} | {k: "array", of} | {k: "union", of: [...]}
// | {k: "prim"}.

const fileCache = new Map();

function tokenize(src) {
  src = src.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
  const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*|-?\d+(?:\.\d+)?|\S)/g;
  const toks = [];
  let m;
  while ((m = re.exec(src)) !== null) toks.push(m[1]);
  return toks;
}

function parseFile(file) {
  if (fileCache.has(file)) return fileCache.get(file);
  const info = { file, decls: {}, imports: {}, exports: {} };
  fileCache.set(file, info);
  const t = tokenize(fs.readFileSync(file, "utf8"));
  let i = 0;
  const peek = () => t[i];
  const next = () => t[i++];
  const expect = (s) => {
    if (t[i] !== s) throw new Error(`${file}: expected ${s} at token ${i}, found ${t[i]}`);
    i++;
  };

  function parseType() {
    const alts = [];
    if (peek() === "|") next();
    do {
      alts.push(parsePostfix());
    } while (peek() === "|" && next());
    return alts.length === 1 ? alts[0] : { k: "union", of: alts };
  }
  function parsePostfix() {
    let ty = parsePrimary();
    while (peek() === "[" && t[i + 1] === "]") {
      i += 2;
      ty = { k: "array", of: ty };
    }
    return ty;
  }
  function parsePrimary() {
    const tok = next();
    if (tok === "{") return parseObjectBody();
    if (tok === "(") {
      const ty = parseType();
      expect(")");
      return ty;
    }
    if (/^["'\d-]/.test(tok)) return { k: "prim" };
    if (tok === "Array" && peek() === "<") {
      next();
      const of = parseType();
      expect(">");
      return { k: "array", of };
    }
    if (/^[A-Za-z_$]/.test(tok)) {
      let name = tok;
      while (peek() === ".") { next(); name += "." + next(); }
      if (peek() === "<") { // a generic we do not follow (Record<...>, ...)
        let depth = 0;
        do {
          const x = next();
          if (x === "<") depth++;
          if (x === ">") depth--;
        } while (depth > 0);
        return { k: "prim" };
      }
      if (["string", "number", "boolean", "any", "unknown", "null",
           "undefined", "object", "true", "false", "never"].includes(name)) {
        return { k: "prim" };
      }
      return { k: "ref", name, file };
    }
    throw new Error(`${file}: unexpected token ${tok}`);
  }
  function parseObjectBody() { // after "{"
    const obj = { k: "obj", members: {}, index: null };
    while (peek() !== "}") {
      if (peek() === "[") { // [key: string]: T
        while (next() !== "]");
        expect(":");
        obj.index = parseType();
      } else {
        let name = next();
        if (/^["']/.test(name)) name = JSON.parse(name.replace(/^'|'$/g, '"'));
        if (peek() === "?") next();
        if (peek() === "(") { // a method: skip to ;
          while (peek() !== ";" && peek() !== "}") next();
        } else {
          expect(":");
          obj.members[name] = parseType();
        }
      }
      if (peek() === ";" || peek() === ",") next();
    }
    expect("}");
    return obj;
  }
  function skipStatement() {
    let depth = 0;
    while (i < t.length) {
      const x = next();
      if (x === "{") depth++;
      else if (x === "}") { depth--; if (depth <= 0) { if (peek() === ";") next(); return; } }
      else if (x === ";" && depth === 0) return;
    }
  }

  while (i < t.length) {
    const tok = peek();
    if (tok === "import") {
      next();
      if (peek() !== "{") { skipStatement(); continue; }
      next();
      const names = [];
      while (peek() !== "}") {
        const a = next();
        let local = a;
        if (peek() === "as") { next(); local = next(); }
        names.push([a, local]);
        if (peek() === ",") next();
      }
      expect("}");
      expect("from");
      const from = JSON.parse(next().replace(/^'|'$/g, '"'));
      if (peek() === ";") next();
      for (const [orig, local] of names) info.imports[local] = { orig, from };
      continue;
    }
    if (tok === "export" && t[i + 1] === "{") {
      i += 2;
      while (peek() !== "}") {
        const a = next();
        let as = a;
        if (peek() === "as") { next(); as = next(); }
        info.exports[as] = a;
        if (peek() === ",") next();
      }
      expect("}");
      if (peek() === "from") { next(); next(); }
      if (peek() === ";") next();
      continue;
    }
    if (tok === "export" || tok === "declare") { next(); continue; }
    if (tok === "interface") {
      next();
      const name = next();
      while (peek() !== "{") next(); // extends ...
      next();
      info.decls[name] = parseObjectBody();
      continue;
    }
    if (tok === "type") {
      next();
      const name = next();
      expect("=");
      info.decls[name] = parseType();
      if (peek() === ";") next();
      continue;
    }
    skipStatement();
  }
  return info;
}

function resolveModule(from, spec) {
  const base = spec.startsWith(".")
    ? path.resolve(path.dirname(from), spec)
    : require.resolve(spec);
  return base.replace(/\.(js|d\.ts)$/, "") + ".d.ts";
}

function resolveRef(ref, seen = 0) {
  if (seen > 20) return { k: "prim" };
  const info = parseFile(ref.file);
  const local = info.exports[ref.name] || ref.name;
  if (info.decls[local]) return info.decls[local];
  const imp = info.imports[ref.name];
  if (imp) return resolveRef({ k: "ref", name: imp.orig, file: resolveModule(ref.file, imp.from) }, seen + 1);
  return { k: "prim" }; // a class or something we do not follow
}

function deref(ty) {
  while (ty && ty.k === "ref") ty = resolveRef(ty);
  return ty;
}

function unknownFields(value, ty, where, out) {
  ty = deref(ty);
  if (!ty || value === null || typeof value !== "object") return;
  if (ty.k === "union") {
    const cands = ty.of.map(deref).filter((x) => x && x.k !== "prim");
    if (cands.length === 0) return;
    let best = null;
    for (const c of cands) {
      const errs = [];
      unknownFields(value, c, where, errs);
      if (errs.length === 0) return;
      if (!best || errs.length < best.length) best = errs;
    }
    out.push(...best);
    return;
  }
  if (ty.k === "array") {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, ty.of, `${where}[${i}]`, out));
    return;
  }
  if (ty.k === "obj" && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) {
      const mt = ty.members[key] || ty.index;
      if (!mt) out.push(`${where}.${key}: unknown field`);
      else unknownFields(v, mt, `${where}.${key}`, out);
    }
  }
}

function interfaceOf(modulePath, kind) {
  const dts = require.resolve(`${modulePath}/${kind}`).replace(/\.js$/, ".d.ts");
  const info = parseFile(dts);
  const name = "I" + kind;
  if (!info.decls[name]) throw new Error(`${dts}: no interface ${name}`);
  return { k: "ref", name, file: dts };
}

// --- main ----------------------------------------------------------------

const args = process.argv.slice(2);
let jsonOut = null;
if (args[0] === "--json") { jsonOut = args[1]; args.splice(0, 2); }
if (args.length === 0) {
  console.error("usage: node validate.js [--json OUT.json] FILE.yaml...");
  process.exit(64);
}
let bad = 0;
let count = 0;
const all = [];
for (const file of args) {
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, "utf8"));
  } catch (e) {
    console.error(`${file}: YAML error: ${e.message}`);
    bad++;
    continue;
  }
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    all.push(doc);
    count++;
    const what = `${file}: ${doc.apiVersion}/${doc.kind} ${doc.metadata && doc.metadata.name}`;
    const mod = groups[doc.apiVersion];
    let Kind;
    try { Kind = mod && require(mod)[doc.kind]; } catch (e) { Kind = undefined; }
    if (!Kind) { console.error(`${what}: unknown apiVersion/kind`); bad++; continue; }
    const problems = [];
    try { new Kind(doc).validate(); } catch (e) { problems.push(e.message); }
    try {
      unknownFields(doc, interfaceOf(mod, doc.kind), "", problems);
    } catch (e) {
      problems.push(`strict field check failed: ${e.message}`);
    }
    if (problems.length) {
      console.error(`${what}: INVALID: ${problems.join("; ")}`);
      bad++;
    } else {
      console.log(`${what}: ok`);
    }
  }
}
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(all, null, 1));
console.log(`${count} objects, ${bad} invalid`);
process.exit(bad ? 1 : 0);
