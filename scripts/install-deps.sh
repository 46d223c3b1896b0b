#!/bin/sh
# Install every Debian 12 and npm dependency airwave needs to build, test and
# benchmark, on a fresh machine as root (or through sudo). Idempotent.
#
#   scripts/install-deps.sh                          build + test dependencies
#   AW_DEPS_BUILD_ONLY=1 scripts/install-deps.sh     runtime + build (images)
#   AW_DEPS_RUNTIME_ONLY=1 scripts/install-deps.sh   runtime libraries only
set -eu

export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

runtime="libavformat59 libavcodec59 libswresample4 libavutil57 libportaudio2
libwebsockets17 libssl3 librdkafka1 libpocketsphinx3 libsphinxbase3 pocketsphinx-en-us
libyaml-0-2 libjansson4 ca-certificates"

build="pkg-config cmake make gcc clang libclang-rt-14-dev
portaudio19-dev libavformat-dev libavcodec-dev libswresample-dev libavutil-dev
libwebsockets-dev libssl-dev librdkafka-dev libpocketsphinx-dev libsphinxbase-dev
pocketsphinx-en-us libyaml-dev libjansson-dev libcmocka-dev"

tools="ffmpeg sox flite pocketsphinx kcat python3 curl icecast2 openssl
libasound2-plugins alsa-utils pulseaudio pulseaudio-utils valgrind procps time
golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev"

if [ "${AW_DEPS_RUNTIME_ONLY:-0}" = 1 ]; then
    pkgs=$runtime
elif [ "${AW_DEPS_BUILD_ONLY:-0}" = 1 ]; then
    pkgs="$runtime $build"
else
    pkgs="$runtime $build $tools"
fi

missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi

if [ "${AW_DEPS_RUNTIME_ONLY:-0}" = 1 ] || [ "${AW_DEPS_BUILD_ONLY:-0}" = 1 ]; then
    exit 0
fi

# Node test clients (the official Azure Speech SDK, Kubernetes schemas): their
# lock files are committed; node_modules stays out of the tree.
here=$(cd "$(dirname "$0")/.." && pwd)
for d in tests/tools/sdk tests/tools/k8s; do
    if [ -f "$here/$d/package-lock.json" ] && [ ! -d "$here/$d/node_modules" ]; then
        npm ci --prefix "$here/$d" --no-audit --no-fund
    fi
done
