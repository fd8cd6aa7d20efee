#!/usr/bin/env bash
#  deps.sh - install the Debian 12 packages that troupe needs, and only those
#  that are missing
#
#  Quiet and quick when everything is there (one dpkg-query per package).
#  Runs apt-get update + install only when something is missing. Works as
#  root; otherwise uses sudo when it is available.
#
#  Usage: scripts/deps.sh [--optional]
#    --optional   also install the optional packages (see OPTIONAL below)
#                 even when every required package is present. Optional
#                 packages are always tried when required ones are being
#                 installed anyway (a fresh machine gets everything); a
#                 failure to install one is a warning, not an error.
#  Environment: TR_DEPS_OPTIONAL=1 is the same as --optional.

set -euo pipefail

#  Needed to build, test and format-check troupe.
REQUIRED=(
    gcc
    libc6-dev
    make
    cmake
    pkg-config
    libzmq3-dev
    libczmq-dev
    libjemalloc-dev
    clang-format
    python3-zmq
    #  bench_kernels times the same top-k through numpy (/usr/bin/python3).
    python3-numpy
    #  troupe_io (actors/io/) and its integration tests, which start real
    #  servers: hiredis, libpq, redis-server, PostgreSQL 15.
    libhiredis-dev
    libpq-dev
    redis-server
    postgresql
)

#  Nothing optional at the moment (python3-zmq, used by the process actor
#  written in Python and its test, is required: a skipped test proves nothing).
OPTIONAL=()

want_optional="${TR_DEPS_OPTIONAL:-0}"
for arg in "$@"; do
    case "$arg" in
        --optional) want_optional=1 ;;
        -h | --help)
            sed -n '2,/^$/s/^# \{0,2\}//p' "$0"
            exit 0
            ;;
        *)
            echo "deps.sh: unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

if ! command -v dpkg-query > /dev/null 2>&1 || ! command -v apt-get > /dev/null 2>&1; then
    echo "deps.sh: this script needs dpkg-query and apt-get (Debian 12);" >&2
    echo "deps.sh: install by hand: ${REQUIRED[*]}" >&2
    exit 1
fi

#  True when package is fully installed (not just unpacked or config-files).
is_installed () {
    local status
    status="$(dpkg-query -W -f='${Status}' "$1" 2> /dev/null || true)"
    [[ "$status" == "install ok installed" ]]
}

missing_required=()
for package in "${REQUIRED[@]}"; do
    is_installed "$package" || missing_required+=("$package")
done
missing_optional=()
for package in "${OPTIONAL[@]}"; do
    is_installed "$package" || missing_optional+=("$package")
done

#  Optional packages ride along only when we install anyway, or on request.
if [[ ${#missing_required[@]} -eq 0 && "$want_optional" != 1 ]]; then
    missing_optional=()
fi
if [[ ${#missing_required[@]} -eq 0 && ${#missing_optional[@]} -eq 0 ]]; then
    exit 0
fi

to_install=("${missing_required[@]}" "${missing_optional[@]}")

#  Root runs apt-get directly; anyone else goes through sudo (non-interactive
#  when there is no terminal, so CI fails fast instead of hanging).
if [[ "$(id -u)" -eq 0 ]]; then
    as_root=(env)
elif command -v sudo > /dev/null 2>&1; then
    if [[ -t 0 ]]; then
        as_root=(sudo)
    else
        as_root=(sudo -n)
    fi
else
    echo "deps.sh: not root and no sudo; as root, run:" >&2
    echo "  apt-get install --no-install-recommends ${to_install[*]}" >&2
    exit 1
fi

apt=("${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0)

echo "deps.sh: installing: ${to_install[*]}"
"${apt[@]}" update
if [[ ${#missing_required[@]} -gt 0 ]]; then
    "${apt[@]}" install --no-install-recommends "${missing_required[@]}"
fi
#  One at a time, so one unavailable optional package does not block others.
for package in "${missing_optional[@]}"; do
    if ! "${apt[@]}" install --no-install-recommends "$package"; then
        echo "deps.sh: warning: could not install optional package $package" >&2
    fi
done

#  Prove it: every required package must now be installed.
still_missing=()
for package in "${REQUIRED[@]}"; do
    is_installed "$package" || still_missing+=("$package")
done
if [[ ${#still_missing[@]} -gt 0 ]]; then
    echo "deps.sh: still missing after apt-get: ${still_missing[*]}" >&2
    exit 1
fi
echo "deps.sh: done"
