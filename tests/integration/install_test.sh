#!/usr/bin/env bash
#  install_test - install the build into a temporary prefix, then build
#  examples/embed against it three ways (pkg-config + Makefile, CMake
#  package shared, CMake package static) and run each
#
#  Usage: install_test.sh SOURCE_DIR BUILD_DIR      (ctest passes both)

set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
    exit 2
fi
src_dir="$(cd "$1" && pwd)"
build_dir="$(cd "$2" && pwd)"
name="install_test"

fail () {
    echo "$name: FAIL: $*" >&2
    exit 1
}

cache="$build_dir/CMakeCache.txt"
[[ -f "$cache" ]] || fail "$build_dir is not a CMake build tree (no CMakeCache.txt)"

#  A sanitizer build's library needs the sanitizer runtime in every program
#  that links it; the installed package is meant for the normal build.
sanitize="$(sed -n 's/^TR_SANITIZE:[A-Z]*=//p' "$cache")"
if [[ -n "$sanitize" ]]; then
    echo "$name: skipped: sanitizer build ($sanitize)"
    exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/troupe-install-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

#  Run a step quietly; on failure show its output and stop.
step () {
    local what="$1"
    shift
    if ! "$@" > "$work/step.log" 2>&1; then
        cat "$work/step.log" >&2
        fail "$what"
    fi
}

step "cmake --install $build_dir --prefix $prefix" \
    cmake --install "$build_dir" --prefix "$prefix"

#  GNUInstallDirs picks lib/ or lib/<multiarch>/; find where troupe.pc went.
libdir=""
for candidate in "$prefix"/lib "$prefix"/lib64 "$prefix"/lib/*-linux-gnu; do
    if [[ -f "$candidate/pkgconfig/troupe.pc" ]]; then
        libdir="$candidate"
        break
    fi
done
[[ -n "$libdir" ]] || fail "no troupe.pc under $prefix/lib*"
[[ -f "$prefix/include/troupe.h" ]] || fail "troupe.h not installed in $prefix/include"
[[ -e "$libdir/libtroupe.so" ]] || fail "libtroupe.so not installed in $libdir"
[[ -f "$libdir/libtroupe.a" ]] || fail "libtroupe.a not installed in $libdir"
[[ -f "$libdir/cmake/troupe/troupeConfig.cmake" ]] || fail "CMake package not installed"

#  Run an embed binary and check its greeting.
check_embed () {
    local how="$1" binary="$2" output
    if ! output="$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$binary" troupe 2>&1)"; then
        echo "$output" >&2
        fail "$how: embed exited non-zero"
    fi
    [[ "$output" == *"hello, troupe"* ]] || {
        echo "$output" >&2
        fail "$how: embed did not print the greeting"
    }
    echo "$name: $how: ok"
}

#  (a) pkg-config and the example's Makefile, from a copy of the example.
cp -r "$src_dir/examples/embed" "$work/make"
rm -rf "$work/make/build" "$work/make/embed"
#  Not the outer make's flags (ctest may run under `make test`).
step "make embed with pkg-config" \
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL PKG_CONFIG_PATH="$libdir/pkgconfig" \
    make -C "$work/make"
check_embed "pkg-config + make" "$work/make/embed"

#  (b) the CMake package, shared library.
cp -r "$src_dir/examples/embed" "$work/cmake"
rm -rf "$work/cmake/build" "$work/cmake/embed"
step "cmake configure embed (shared)" \
    cmake -S "$work/cmake" -B "$work/cmake/build" -DCMAKE_PREFIX_PATH="$prefix"
step "cmake build embed (shared)" cmake --build "$work/cmake/build"
check_embed "find_package + troupe::troupe" "$work/cmake/build/embed"

#  (c) the CMake package, static library (how static users link on Debian).
step "cmake configure embed (static)" \
    cmake -S "$work/cmake" -B "$work/cmake/build-static" -DCMAKE_PREFIX_PATH="$prefix" \
    -DEMBED_STATIC=ON
step "cmake build embed (static)" cmake --build "$work/cmake/build-static"
if ldd "$work/cmake/build-static/embed" | grep -q 'libtroupe\.so'; then
    fail "static embed still links libtroupe.so"
fi
check_embed "find_package + troupe::troupe_static" "$work/cmake/build-static/embed"

echo "$name: PASS"
