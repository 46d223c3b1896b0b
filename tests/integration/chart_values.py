#!/usr/bin/env python3
"""integration.chart.values: invalid values are refused, with a clear message.

Each tests/data/chart/invalid/*.yaml names what must refuse it and what the
message must say:

    # refused-by: schema        values.schema.json (before any rendering)
    # refused-by: render        the chart's own cross-value checks (fail)
    # expect: <text>            each such line must appear in the error

For every case helmish must exit 1 with that message. values.schema.json is
also checked by a second, independent validator, ajv (draft-07, strict
mode: tests/tools/k8s/values.js): it must refuse exactly the schema cases and
accept the render cases and every charts/airwave/ci set, so helmish's schema
subset (tests/tools/helmish/schema.go) and a complete validator agree.

Last, tests/data/chart/check-config-refuses.yaml passes the schema and the
render but breaks airwave's own ranges: `airwave check-config` on the
rendered ConfigMap must refuse it (exit 78) naming the keys, which is why the
chart tests run check-config at all.
"""

import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart_common as cc  # noqa: E402
from chart_common import awtest  # noqa: E402

DATA = os.path.join(awtest.source_dir(), "tests", "data", "chart")
SCHEMA = os.path.join(cc.CHART, "values.schema.json")


def header(path):
    stage, expects = None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            key, _, val = line[1:].strip().partition(": ")
            if key == "refused-by":
                stage = val.strip()
            elif key == "expect":
                expects.append(val.strip())
    return stage, expects


def ajv_verdicts(files):
    """{values.json: "valid" | "invalid: ..."} from tests/tools/k8s/values.js."""
    p = cc.run(["node", os.path.join(cc.K8S_TOOLS, "values.js"), SCHEMA, *files])
    if p.returncode != 0:
        awtest.fail(f"values.js: {p.stdout}{p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        f, _, verdict = line.partition(": ")
        out[f] = verdict
    return out


def main():
    cc.require_node()
    c = awtest.Checks("chart values: invalid values refused with a clear message")
    cases = sorted(glob.glob(os.path.join(DATA, "invalid", "*.yaml")))
    c.check(len(cases) >= 4, f"{len(cases)} invalid values sets in tests/data/chart/invalid")
    rows, ajv_inputs = [], {}
    for path in cases:
        name = os.path.basename(path)[:-5]
        stage, expects = header(path)
        if stage not in ("schema", "render") or not expects:
            c.check(False, f"{name}: header names refused-by (schema|render) and at least one expect")
            continue
        p = cc.render([path])
        err = p.stderr.strip()
        first = {"schema": "Error: values don't meet the specifications of the schema(s)",
                 "render": "Error: execution error at ("}[stage]
        c.check(p.returncode == 1 and err.startswith(first) and not p.stdout.strip(),
                f"{name}: refused by the {stage}, nothing rendered", f"exit {p.returncode}: {err}")
        for e in expects:
            c.check(e in err, f"{name}: says {e!r}", f"stderr: {err}")
        rows.append([name, stage, err.splitlines()[-1][:150]])
        ajv_inputs[cc.write_json(cc.merged_values([path], skip_schema=True), f"{name}.values.json")] = (name, stage)

    for path in cc.ci_sets():
        name = cc.set_name(path)
        p = cc.render([path])
        c.check(p.returncode == 0, f"ci/{name}: accepted by helmish", p.stderr)
        ajv_inputs[cc.write_json(cc.merged_values([path]), f"ci-{name}.values.json")] = (f"ci/{name}", "valid")

    verdicts = ajv_verdicts(list(ajv_inputs))
    for f, (name, stage) in ajv_inputs.items():
        v = verdicts.get(f, "missing")
        if stage == "schema":
            c.check(v.startswith("invalid"), f"{name}: ajv refuses it too ({v[:100]})")
        else:
            c.check(v == "valid", f"{name}: ajv accepts it, as helmish's schema check does", v)

    # The last line of defence: airwave check-config on the rendered ConfigMap.
    path = os.path.join(DATA, "check-config-refuses.yaml")
    _, expects = header(path)
    objs = cc.render_objects([path], "check-config-refuses")
    cfg = os.path.join(awtest.tmpdir(), "check-config-refuses.airwave.yaml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(cc.configmap_text(objs))
    p = subprocess.run([awtest.binary("airwave"), "check-config", cfg], capture_output=True, text=True)
    c.check(p.returncode == 78, f"check-config-refuses: the chart renders it; airwave check-config exits 78 (got {p.returncode})",
            p.stdout + p.stderr)
    for e in expects:
        c.check(e in p.stdout + p.stderr, f"check-config-refuses: check-config names {e}", p.stdout + p.stderr)
    rows.append(["check-config-refuses", "airwave check-config", (p.stdout + p.stderr).strip().splitlines()[0][:150]
                 if (p.stdout + p.stderr).strip() else ""])

    awtest.print_table(["values set", "refused by", "message (last line)"], rows, title="Refusals:")
    c.finish()


if __name__ == "__main__":
    main()
