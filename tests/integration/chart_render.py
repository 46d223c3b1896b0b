#!/usr/bin/env python3
"""integration.chart.render: the chart rendered for every values set in
charts/airwave/ci/ (at least: defaults, three stations with an existing
Secret, offline mode with airwave-speechd), and for each set:

- every manifest valid against the Kubernetes schemas, unknown fields refused
  (tests/tools/k8s/validate.js);
- the ConfigMap's airwave.yaml accepted by the built `airwave check-config`,
  with as many streams as the values list, and no secret in it;
- one Deployment per stream, running `airwave run --config
  /etc/airwave/airwave.yaml --stream <id>`, replicas 1 (0 when paused), a
  checksum/config annotation;
- the standard labels on every object and pod, selectors that match;
- the restricted securityContext on every pod and container;
- probes: /healthz and /readyz on port "http" (9090) for streams, TCP for
  airwave-speechd; resources on every container;
- Services, ServiceMonitor, NetworkPolicy and the speech endpoint pointing at
  what exists; NOTES.txt renders.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart_common as cc  # noqa: E402
from chart_common import awtest  # noqa: E402

STANDARD_LABELS = {
    "app.kubernetes.io/name": "airwave",
    "app.kubernetes.io/instance": cc.RELEASE,
    "app.kubernetes.io/managed-by": "Helm",
    "app.kubernetes.io/part-of": "airwave",
}


def labels_ok(labels, chart_version):
    want = dict(STANDARD_LABELS, **{"helm.sh/chart": f"airwave-{chart_version}"})
    missing = {k: v for k, v in want.items() if labels.get(k) != v}
    if not labels.get("app.kubernetes.io/version"):
        missing["app.kubernetes.io/version"] = "(any)"
    return missing


def subset(small, big):
    return all(big.get(k) == v for k, v in small.items())


def pod_spec(d):
    return d["spec"]["template"]["spec"]


def check_pod_security(c, where, spec):
    psc = spec.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True and int(psc.get("runAsUser", 0)) > 0,
            f"{where}: pod runAsNonRoot, runAsUser {psc.get('runAsUser')}")
    c.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
            f"{where}: seccompProfile RuntimeDefault")
    c.check(spec.get("automountServiceAccountToken") is False,
            f"{where}: no service account token mounted")
    c.check(not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")),
            f"{where}: no host namespaces")
    for ct in spec["containers"]:
        sc = ct.get("securityContext", {})
        caps = sc.get("capabilities", {})
        c.check(sc.get("readOnlyRootFilesystem") is True
                and sc.get("allowPrivilegeEscalation") is False
                and sc.get("privileged") is not True
                and caps.get("drop") == ["ALL"] and not caps.get("add"),
                f"{where}/{ct['name']}: read-only root, no privilege escalation, capabilities drop ALL",
                f"securityContext: {sc}")
        tmp = [m for m in ct.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        c.check(len(tmp) == 1 and "emptyDir" in vols.get(tmp[0]["name"], {}),
                f"{where}/{ct['name']}: /tmp is an emptyDir (the only writable path)")
        res = ct.get("resources", {})
        c.check(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
                and res.get("limits", {}).get("memory"),
                f"{where}/{ct['name']}: cpu and memory requests, memory limit: {res}")


def check_set(c, path):
    name = cc.set_name(path)
    values = cc.merged_values([path])
    streams = values.get("streams") or []
    objs = cc.render_objects([path], name)
    kinds = {}
    for o in objs:
        kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    c.check(True, f"[{name}] rendered and valid against the Kubernetes schemas: {len(objs)} objects ({summary})")
    with open(os.path.join(cc.CHART, "Chart.yaml"), encoding="utf-8") as f:
        chart_version = re.search(r"^version:\s*(\S+)", f.read(), re.M).group(1)

    # Labels everywhere.
    for o in objs:
        what = f"[{name}] {o['kind']} {o['metadata']['name']}"
        missing = labels_ok(o["metadata"].get("labels", {}), chart_version)
        c.check(not missing, f"{what}: standard labels", f"missing or wrong: {missing}")
        c.check(o["metadata"].get("namespace") == cc.NAMESPACE, f"{what}: in the release namespace")
        if o["kind"] == "Deployment":
            pl = o["spec"]["template"]["metadata"].get("labels", {})
            c.check(not labels_ok(pl, chart_version), f"{what}: standard labels on its pods")
            c.check(subset(o["spec"]["selector"]["matchLabels"], pl), f"{what}: selector matches its pods")

    # The ConfigMap: airwave check-config, stream count, no secrets.
    text = cc.configmap_text(objs)
    cfg = os.path.join(awtest.tmpdir(), f"{name}.airwave.yaml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(text)
    p = subprocess.run([awtest.binary("airwave"), "check-config", cfg], capture_output=True, text=True)
    want = f"{cfg}: ok, {len(streams)} stream{'' if len(streams) == 1 else 's'}"
    c.check(p.returncode == 0 and p.stdout.strip() == want,
            f"[{name}] airwave check-config accepts the ConfigMap: {p.stdout.strip() or p.stderr.strip()}",
            f"exit {p.returncode}, want {want!r}\n{p.stderr}")
    c.check("listen: 0.0.0.0:9090" in text, f"[{name}] airwave.yaml has http.listen 0.0.0.0:9090")
    secrets = [v for v in (values["speechKey"].get("value"), values["kafkaSasl"].get("password")) if v]
    c.check(not any(s in text for s in secrets), f"[{name}] no secret value in the ConfigMap")

    # One Deployment per stream.
    deps = cc.by_stream(objs)
    c.equal(sorted(deps), sorted(s["id"] for s in streams), f"[{name}] one stream Deployment per stream")
    for s in streams:
        d = deps.get(s["id"])
        if not d:
            continue
        where = f"[{name}] {d['metadata']['name']}"
        spec = pod_spec(d)
        ct = spec["containers"][0]
        c.equal(ct.get("command", []) + ct.get("args", []),
                ["/usr/local/bin/airwave", "run", "--config", "/etc/airwave/airwave.yaml", "--stream", s["id"]],
                f"{where}: command")
        c.equal(d["spec"]["replicas"], int(s.get("replicaCount", 1)), f"{where}: replicas")
        c.check(re.fullmatch(r"[0-9a-f]{64}", d["spec"]["template"]["metadata"]["annotations"].get("checksum/config", "")),
                f"{where}: checksum/config annotation")
        c.check(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["metadata"]["name"]) and len(d["metadata"]["name"]) <= 63,
                f"{where}: a valid DNS label name")
        ports = {p["name"]: p["containerPort"] for p in ct.get("ports", [])}
        c.equal(ports, {"http": 9090}, f"{where}: port http 9090")
        lp, rp, sp = ct.get("livenessProbe", {}), ct.get("readinessProbe", {}), ct.get("startupProbe", {})
        c.check(lp.get("httpGet") == {"path": "/healthz", "port": "http"}
                and rp.get("httpGet") == {"path": "/readyz", "port": "http"}
                and sp.get("httpGet") == {"path": "/healthz", "port": "http"},
                f"{where}: liveness /healthz, readiness /readyz, startup /healthz on port http")
        vols = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m for m in ct["volumeMounts"]}
        c.check(mounts.get("/etc/airwave", {}).get("readOnly") is True
                and vols[mounts["/etc/airwave"]["name"]].get("configMap", {}).get("name")
                == cc.of_kind(objs, "ConfigMap")[0]["metadata"]["name"],
                f"{where}: the ConfigMap read-only at /etc/airwave")
        env = {e["name"]: e for e in ct.get("env", [])}
        key = values["speechKey"]
        if key.get("existingSecret") or key.get("value"):
            ref = env.get("AZURE_SPEECH_KEY", {}).get("valueFrom", {}).get("secretKeyRef", {})
            want_secret = key.get("existingSecret") or cc.of_kind(objs, "Secret")[0]["metadata"]["name"]
            c.check(ref.get("name") == want_secret and ref.get("key") == key["secretKey"],
                    f"{where}: AZURE_SPEECH_KEY from Secret {want_secret}/{key['secretKey']}")
        if values["kafkaSasl"].get("existingSecret"):
            ref = env.get("AIRWAVE_KAFKA_SASL_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
            c.check(ref.get("name") == values["kafkaSasl"]["existingSecret"],
                    f"{where}: AIRWAVE_KAFKA_SASL_PASSWORD from Secret {ref.get('name')}")
        check_pod_security(c, where, spec)

    # airwave-speechd (offline mode).
    sds = [d for d in cc.of_kind(objs, "Deployment") if cc.component(d) == "speechd"]
    c.equal(len(sds), 1 if values["speechd"]["enabled"] else 0, f"[{name}] airwave-speechd Deployments")
    for d in sds:
        where = f"[{name}] {d['metadata']['name']}"
        spec = pod_spec(d)
        ct = spec["containers"][0]
        c.check(ct["command"] == ["/usr/local/bin/airwave-speechd"]
                and f"--listen=*:{values['speechd']['port']}" in ct["args"],
                f"{where}: airwave-speechd listening on port {values['speechd']['port']}: {ct['args']}")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            c.check(ct.get(probe, {}).get("tcpSocket") == {"port": "speech"}, f"{where}: {probe} tcpSocket on port speech")
        check_pod_security(c, where, spec)
        svcs = [s for s in cc.of_kind(objs, "Service") if cc.component(s) == "speechd"]
        c.check(len(svcs) == 1 and subset(svcs[0]["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"]),
                f"{where}: its Service selects its pods")
        if svcs:
            ep = (f"endpoint: ws://{svcs[0]['metadata']['name']}.{cc.NAMESPACE}.svc:{svcs[0]['spec']['ports'][0]['port']}"
                  "/speech/recognition/conversation/cognitiveservices/v1")
            c.check(ep in text, f"[{name}] streams' speech.endpoint is the speechd Service: {ep.split(' ')[1]}")
        if values["speechKey"].get("value") or values["speechKey"].get("existingSecret"):
            c.check(any(e["name"] == "AIRWAVE_SPEECHD_KEY" for e in ct.get("env", [])),
                    f"{where}: guarded by the speech key (AIRWAVE_SPEECHD_KEY)")
        for np in cc.of_kind(objs, "NetworkPolicy"):
            c.check(subset(np["spec"]["podSelector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
                    and np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "stream",
                    f"[{name}] NetworkPolicy: only stream pods reach speechd")

    # Metrics Service and ServiceMonitor.
    msvc = [s for s in cc.of_kind(objs, "Service") if cc.component(s) == "metrics"]
    if streams and values["metrics"]["service"]["enabled"]:
        c.check(len(msvc) == 1, f"[{name}] a metrics Service")
    for s in msvc:
        pods = [d["spec"]["template"]["metadata"]["labels"] for d in deps.values()]
        c.check(all(subset(s["spec"]["selector"], pl) for pl in pods)
                and s["spec"]["ports"][0]["targetPort"] == "http" and s["spec"].get("publishNotReadyAddresses") is True,
                f"[{name}] metrics Service selects every stream pod's port http, ready or not")
    for sm in cc.of_kind(objs, "ServiceMonitor"):
        ep = sm["spec"]["endpoints"][0]
        c.check(msvc and subset(sm["spec"]["selector"]["matchLabels"], msvc[0]["metadata"]["labels"])
                and ep["port"] == "http" and ep["path"] == "/metrics",
                f"[{name}] ServiceMonitor scrapes the metrics Service's port http /metrics every {ep.get('interval')}")

    # NOTES.txt
    p = cc.render([path], notes=True)
    c.check(p.returncode == 0 and all(d["metadata"]["name"] in p.stdout for d in deps.values()),
            f"[{name}] NOTES.txt renders and names every stream Deployment", p.stderr)
    return name, len(objs), summary


def check_docs(c):
    """The YAML examples of docs/operations.md: values render, rules validate."""
    doc = os.path.join(awtest.source_dir(), "docs", "operations.md")
    with open(doc, encoding="utf-8") as f:
        blocks = re.findall(r"```yaml\n(.*?)```", f.read(), re.S)
    base = None
    for i, b in enumerate(blocks):
        path = os.path.join(awtest.tmpdir(), f"operations-{i}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(b)
        first = b.lstrip().split(":", 1)[0]
        if "kind: PrometheusRule" in b:
            objs, v = cc.validate(path)
            rules = sum(len(g["rules"]) for o in objs for g in o["spec"]["groups"])
            c.check(v.returncode == 0, f"docs/operations.md: the PrometheusRule example is valid ({rules} rules)",
                    v.stdout + v.stderr)
        elif first in ("image", "config", "speechd", "streams"):
            files = [path] if first != "streams" or base is None else [base, path]
            base = base or (path if first != "streams" else None)
            p = cc.render(files)
            ok = p.returncode == 0
            if ok:
                out = path + ".rendered.yaml"
                with open(out, "w", encoding="utf-8") as f:
                    f.write(p.stdout)
                objs, v = cc.validate(out)
                ok = v.returncode == 0
            c.check(ok, f"docs/operations.md: values example {i} ({first}: ...) renders to valid manifests",
                    p.stderr)


def main():
    cc.require_node()
    c = awtest.Checks("chart render: every values set in charts/airwave/ci")
    rows = []
    for path in cc.ci_sets():
        rows.append(check_set(c, path))
    check_docs(c)
    awtest.print_table(["values set", "objects", "kinds"], rows, title="Rendered manifests:")
    c.finish()


if __name__ == "__main__":
    main()
