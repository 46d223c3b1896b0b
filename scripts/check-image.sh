#!/bin/sh
# ok() never fails, so "test && ok || bad" is an if-then-else here.
# shellcheck disable=SC2015
# Check the contents of airwave's runtime image: both binaries, every shared
# library they need resolved inside the image, the PocketSphinx model, an
# unprivileged user with a fixed uid, and no build tools.
#
#   scripts/check-image.sh --root DIR [--dockerfile FILE] [--smoke]
#   scripts/check-image.sh --image NAME [--smoke]      (needs a Docker engine)
#
# --root DIR     a root filesystem: scripts/stage-runtime.sh's directory, or an
#                exported image (docker export $(docker create IMG) | tar -x -C DIR)
# --image NAME   export NAME to a temporary directory, check it as --root, and
#                read the image's USER from `docker image inspect`
# --dockerfile F check that the last stage of F runs as the user found in the
#                root (with --root; default docker/Dockerfile when it exists)
# --smoke        also run airwave-speechd from the root, with the root's own
#                libraries and model, until it listens on 127.0.0.1
#
# Prints one line per check and "N passed, N failed"; exits 1 on any failure.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)

AW_UID=10001
AW_USER=airwave
MODEL=/usr/share/pocketsphinx/model/en-us
BINARIES="airwave airwave-speechd"

root='' image='' dockerfile='' smoke=0
while [ $# -gt 0 ]; do
    case $1 in
    --root) root=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --dockerfile) dockerfile=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    -h|--help) sed -n '4,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-image.sh: unknown argument $1 (try --help)" >&2; exit 64 ;;
    esac
done
[ -n "$root$image" ] || { echo "check-image.sh: give --root DIR or --image NAME" >&2; exit 64; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
image_user=
if [ -n "$image" ]; then
    cid=$(docker create "$image")
    mkdir "$tmp/root"
    docker export "$cid" | tar -x -C "$tmp/root" --exclude='dev/*'
    docker rm "$cid" > /dev/null
    image_user=$(docker image inspect -f '{{.Config.User}}' "$image")
    root=$tmp/root
fi
root=$(cd "$root" && pwd)
[ -n "$dockerfile" ] || [ -n "$image" ] || [ ! -f "$here/docker/Dockerfile" ] ||
    dockerfile=$here/docker/Dockerfile

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }
check() { # check "what" command...
    what=$1; shift
    if "$@" > "$tmp/out" 2>&1; then ok "$what"; last_ok=1
    else bad "$what"; sed 's/^/        /' "$tmp/out" | head -20; last_ok=0; fi
}

echo "=== runtime image contents: $root"

# --- binaries and their libraries ------------------------------------------
# The root's own loader search path: the Debian multiarch directories plus
# whatever its /etc/ld.so.conf.d adds, all inside the root.
libpath=
for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib /usr/lib /usr/local/lib \
         $(cat "$root"/etc/ld.so.conf.d/*.conf 2>/dev/null | grep '^/' || true); do
    [ -d "$root$d" ] && libpath=$libpath${libpath:+:}$root$d
done
loader=/lib64/ld-linux-x86-64.so.2
[ -e "$root$loader" ] && ok "dynamic loader $loader present" || bad "dynamic loader $loader missing"

# ld.so --list with the root's directories first and no cache: a library that
# is missing from the root either shows as "not found" or resolves to a path
# outside the root; both are failures.
libs_resolve() {
    out=$("$loader" --inhibit-cache --library-path "$libpath" --list "$1" 2>&1) || {
        echo "$out"; return 1; }
    wrong=$(echo "$out" | awk -v r="$root/" '
        /not found/ { print; next }
        /=>/ { p = $3; if (p != "" && index(p, r) != 1) print }')
    n=$(echo "$out" | grep -c '=>' || true)
    [ -z "$wrong" ] || { echo "resolved outside the image or not at all:"; echo "$wrong"; return 1; }
    echo "$n libraries"
}
run_in_root() { # run a binary of the root with the root's libraries
    "$loader" --inhibit-cache --library-path "$libpath" "$@"
}
for b in $BINARIES; do
    p=$root/usr/local/bin/$b
    if [ ! -f "$p" ] || [ ! -x "$p" ]; then
        bad "/usr/local/bin/$b: missing or not executable"
        continue
    fi
    ok "/usr/local/bin/$b present ($(wc -c < "$p") bytes)"
    check "/usr/local/bin/$b: every shared library resolves inside the image" libs_resolve "$p"
    [ "$last_ok" = 0 ] || tail -1 "$tmp/out" | sed 's/^/        /'
    check "/usr/local/bin/$b: no RPATH/RUNPATH into a build tree" \
        sh -c "! (readelf -d '$p' 2>/dev/null || true) | grep -E 'RPATH|RUNPATH'"
    check "/usr/local/bin/$b --version exits 0 (the image's libraries)" run_in_root "$p" --version
    check "/usr/local/bin/$b --help exits 0" run_in_root "$p" --help
done

# --- model -----------------------------------------------------------------
for f in en-us/mdef en-us/means en-us/variances en-us/transition_matrices \
         en-us/feat.params en-us/noisedict en-us.lm.bin cmudict-en-us.dict; do
    [ -s "$root$MODEL/$f" ] && ok "model $MODEL/$f" || bad "model $MODEL/$f missing or empty"
done
if [ -f "$root/usr/local/bin/airwave-speechd" ]; then
    check "airwave-speechd's built-in --model-dir is $MODEL" \
        grep -q -a -F "$MODEL" "$root/usr/local/bin/airwave-speechd"
fi

# --- user ------------------------------------------------------------------
line=$(grep "^$AW_USER:" "$root/etc/passwd" 2>/dev/null || true)
uid=$(echo "$line" | cut -d: -f3)
gid=$(echo "$line" | cut -d: -f4)
shell=$(echo "$line" | cut -d: -f7)
[ "$uid" = "$AW_UID" ] && ok "user $AW_USER has uid $AW_UID" || bad "user $AW_USER: uid '${uid}' (want $AW_UID): '$line'"
[ -n "$gid" ] && grep -q "^[^:]*:[^:]*:$gid:" "$root/etc/group" &&
    ok "group $gid exists" || bad "group '$gid' of $AW_USER missing from /etc/group"
case $shell in
*/nologin|*/false) ok "user $AW_USER has no login shell ($shell)" ;;
*) bad "user $AW_USER has a login shell: '$shell'" ;;
esac
if [ -n "$image" ]; then
    case $image_user in
    "$AW_UID"|"$AW_UID:"*) ok "image USER is $image_user" ;;
    *) bad "image USER is '$image_user', want $AW_UID (numeric, for runAsNonRoot)" ;;
    esac
