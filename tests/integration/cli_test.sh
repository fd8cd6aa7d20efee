#!/usr/bin/env bash
#  cli_test - the troupe command: `config check` on good and bad files (exit
#  codes, FILE:LINE: key in the output), bad arguments (exit 2), help and
#  version, `run` of examples/config/node.zpl stopped by SIGTERM and by
#  SIGINT (exit 0, no process left, run directory removed), and a root
#  supervisor that gives up (exit 70)
#
#  Usage: cli_test.sh SOURCE_DIR BUILD_DIR      (ctest passes both)

set -uo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
    exit 2
fi
src_dir="$(cd "$1" && pwd)"
build_dir="$(cd "$2" && pwd)"
name="cli_test"
troupe="$build_dir/troupe"
example="$src_dir/examples/config/node.zpl"

fail () {
    echo "$name: FAIL: $*" >&2
    exit 1
}

[[ -x "$troupe" ]] || fail "no $troupe"
[[ -f "$build_dir/libtroupe_demo_actors.so" ]] || fail "no libtroupe_demo_actors.so in $build_dir"
export TROUPE_LOAD_PATH="$build_dir"

work="$(mktemp -d "${TMPDIR:-/tmp}/troupe-cli-test.XXXXXX")"
node_pid=""
cleanup () {
    if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2> /dev/null; then
        kill -KILL "$node_pid" 2> /dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

#  expect STATUS COMMAND...: run it (stdout in $work/out, stderr in
#  $work/err) and check its exit status.
expect () {
    local want="$1"
    shift
    "$@" > "$work/out" 2> "$work/err"
    local got=$?
    if [[ "$got" != "$want" ]]; then
        echo "--- stdout" >&2
        cat "$work/out" >&2
        echo "--- stderr" >&2
        cat "$work/err" >&2
        fail "'$*' exited $got, expected $want"
    fi
}

#  contains FILE TEXT: FILE has TEXT (fixed string).
contains () {
    grep -qF -- "$2" "$1" || {
        cat "$1" >&2
        fail "$(basename "$1") does not contain '$2'"
    }
}

#  --------------------------------------------------------------------------
#  config check

expect 0 "$troupe" config check "$example"
[[ "$(cat "$work/out")" == "ok" ]] || fail "config check of the example printed '$(cat "$work/out")'"

#  The module by path on the command line also works without the search path.
expect 0 env -u TROUPE_LOAD_PATH "$troupe" config check \
    --load "$build_dir/libtroupe_demo_actors.so" "$example"
expect 1 env -u TROUPE_LOAD_PATH "$troupe" config check "$example"
contains "$work/err" "$example:10: load: cannot load"

cat > "$work/unknown.zpl" << 'EOF'
load = "libtroupe_demo_actors.so"
supervisor
    actor = a
        behaviour = greeter
    actor = b
        behaviour = nobody
EOF
expect 1 "$troupe" config check "$work/unknown.zpl"
contains "$work/err" "$work/unknown.zpl:6: supervisor/actor/behaviour: no behaviour 'nobody' is registered"
[[ ! -s "$work/out" ]] || fail "a failed check printed on stdout"

cat > "$work/type.zpl" << 'EOF'
#   threads must be a number
node
    threads = "x"
EOF
expect 1 "$troupe" config check "$work/type.zpl"
contains "$work/err" "$work/type.zpl:3: node/threads: expected an integer from 0 to 126, got 'x'"

cat > "$work/route.zpl" << 'EOF'
load = "libtroupe_demo_actors.so"
supervisor
    service = s
        behaviour = echo
        route = echo
            replicas = -1
EOF
expect 1 "$troupe" config check "$work/route.zpl"
contains "$work/err" "$work/route.zpl:6: supervisor/service/route/replicas: expected an integer from 1 to 256"

printf 'node\n\tthreads = 2\n' > "$work/tab.zpl"
expect 1 "$troupe" config check "$work/tab.zpl"
contains "$work/err" "$work/tab.zpl:2: a tab"

expect 1 "$troupe" config check "$work/missing.zpl"
contains "$work/err" "$work/missing.zpl: cannot read the file: No such file or directory"

#  A bad config does not start either.
expect 1 "$troupe" run "$work/unknown.zpl"
contains "$work/err" "$work/unknown.zpl:6: supervisor/actor/behaviour:"

#  --------------------------------------------------------------------------
#  Arguments, help, version

for args in "" "bogus" "--bogus" "config" "config lint $example" "config check" \
    "config check $example extra" "run" "run $example extra" "run --bogus $example" \
    "run --load" "help bogus" "help run extra" "--version extra"; do
    # shellcheck disable=SC2086  # word splitting is the point
    expect 2 "$troupe" $args
    contains "$work/err" "usage: troupe"
done

expect 0 "$troupe" --help
contains "$work/out" "usage: troupe [--help] [--version] COMMAND"
expect 0 "$troupe" help
contains "$work/out" "config check"
expect 0 "$troupe" help run
contains "$work/out" "usage: troupe run [--load SO]... CONFIG"
expect 0 "$troupe" run --help
contains "$work/out" "usage: troupe run [--load SO]... CONFIG"
expect 0 "$troupe" help config
contains "$work/out" "usage: troupe config check"
expect 0 "$troupe" config check --help
contains "$work/out" "usage: troupe config check"
expect 0 "$troupe" --version
[[ "$(cat "$work/out")" =~ ^troupe\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$(cat "$work/out")'"

#  --------------------------------------------------------------------------
#  run, stopped by a signal

#  The pids of the live children of pid (zombies excluded).
children_of () {
    local pid="$1" stat
    for stat in /proc/[0-9]*/stat; do
        read -r -a fields 2> /dev/null < "$stat" || continue
        #  fields: pid (comm) state ppid; comm has no spaces here
        if [[ "${fields[3]}" == "$pid" && "${fields[2]}" != "Z" ]]; then
            echo "${fields[0]}"
        fi
    done
}

#  run_and_stop SIGNAL: start the example, wait until it runs, stop it with
#  SIGNAL, and check it exits 0 in time and leaves nothing behind.
run_and_stop () {
    local signal="$1" log="$work/run-$1.log"
    "$troupe" run "$example" > "$log" 2>&1 &
    node_pid=$!
    local waited=0
    until grep -q "node demo running (pid $node_pid)" "$log"; do
        kill -0 "$node_pid" 2> /dev/null || { cat "$log" >&2; fail "troupe run exited early"; }
        ((waited++ < 200)) || fail "troupe run did not say it runs within 20 s"
        sleep 0.1
    done
    #  It is up: its run directory and its zygote, with the pool's children.
    local run_dir
    run_dir="$(ls -d "/tmp/troupe-$(id -u)/node-$node_pid-"* 2> /dev/null | head -1)"
    [[ -n "$run_dir" && -d "$run_dir" ]] || fail "no run directory for pid $node_pid"
    local zygote family
    zygote="$(children_of "$node_pid" | head -1)"
    [[ -n "$zygote" ]] || fail "troupe run has no zygote"
    [[ "$(cat "/proc/$zygote/comm")" == "troupe-zygote" ]] || fail "child $zygote is not the zygote"
    waited=0
    until [[ "$(children_of "$zygote" | wc -l)" -ge 2 ]]; do
        ((waited++ < 200)) || fail "the pool's 2 children did not start within 20 s"
        sleep 0.1
    done
    family="$zygote $(children_of "$zygote" | tr '\n' ' ')"

    kill "-$signal" "$node_pid"
    waited=0
    while kill -0 "$node_pid" 2> /dev/null; do
        ((waited++ < 100)) || fail "troupe run did not exit within 10 s of SIG$signal"
        sleep 0.1
    done
    wait "$node_pid"
    local status=$?
    node_pid=""
    [[ "$status" == 0 ]] || { cat "$log" >&2; fail "troupe run exited $status after SIG$signal"; }
    contains "$log" "node demo stopped (SIG$signal)"
    local pid
    for pid in $family; do
        if [[ -e "/proc/$pid" ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2> /dev/null; then
            fail "process $pid ($(cat "/proc/$pid/comm" 2> /dev/null)) outlived troupe run"
        fi
    done
    [[ ! -e "$run_dir" ]] || fail "$run_dir left behind"
}

run_and_stop TERM
#  A non-interactive shell starts background jobs with SIGINT ignored, and
#  troupe leaves an ignored SIGINT ignored; job control (set -m) does not.
set -m
run_and_stop INT
set +m

#  --------------------------------------------------------------------------
#  run, until the root supervisor gives up: exit 70

cat > "$work/escalate.zpl" << 'EOF'
load = "libtroupe_demo_actors.so"
node
    no_processes = true
supervisor
    intensity = 1
    period_ms = 10000
    backoff_ms = 1
    actor = broken
        behaviour = counter
        arg = "not a number"        #   its init fails, every time
EOF
expect 70 timeout 20 "$troupe" run "$work/escalate.zpl"
contains "$work/err" "the root supervisor gave up (exit 70)"

echo "$name: PASS"
