"""Shared helpers of the chart tests (tests/integration/chart_*.py).

- render(): charts/airwave through helmish (built with the tests, see
  tests/integration/chart.cmake), like `helm template`
- merged_values(): the values helmish renders with (chart defaults + files)
- validate(): tests/tools/k8s/validate.js on a rendered file; returns the
  objects (as JSON, so no YAML parser is needed here)
- stream_deployments(), pod_template(), ...: small accessors
"""

import glob
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awtest  # noqa: E402

CHART = os.path.join(awtest.source_dir(), "charts", "airwave")
K8S_TOOLS = os.path.join(awtest.source_dir(), "tests", "tools", "k8s")
RELEASE = "airwave"
NAMESPACE = "radio"


def ci_sets():
    """The values sets every chart test renders: charts/airwave/ci/*-values.yaml."""
    sets = sorted(glob.glob(os.path.join(CHART, "ci", "*-values.yaml")))
    if len(sets) < 3:
        awtest.fail(f"expected at least 3 values sets in {CHART}/ci, found {len(sets)}")
    return sets


def set_name(path):
    return os.path.basename(path).replace("-values.yaml", "")


def helmish():
    return awtest.binary("helmish")


def require_node():
    if not shutil.which("node"):
        awtest.fail("node is not on PATH: Node 18 or newer is needed for tests/tools/k8s")
    for pkg in ("kubernetes-models", "js-yaml", "ajv", "@kubernetes-models/prometheus-operator"):
        if not os.path.isdir(os.path.join(K8S_TOOLS, "node_modules", pkg)):
            awtest.fail(f"{K8S_TOOLS}/node_modules/{pkg} is missing: run scripts/install-deps.sh "
                        f"(or npm ci --prefix tests/tools/k8s)")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60 * awtest.timeout_mult(), **kw)


def render(values_files=(), notes=False, extra=()):
    """helmish over the chart; returns the CompletedProcess."""
    argv = [helmish(), "--release", RELEASE, "--namespace", NAMESPACE]
    for f in values_files:
        argv += ["-f", f]
    if notes:
        argv.append("--notes")
    argv += list(extra)
    argv.append(CHART)
    return run(argv)


def merged_values(values_files=(), skip_schema=False):
    extra = ["--values-json"] + (["--skip-schema-validation"] if skip_schema else [])
    p = render(values_files, extra=extra)
    if p.returncode != 0:
        awtest.fail(f"helmish --values-json {' '.join(values_files)}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def write_json(obj, name):
    path = os.path.join(awtest.tmpdir(), name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
    return path


def render_objects(values_files, name):
    """Render and validate; returns (objects, validate output) or fails."""
    p = render(values_files)
    if p.returncode != 0:
        awtest.fail(f"{name}: helmish failed: {p.stderr.strip()}")
    path = os.path.join(awtest.tmpdir(), f"{name}.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(p.stdout)
    objs, v = validate(path)
    if v.returncode != 0:
        awtest.fail(f"{name}: manifests invalid:\n{v.stdout}{v.stderr}")
    return objs


def validate(path):
    """validate.js on one file: (objects, CompletedProcess)."""
    out = path + ".json"
    p = run(["node", os.path.join(K8S_TOOLS, "validate.js"), "--json", out, path])
    objs = []
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            objs = json.load(f)
    return objs, p


def of_kind(objs, kind):
    return [o for o in objs if o.get("kind") == kind]


def component(o):
    return o["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def stream_deployments(objs):
    return [o for o in of_kind(objs, "Deployment") if component(o) == "stream"]


def by_stream(objs):
    """{stream id: Deployment}"""
    return {d["metadata"]["labels"]["airwave/stream"]: d for d in stream_deployments(objs)}


def configmap_text(objs):
    cms = of_kind(objs, "ConfigMap")
    if len(cms) != 1:
        awtest.fail(f"expected one ConfigMap, found {len(cms)}")
    return cms[0]["data"]["airwave.yaml"]


def checksums(objs):
    return {sid: d["spec"]["template"]["metadata"].get("annotations", {}).get("checksum/config")
            for sid, d in by_stream(objs).items()}
