#!/bin/sh
# Lay out the runtime image's files in a directory, without Docker, so that
# scripts/check-image.sh can check them (the test integration.image does).
#
#   scripts/stage-runtime.sh INSTALL_TREE ROOT
#
# INSTALL_TREE is what scripts/build.sh installed with DESTDIR=INSTALL_TREE.
# ROOT receives what the runtime stage of docker/Dockerfile adds to the base
# image:
#   - the files of the packages `AW_DEPS_RUNTIME_ONLY=1 scripts/install-deps.sh`
#     installs, and of everything they depend on (Depends and Pre-Depends,
#     recursively), as symbolic links to this machine's copies; the package
#     list is read from scripts/install-deps.sh itself, so a library missing
#     from that list is missing here too;
#   - docker/runtime-setup.sh's layer: the binaries and the airwave user.
# This machine must be Debian 12 with those packages installed (install-deps.sh
# does that). Nothing outside ROOT is changed.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)

src=${1:?usage: stage-runtime.sh INSTALL_TREE ROOT}
root=${2:?usage: stage-runtime.sh INSTALL_TREE ROOT}
mkdir -p "$root"
root=$(cd "$root" && pwd)

# The runtime list, exactly as install-deps.sh spells it.
pkgs=$(sed -n '/^runtime="/,/"/p' "$here/scripts/install-deps.sh" |
       sed 's/^runtime="//; s/".*$//' | tr '\n' ' ')
[ -n "$(echo "$pkgs" | tr -d ' ')" ] || {
    echo "stage-runtime.sh: no runtime=\"...\" list in scripts/install-deps.sh" >&2
    exit 1
}

# Dependency closure over the installed packages (dpkg's status database, no
# apt lists needed), then link every file of those packages into ROOT.
# shellcheck disable=SC2086  # one argument per package
python3 - "$root" $pkgs <<'PY'
import os, re, subprocess, sys

root, wanted = sys.argv[1], sys.argv[2:]
out = subprocess.run(
    ["dpkg-query", "-W", "-f",
     "${Package}\t${db:Status-Abbrev}\t${Pre-Depends}\t${Depends}\t${Provides}\n"],
    check=True, capture_output=True, text=True).stdout
installed, deps, provides = set(), {}, {}
for line in out.splitlines():
    name, status, pre, dep, prov = (line.split("\t") + [""] * 5)[:5]
    if not status.startswith("ii"):
        continue
    installed.add(name)
    deps[name] = ", ".join(x for x in (pre, dep) if x.strip())
    for p in prov.split(","):
        p = re.sub(r"\(.*?\)", "", p).strip()
        if p:
            provides.setdefault(p, []).append(name)

def resolve(alt):
    """First installed package that satisfies one alternative."""
    for a in alt.split("|"):
        n = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", a).strip().split(":")[0]
        if n in installed:
            return n
        for p in provides.get(n, []):
            return p
    return None

missing, seen, todo = [], set(), list(wanted)
for w in wanted:
    if w not in installed:
        missing.append(w)
while todo:
    p = todo.pop()
    if p in seen or p not in installed:
        continue
    seen.add(p)
    for alt in filter(None, (d.strip() for d in deps[p].split(","))):
        r = resolve(alt)
        if r is None:
            missing.append(f"{alt} (needed by {p})")
        elif r not in seen:
            todo.append(r)
if missing:
    sys.exit("stage-runtime.sh: not installed here: " + "; ".join(missing) +
             " (run scripts/install-deps.sh)")

files = subprocess.run(["dpkg-query", "-L", *sorted(seen)], check=True,
                       capture_output=True, text=True).stdout.splitlines()
n = 0
for f in files:
    if not f.startswith("/") or f.startswith("/."):
        continue
    dst = root + f
    if os.path.lexists(dst):
        continue
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(f):
        # Links stay links (merged-/usr's /lib -> usr/lib, libfoo.so.1 ->
        # libfoo.so.1.2.3), so paths resolve inside ROOT as in the image.
        t = os.readlink(f)
        os.symlink(t, dst)
        if os.path.isdir(f) and not t.startswith("/"):
            os.makedirs(os.path.join(os.path.dirname(dst), t), exist_ok=True)
    elif os.path.isdir(f):
        os.makedirs(dst, exist_ok=True)
        continue
    elif os.path.exists(f):
        os.symlink(f, dst)    # a regular file: this machine's copy
    else:
        continue              # a conffile the admin removed, a diversion...
    n += 1
# update-alternatives links (libblas.so.3, liblapack.so.3, ...): made by the
# packages' maintainer scripts, so dpkg -L does not list them.
staged = {f for f in files if f.startswith("/")}
adir = "/var/lib/dpkg/alternatives"
for name in sorted(os.listdir(adir)) if os.path.isdir(adir) else []:
    with open(os.path.join(adir, name)) as fh:
        lines = fh.read().split("\n")
    links = [(name, lines[1])] if len(lines) > 1 else []
    i = 2
    while i + 1 < len(lines) and lines[i]:
        links.append((lines[i], lines[i + 1]))
        i += 2
    for alt, link in links:
        a = "/etc/alternatives/" + alt
        if not os.path.islink(a) or os.readlink(a) not in staged:
            continue
        for path, target in ((a, os.readlink(a)), (link, a)):
            if not os.path.lexists(root + path):
                os.makedirs(os.path.dirname(root + path), exist_ok=True)
                os.symlink(target, root + path)
                n += 1
print(f"stage-runtime.sh: {len(seen)} packages, {n} files linked into {root}")
PY

sh "$here/docker/runtime-setup.sh" "$src" "$root"
echo "stage-runtime.sh: runtime layout staged in $root"
