#!/bin/sh
# Configure, build and install airwave and airwave-speechd: the build stage of
# docker/Dockerfile runs this, and so does the test suite (integration.image),
# so CI proves the image's build steps.
#
#   scripts/build.sh
#
# Environment (all optional):
#   BUILD_DIR         build tree (default build-release). An existing tree is
#                     built incrementally and keeps its configuration unless
#                     CMAKE_BUILD_TYPE or AW_BUILD_TESTS is given.
#   CMAKE_BUILD_TYPE  Release for a new tree (default)
#   AW_BUILD_TESTS    ON/OFF; a new tree defaults to OFF (no test deps needed)
#   PREFIX            installation prefix (default /usr/local); applied at
#                     install time, so it never reconfigures the tree
#   DESTDIR           staging root for the install (default: none, i.e. /)
#   AW_STRIP          1 (default): install stripped binaries; 0: keep symbols
#   AW_JOBS           parallel build jobs (default: CPUs)
#   AW_WERROR         ON (default) / OFF, as scripts/test.sh builds
set -eu
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-release}
prefix=${PREFIX:-/usr/local}
jobs=${AW_JOBS:-$(nproc)}

set -- -S . -B "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    set -- "$@" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" \
        -DAW_BUILD_TESTS="${AW_BUILD_TESTS:-OFF}" -DAW_WERROR="${AW_WERROR:-ON}"
else
    [ -z "${CMAKE_BUILD_TYPE:-}" ] || set -- "$@" -DCMAKE_BUILD_TYPE="$CMAKE_BUILD_TYPE"
    [ -z "${AW_BUILD_TESTS:-}" ] || set -- "$@" -DAW_BUILD_TESTS="$AW_BUILD_TESTS"
    [ -z "${AW_WERROR:-}" ] || set -- "$@" -DAW_WERROR="$AW_WERROR"
fi
echo "build.sh: configure $build" >&2
cmake "$@"

echo "build.sh: build airwave airwave-speechd in $build ($jobs jobs)" >&2
cmake --build "$build" -j"$jobs" --target airwave airwave-speechd

set -- --install "$build" --prefix "$prefix"
[ "${AW_STRIP:-1}" = 0 ] || set -- "$@" --strip
echo "build.sh: install to ${DESTDIR:-}$prefix" >&2
if [ -n "${DESTDIR:-}" ]; then
    DESTDIR=$DESTDIR cmake "$@"
else
    cmake "$@"
fi
