#!/bin/sh
# Install dependencies, build warning-free, run the whole test suite.
#
#   scripts/test.sh [ctest args...]
#
# Environment:
#   AW_SANITIZE=address,undefined   build with sanitizers (as CI does)
#   AW_BUILD_DIR=DIR                build directory (default build, or
#                                   build-<sanitizers> with AW_SANITIZE)
#   AW_JOBS=N                       parallel build and test jobs (default: CPUs)
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh

san=${AW_SANITIZE:-}
if [ -n "$san" ]; then
    build=${AW_BUILD_DIR:-build-$(echo "$san" | tr ',' '-')}
else
    build=${AW_BUILD_DIR:-build}
fi
jobs=${AW_JOBS:-$(nproc)}

cmake -S . -B "$build" -DAW_WERROR=ON -DAW_SANITIZE="$san"
cmake --build "$build" -j"$jobs"
cd "$build"
exec ctest --output-on-failure --timeout 900 -j"$jobs" "$@"
