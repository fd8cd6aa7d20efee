#!/usr/bin/env bash
#  test_npy2corpus - troupe-npy2corpus converts float32 2-D C-order .npy
#  files (format versions 1 and 2) into corpus files byte for byte, and
#  refuses everything else with exit status 1 (2 for usage, 3 for I/O)
#
#  bash tests/integration/test_npy2corpus.sh SOURCE_DIR BINARY_DIR
#  Needs Debian's python3 with numpy (/usr/bin/python3, python3-numpy): the
#  python3 first on PATH may be another build without it.
set -u
binary_dir="${2:?usage: test_npy2corpus.sh SOURCE_DIR BINARY_DIR}"
tool="$binary_dir/troupe-npy2corpus"
python=/usr/bin/python3
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

fail () {
    echo "test_npy2corpus: FAIL: $*" >&2
    failures=$((failures + 1))
}

[ -x "$tool" ] || { echo "test_npy2corpus: FAIL: no $tool" >&2; exit 1; }
"$python" -c 'import numpy' || { echo "test_npy2corpus: FAIL: $python has no numpy" >&2; exit 1; }

#  The inputs, good and bad.
"$python" - "$work" <<'EOF' || { echo "test_npy2corpus: FAIL: cannot write the inputs" >&2; exit 1; }
import sys, numpy as np
work = sys.argv[1]
rng = np.random.default_rng(5)
good = rng.standard_normal((1000, 48)).astype(np.float32)
np.save(f"{work}/good.npy", good)
with open(f"{work}/good_v2.npy", "wb") as f:
    np.lib.format.write_array(f, good[:7], version=(2, 0))
np.save(f"{work}/f64.npy", good.astype(np.float64))
np.save(f"{work}/big_endian.npy", good.astype(">f4"))
np.save(f"{work}/one_d.npy", good[0])
np.save(f"{work}/three_d.npy", good.reshape(10, 100, 48))
np.save(f"{work}/fortran.npy", np.asfortranarray(good))
np.save(f"{work}/empty.npy", np.zeros((0, 48), np.float32))
data = open(f"{work}/good.npy", "rb").read()
open(f"{work}/truncated.npy", "wb").write(data[:-10])
open(f"{work}/trailing.npy", "wb").write(data + b"xx")
open(f"{work}/not_npy.npy", "wb").write(b"hello, this is not a numpy file at all")
EOF

#  Good files: the header's fields and every float, compared in Python.
for name in good good_v2; do
    "$tool" "$work/$name.npy" "$work/$name.corpus"
    rc=$?
    [ "$rc" -eq 0 ] || { fail "$name.npy: exit $rc"; continue; }
    [ ! -e "$work/$name.corpus.tmp" ] || fail "$name: left its .tmp file"
    "$python" - "$work/$name.npy" "$work/$name.corpus" <<'EOF' || fail "$name: the corpus differs"
import struct, sys, numpy as np
matrix = np.load(sys.argv[1])
raw = open(sys.argv[2], "rb").read()
magic, version, dtype, rows, dim, flags, header_size = struct.unpack_from("<8sIIQIII", raw)
assert magic == b"TRCORPUS", magic
assert (version, dtype, flags, header_size) == (1, 1, 0, 64), (version, dtype, flags, header_size)
assert (rows, dim) == matrix.shape, (rows, dim, matrix.shape)
assert raw[36:64] == bytes(28), "reserved bytes are not zero"
assert len(raw) == 64 + rows * dim * 4
rows_back = np.frombuffer(raw, dtype="<f4", offset=64).reshape(rows, dim)
assert np.array_equal(rows_back, matrix), "rows differ"
EOF
done

#  Bad files: exit 1, a message that says why, no output left behind.
expect_reject () {
    local name="$1" why="$2"
    local out="$work/$name.corpus" err="$work/$name.err"
    "$tool" "$work/$name.npy" "$out" 2>"$err"
    local rc=$?
    [ "$rc" -eq 1 ] || fail "$name.npy: exit $rc, expected 1"
    grep -q -- "$why" "$err" || fail "$name.npy: message '$(cat "$err")' does not say '$why'"
    [ ! -e "$out" ] && [ ! -e "$out.tmp" ] || fail "$name.npy: left an output file"
}
expect_reject f64 "float32"
expect_reject big_endian "float32"
expect_reject one_d "not a 2-D matrix"
expect_reject three_d "not a 2-D matrix"
expect_reject fortran "Fortran order"
expect_reject empty "empty matrix"
expect_reject truncated "does not match its shape"
expect_reject trailing "does not match its shape"
expect_reject not_npy "not a .npy file"

#  Usage and I/O errors.
"$tool" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "no arguments: exit $rc, expected 2"
"$tool" "$work/missing.npy" "$work/out.corpus" 2>/dev/null
rc=$?
[ "$rc" -eq 3 ] || fail "a missing input: exit $rc, expected 3"
"$tool" "$work/good.npy" "$work/no/such/dir/out.corpus" 2>/dev/null
rc=$?
[ "$rc" -eq 3 ] || fail "an output in a missing folder: exit $rc, expected 3"

if [ "$failures" -ne 0 ]; then
    echo "test_npy2corpus: $failures failure(s)" >&2
    exit 1
fi
echo "test_npy2corpus: PASS"
