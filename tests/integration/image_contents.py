#!/usr/bin/env python3
"""integration.image: docker/Dockerfile's steps, run without Docker through
the same scripts, and the runtime root they produce checked.

1. docker/Dockerfile really uses the scripts run here (build stage:
   install-deps.sh, build.sh; runtime stage: install-deps.sh with
   AW_DEPS_RUNTIME_ONLY=1, docker/runtime-setup.sh), and .dockerignore lets
   every file it needs into the build context.
2. scripts/build.sh (Release, tests off, as the build stage) into a temporary
   DESTDIR; the build tree $AW_IMAGE_BUILD_DIR is kept between runs.
3. scripts/stage-runtime.sh: the runtime stage's files (the runtime packages
   of install-deps.sh and their dependencies, then runtime-setup.sh).
4. scripts/check-image.sh --root ... --smoke must pass: both binaries, every
   library resolved inside the root, the model, user airwave with uid 10001,
   no build tools, airwave-speechd starting from the root.
5. check-image.sh must fail on a root missing a library or holding a
   compiler, so step 4 means something.
"""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import awtest  # noqa: E402

SRC = awtest.source_dir()


def sh(argv, env=None, timeout=240):
    t0 = time.monotonic()
    p = subprocess.run(argv, cwd=SRC, capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})), timeout=timeout * awtest.timeout_mult())
    return p, time.monotonic() - t0


def main():
    c = awtest.Checks("container image contents (docker/Dockerfile's steps without Docker)")
    timings = []

    # 1. The Dockerfile uses these scripts, and the context lets them in.
    with open(os.path.join(SRC, "docker", "Dockerfile"), encoding="utf-8") as f:
        dockerfile = f.read()
    stages = re.split(r"(?m)^FROM\s+", dockerfile)[1:]
    c.equal(len(stages), 2, "Dockerfile: two stages (build, runtime)")
    if len(stages) == 2:
        build, runtime = stages
        c.check(re.search(r"scripts/install-deps\.sh", build) and "AW_DEPS_RUNTIME_ONLY" not in build,
                "build stage: scripts/install-deps.sh (runtime and build packages, a subset of what CI installs)")
        c.check(re.search(r"DESTDIR=/out\s+(sh\s+)?scripts/build\.sh", build), "build stage: scripts/build.sh into DESTDIR=/out")
        c.check(re.search(r"AW_DEPS_RUNTIME_ONLY=1 sh /tmp/install-deps\.sh", runtime),
                "runtime stage: install-deps.sh with AW_DEPS_RUNTIME_ONLY=1")
        c.check(re.search(r"runtime-setup\.sh /tmp/out /", runtime), "runtime stage: docker/runtime-setup.sh")
        c.check(re.search(r"(?m)^USER 10001:10001$", runtime) and runtime.startswith("${RUNTIME_IMAGE}"),
                "runtime stage: slim base, USER 10001:10001")
    with open(os.path.join(SRC, ".dockerignore"), encoding="utf-8") as f:
        allowed = [l[1:].strip().rstrip("/") for l in f if l.startswith("!")]
    used = set(re.findall(r"(?:COPY|source=)\s*((?:scripts|docker)/[\w.-]+|CMakeLists\.txt|include|src)\b", dockerfile))
    missing = sorted(u for u in used if u not in allowed)
    c.check(used and not missing, f".dockerignore lets in what the Dockerfile uses: {', '.join(sorted(used))}",
            f"missing: {missing}")

    # 2. The build stage's build.
    tmp = awtest.tmpdir()
    install, root = os.path.join(tmp, "install"), os.path.join(tmp, "root")
    build_dir = os.environ.get("AW_IMAGE_BUILD_DIR") or os.path.join(awtest.build_dir(), "image-build")
    p, dt = sh(["sh", "scripts/build.sh"], env={"BUILD_DIR": build_dir, "PREFIX": "/usr/local", "DESTDIR": install})
    timings.append(["scripts/build.sh", f"{dt:.1f} s"])
    c.check(p.returncode == 0, f"scripts/build.sh into DESTDIR ({dt:.1f} s, build tree {build_dir})",
            (p.stdout + p.stderr)[-3000:])
    cache = os.path.join(build_dir, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache, encoding="utf-8") as f:
            text = f.read()
        c.check("CMAKE_BUILD_TYPE:STRING=Release" in text and "AW_BUILD_TESTS:BOOL=OFF" in text
                and re.search(r"AW_SANITIZE:STRING=\s*$", text, re.M),
                "the image build is Release, without tests or sanitizers")
    for b in ("airwave", "airwave-speechd"):
        c.check(os.access(os.path.join(install, "usr/local/bin", b), os.X_OK), f"installed usr/local/bin/{b}")

    # 3. The runtime stage's layout.
    p, dt = sh(["sh", "scripts/stage-runtime.sh", install, root])
    timings.append(["scripts/stage-runtime.sh", f"{dt:.1f} s"])
    c.check(p.returncode == 0, f"scripts/stage-runtime.sh ({dt:.1f} s): {p.stdout.strip().splitlines()[0] if p.stdout.strip() else ''}",
            p.stdout + p.stderr)

    # 4. The checks.
    p, dt = sh(["sh", "scripts/check-image.sh", "--root", root, "--dockerfile", "docker/Dockerfile", "--smoke"])
    timings.append(["scripts/check-image.sh --smoke", f"{dt:.1f} s"])
    for line in p.stdout.splitlines():
        awtest.log("    | " + line)
    m = re.search(r"^(\d+) passed, (\d+) failed$", p.stdout, re.M)
    c.check(p.returncode == 0 and m and int(m.group(2)) == 0 and int(m.group(1)) >= 20,
            f"scripts/check-image.sh passes ({m.group(0) if m else 'no tally'}, {dt:.1f} s)", p.stderr)

    # 5. ... and fails when it should.
    libyaml = [os.path.join(d, f) for d in (os.path.join(root, "usr/lib/x86_64-linux-gnu"),)
               for f in os.listdir(d) if f.startswith("libyaml-0.so")] if os.path.isdir(root) else []
    for f in libyaml:
        os.unlink(f)
    os.makedirs(os.path.join(root, "usr/bin"), exist_ok=True)
    with open(os.path.join(root, "usr/bin/gcc"), "w") as f:
        f.write("#!/bin/sh\n")
    p, _ = sh(["sh", "scripts/check-image.sh", "--root", root])
    c.check(p.returncode == 1 and re.search(r"FAIL .*airwave: every shared library", p.stdout)
            and "libyaml-0.so.2" in p.stdout and re.search(r"FAIL .*build tools in the image: /usr/bin/gcc", p.stdout),
            "check-image.sh refuses a root without libyaml and with a gcc", p.stdout[-2000:])
    shutil.rmtree(root, ignore_errors=True)

    awtest.print_table(["step", "time"], timings, title="Steps:")
    c.finish()


if __name__ == "__main__":
    main()
