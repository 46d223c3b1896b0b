#!/usr/bin/env python3
"""integration.chart.checksum: a change rolls exactly the pods it concerns.

Kubernetes replaces a Deployment's pods when its pod template changes. Each
stream pod's template carries checksum/config = sha256(global settings + its
own `streams` entry), so, starting from ci/three-stations-values.yaml:

- editing one station's entry changes only that station's pod template;
- adding a station adds one Deployment and leaves the others' templates alone;
- removing a station removes its Deployment only;
- pausing a station (replicaCount 0) or giving it its own resources changes
  its Deployment only, and not its checksum (neither reaches airwave.yaml);
- a global setting (config.*) changes every stream pod's template;
- offline mode (speechd.enabled) changes every one (the speech endpoint);
- with a chart-made Secret, a new key changes checksum/secret on every pod
  that reads it, speechd included; an existingSecret is the operator's to
  roll (docs/operations.md).
"""

import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart_common as cc  # noqa: E402
from chart_common import awtest  # noqa: E402


def templates(objs):
    """{stream id: pod template as canonical JSON}"""
    return {sid: json.dumps(d["spec"]["template"], sort_keys=True) for sid, d in cc.by_stream(objs).items()}


def rendered(values, name):
    return cc.render_objects([cc.write_json(values, f"{name}.values.json")], name)


def changed(before, after):
    a, b = templates(before), templates(after)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def main():
    cc.require_node()
    c = awtest.Checks("chart checksum: a change rolls only the pods it concerns")
    base_file = os.path.join(cc.CHART, "ci", "three-stations-values.yaml")
    base = cc.merged_values([base_file])
    base_objs = rendered(base, "base")
    ids = [s["id"] for s in base["streams"]]
    sums = cc.checksums(base_objs)
    c.check(len(set(sums.values())) == len(ids) and all(sums.values()),
            f"every station has its own checksum/config: {', '.join(f'{k}={v[:12]}' for k, v in sums.items())}")
    again = rendered(base, "base-again")
    c.equal(changed(base_objs, again), [], "rendering the same values twice changes nothing")
    rows = []

    def case(what, mutate, want_changed, want_checksums=None):
        v = copy.deepcopy(base)
        mutate(v)
        objs = rendered(v, what.replace(" ", "-").replace("/", "-"))
        got = changed(base_objs, objs)
        c.equal(got, sorted(want_changed), f"{what}: pod templates changed")
        if want_checksums is not None:
            s1, s2 = cc.checksums(base_objs), cc.checksums(objs)
            diff = sorted(k for k in set(s1) | set(s2) if s1.get(k) != s2.get(k))
            c.equal(diff, sorted(want_checksums), f"{what}: checksum/config changed")
        rows.append([what, ", ".join(got) or "(none)"])
        return objs

    edited = ids[1]
    case(f"edit {edited}'s url", lambda v: v["streams"][1].update(url="http://example.org/other.mp3"),
         [edited], [edited])
    case(f"edit {edited}'s ffmpeg options",
         lambda v: v["streams"][1].setdefault("ffmpeg", {}).update(rw_timeout=5000000), [edited], [edited])
    added = case("add radio-ergo",
                 lambda v: v["streams"].append({"id": "radio-ergo", "url": "http://example.org/ergo.mp3",
                                                "language": "so-SO"}),
                 ["radio-ergo"], ["radio-ergo"])
    c.equal(len(cc.stream_deployments(added)), len(ids) + 1, "add radio-ergo: one more Deployment")
    removed = case(f"remove {ids[0]}", lambda v: v["streams"].pop(0), [ids[0]], [ids[0]])
    c.check(ids[0] not in cc.by_stream(removed), f"remove {ids[0]}: its Deployment is gone")
    paused = case(f"pause {ids[2]} (replicaCount 0)", lambda v: v["streams"][2].update(replicaCount=0), [], [])
    c.equal(cc.by_stream(paused)[ids[2]]["spec"]["replicas"], 0, f"pause {ids[2]}: replicas 0")
    case(f"resources for {ids[0]}",
         lambda v: v["streams"][0].update(resources={"requests": {"cpu": "200m", "memory": "128Mi"},
                                                     "limits": {"memory": "512Mi"}}),
         [ids[0]], [])
    case("global: config.speech.format simple", lambda v: v["config"]["speech"].update(format="simple"), ids, ids)
    case("global: config.kafka.linger.ms", lambda v: v["config"]["kafka"].update({"linger.ms": 20}), ids, ids)
    case("offline: speechd.enabled",
         lambda v: (v["speechd"].update(enabled=True, languages=["en-US", "fr-FR", "sw-CD"]),
                    v["config"]["speech"].pop("region")),
         ids, ids)
    case("the existingSecret's name", lambda v: v["speechKey"].update(existingSecret="azure-speech-2"), ids, [])

    # A key the chart keeps: a new value rolls every pod that reads it.
    def own_key(value):
        def mutate(v):
            v["speechKey"] = {"existingSecret": "", "secretKey": "azure-speech-key", "value": value}
            v["speechd"].update(enabled=True, languages=["en-US", "fr-FR", "sw-CD"])
            v["config"]["speech"].pop("region")
        return mutate
    v1, v2 = copy.deepcopy(base), copy.deepcopy(base)
    own_key("0" * 32)(v1)
    own_key("1" * 32)(v2)
    o1, o2 = rendered(v1, "own-key-1"), rendered(v2, "own-key-2")
    ann = lambda objs: {d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {}).get("checksum/secret")  # noqa: E731
                        for d in cc.of_kind(objs, "Deployment")}
    a1, a2 = ann(o1), ann(o2)
    c.check(all(a1.values()) and all(a1[k] != a2[k] for k in a1),
            f"new speechKey.value: checksum/secret changes on all {len(a1)} Deployments (streams and speechd)")
    c.equal(cc.checksums(o1), cc.checksums(o2), "new speechKey.value: checksum/config unchanged")
    rows.append(["new speechKey.value (chart-made Secret)", "every stream pod and speechd (checksum/secret)"])

    awtest.print_table(["change", "pods rolled"], rows, title="What each change rolls:")
    c.finish()


if __name__ == "__main__":
    main()