elif [ -n "$dockerfile" ]; then
    # The USER of the last stage (the image that ships).
    u=$(awk 'toupper($1) == "FROM" { u = "" } toupper($1) == "USER" { u = $2 } END { print u }' "$dockerfile")
    case $u in
    "$AW_UID"|"$AW_UID:"*) ok "$(basename "$dockerfile"): last stage runs as USER $u" ;;
    *) bad "$(basename "$dockerfile"): last stage USER is '$u', want $AW_UID (numeric)" ;;
    esac
fi

# --- nothing else of note ----------------------------------------------------
found=
for t in cc gcc c++ g++ clang cpp ld as make cmake ninja go pkg-config \
         gcc-12 clang-14 x86_64-linux-gnu-gcc npm node; do
    for d in /usr/bin /usr/local/bin /bin; do
        [ "$d" != /bin ] || [ ! -L "$root/bin" ] || continue   # merged /usr
        [ ! -e "$root$d/$t" ] || found="$found $d/$t"
    done
done
[ -z "$found" ] && ok "no compilers or build tools" || bad "build tools in the image:$found"
hdrs=$(find "$root/usr/include" "$root/usr/local/include" -name '*.h' 2>/dev/null | head -3)
[ -z "$hdrs" ] && ok "no C headers (no -dev packages)" || bad "headers in the image: $hdrs ..."
if [ -f "$root/var/lib/dpkg/status" ]; then
    dev=$(awk '/^Package: .*-dev$/ { print $2 }' "$root/var/lib/dpkg/status" | tr '\n' ' ')
    [ -z "$dev" ] && ok "no -dev packages installed" || bad "-dev packages installed: $dev"
fi
leftovers=
for d in /src /build /out /usr/local/src/airwave; do
    [ -e "$root$d" ] && leftovers="$leftovers $d"
done
[ -z "$leftovers" ] && ok "no source or build trees" || bad "build leftovers:$leftovers"
extra=
for f in "$root"/usr/local/bin/*; do
    case ${f##*/} in airwave|airwave-speechd|\*) ;; *) extra="$extra ${f##*/}" ;; esac
done
[ -z "$extra" ] && ok "/usr/local/bin holds only the two binaries" || bad "/usr/local/bin also holds:$extra"

# --- smoke: speechd loads the model and listens --------------------------------
if [ "$smoke" = 1 ] && [ -f "$root/usr/local/bin/airwave-speechd" ]; then
    speechd_smoke() {
        # The loader itself, not the run_in_root function: $! must be speechd.
        "$loader" --inhibit-cache --library-path "$libpath" \
            "$root/usr/local/bin/airwave-speechd" --listen 127.0.0.1:0 \
            --port-file "$tmp/port" --workers 1 --model-dir "$root$MODEL" \
            > "$tmp/speechd.log" 2>&1 &
        pid=$!
        i=0
        while [ ! -s "$tmp/port" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do
            sleep 0.1; i=$((i + 1))
        done
        port=$(cat "$tmp/port" 2>/dev/null || true)
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null && rc=0 || rc=$?
        [ -n "$port" ] || { echo "airwave-speechd did not listen (exit $rc):"; tail -20 "$tmp/speechd.log"; return 1; }
        [ "$rc" = 0 ] || { echo "listened on $port, but exited $rc after SIGTERM:"; tail -20 "$tmp/speechd.log"; return 1; }
        echo "listened on 127.0.0.1:$port after $((i / 10)).$((i % 10)) s; exit 0 on SIGTERM"
    }
    check "airwave-speechd starts with the image's libraries and model, listens, stops on SIGTERM" speechd_smoke
    [ "$last_ok" = 0 ] || sed 's/^/        /' "$tmp/out"
fi

echo "=== runtime image: $passed checks passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
