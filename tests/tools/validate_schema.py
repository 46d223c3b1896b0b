#!/usr/bin/env python3
"""Validate JSON records against a JSON Schema (draft 2020-12 subset).

    validate_schema.py SCHEMA.json [FILE ...]     # FILE: JSONL or one JSON
                                                  # document; "-" or none: stdin
    validate_schema.py --check-schema SCHEMA.json # the schema uses only
                                                  # supported keywords

Prints one line per invalid record ("FILE:LINE: /json/pointer: problem") and
exits 1 if any record is invalid, 2 on usage or schema errors.

Dependency-free (Debian's python3-jsonschema is not needed), and strict about
itself: a schema keyword it does not implement is an error, never silently
ignored, so a schema cannot pass here while meaning more than was checked.

Supported: type, const, enum, required, properties, additionalProperties
(boolean or schema), items, pattern, format (date-time, uuid), minimum,
maximum, minLength, maxLength, allOf, if/then/else, not; the annotations
$schema, $id, title, description. Also checks what every airwave record must
be: valid UTF-8, no NaN/Infinity, no duplicate keys, no lone surrogates.

Importable: validate(schema, instance) -> list of (pointer, message).
"""

import datetime
import json
import re
import sys

ANNOTATIONS = {"$schema", "$id", "title", "description", "$comment"}
KEYWORDS = {
    "type", "const", "enum", "required", "properties",
    "additionalProperties", "items", "pattern", "format", "minimum",
    "maximum", "minLength", "maxLength", "allOf", "if", "then", "else", "not",
} | ANNOTATIONS

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# RFC 3339 section 5.6 date-time.
DATE_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})"
                          r"(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class SchemaError(Exception):
    pass


def check_schema(schema, where="#"):
    """Raise SchemaError for any keyword this validator does not implement."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: a schema must be an object or a boolean")
    for k, v in schema.items():
        if k not in KEYWORDS:
            raise SchemaError(f"{where}: unsupported keyword {k!r}")
        if k in ("properties",):
            for name, sub in v.items():
                check_schema(sub, f"{where}/properties/{name}")
        elif k in ("additionalProperties", "items", "if", "then", "else",
                   "not"):
            check_schema(v, f"{where}/{k}")
        elif k == "allOf":
            for i, sub in enumerate(v):
                check_schema(sub, f"{where}/allOf/{i}")
        elif k == "format" and v not in ("date-time", "uuid"):
            raise SchemaError(f"{where}: unsupported format {v!r}")


def _type_ok(value, t):
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "null":
        return value is None
    raise SchemaError(f"unknown type {t!r}")


def _equal(a, b):
    # JSON equality: 1 == 1.0, but true != 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _date_time_ok(s):
    m = DATE_TIME_RE.match(s)
    if not m:
        return False
    y, mo, d, h, mi, sec = (int(x) for x in m.groups()[:6])
    try:
        datetime.datetime(y, mo, d, h, mi, min(sec, 59))
    except ValueError:
        return False
    return sec <= 60


def validate(schema, value, path=""):
    """Return a list of (json pointer, message); empty when valid."""
    errors = []
    if schema is True:
        return errors
    if schema is False:
        return [(path or "/", "no value is allowed here")]
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            return [(path or "/", f"{type(value).__name__} is not of type "
                     f"{'/'.join(types)}")]
    if "const" in schema and not _equal(value, schema["const"]):
        errors.append((path or "/", f"{value!r} is not {schema['const']!r}"))
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        errors.append((path or "/", f"{value!r} is not one of {schema['enum']}"))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append((path or "/", f"{value!r} does not match {schema['pattern']!r}"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path or "/", f"shorter than {schema['minLength']}"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path or "/", f"longer than {schema['maxLength']}"))
        fmt = schema.get("format")
        if fmt == "uuid" and not UUID_RE.match(value):
            errors.append((path or "/", f"{value!r} is not a uuid"))
        if fmt == "date-time" and not _date_time_ok(value):
            errors.append((path or "/", f"{value!r} is not an RFC 3339 date-time"))
    if _type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path or "/", f"{value} is less than {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path or "/", f"{value} is more than {schema['maximum']}"))
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                errors.append((path or "/", f"required member {name!r} is missing"))
        props = schema.get("properties", {})
        for name, sub in value.items():
            if name in props:
                errors += validate(props[name], sub, f"{path}/{name}")
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errors.append((f"{path}/{name}", "member not allowed"))
                else:
                    errors += validate(extra, sub, f"{path}/{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(schema["items"], item, f"{path}/{i}")
    for sub in schema.get("allOf", []):
        errors += validate(sub, value, path)
    if "if" in schema:
        branch = "then" if not validate(schema["if"], value, path) else "else"
        if branch in schema:
            errors += validate(schema[branch], value, path)
    if "not" in schema and not validate(schema["not"], value, path):
        errors.append((path or "/", f"must not match {json.dumps(schema['not'])}"))
    return errors


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _strings_ok(value):
    """Lone surrogates (from a \\ud800 escape) are not Unicode text."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings_ok(k)
            _strings_ok(v)
    elif isinstance(value, list):
        for v in value:
            _strings_ok(v)


def parse_record(raw):
    """Parse one record from bytes, as strictly as airwave's consumers may."""
    text = raw.decode("utf-8")  # UnicodeDecodeError: not valid UTF-8
    value = json.loads(text, object_pairs_hook=_no_duplicates,
                       parse_constant=_reject_constant)
    _strings_ok(value)
    return value


def validate_bytes(schema, data, name="-"):
    """Validate a JSONL (or single JSON document) byte string; returns
    (records, list of error lines)."""
    problems = []
    if not data.strip():
        return 0, problems
    # One JSON document (possibly pretty-printed), else one record a line.
    try:
        json.loads(data.decode("utf-8", "replace"))
        chunks = [(1, data)]
    except ValueError:
        chunks = [(i + 1, ln) for i, ln in enumerate(data.split(b"\n"))
                  if ln.strip()]
    for lineno, raw in chunks:
        try:
            value = parse_record(raw)
        except (UnicodeDecodeError, ValueError) as e:
            problems.append(f"{name}:{lineno}: not a valid record: {e}")
            continue
        for ptr, msg in validate(schema, value):
            problems.append(f"{name}:{lineno}: {ptr}: {msg}")
    return len(chunks), problems


def load_schema(path):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    check_schema(schema)
    return schema


def main(argv):
    if len(argv) >= 2 and argv[1] == "--check-schema":
        try:
            for p in argv[2:]:
                load_schema(p)
        except (OSError, ValueError, SchemaError) as e:
            print(f"schema error: {e}", file=sys.stderr)
            return 2
        return 0
    if len(argv) < 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        schema = load_schema(argv[1])
    except (OSError, ValueError, SchemaError) as e:
        print(f"{argv[1]}: schema error: {e}", file=sys.stderr)
        return 2
    total, bad = 0, []
    for name in argv[2:] or ["-"]:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(name, "rb") as f:
                data = f.read()
        n, problems = validate_bytes(schema, data, name)
        total += n
        bad += problems
    for line in bad:
        print(line)
    print(f"{total} records, {len(bad)} problems", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
