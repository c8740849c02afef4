#!/bin/bash
# bench/fuse_vs_moosefs.sh: the peer's bench.py on a cairn-fuse mount, then
# on the MooseFS mount (../shared/peers/moosefs), then bench/throughput
# against libcairn directly, one after the other on this machine. A report,
# never a test. Run as root (bench.py drops the page cache).
#   CAIRN_BUILD=build PEER=/work/shared/peers/moosefs bench/fuse_vs_moosefs.sh
# Knobs passed to bench.py (smaller than its defaults so the three runs fit
# in minutes): RUNS SIZE_MIB RAND_SECONDS RAND_JOBS META_N SMALL_N SMALL_KB.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CAIRN_BUILD:-$TOP/build}
PEER=${PEER:-/work/shared/peers/moosefs}
DIR=${BENCH_DIR:-/tmp/cairn-fuse-bench}
export RUNS=${RUNS:-1} SIZE_MIB=${SIZE_MIB:-512} RAND_SECONDS=${RAND_SECONDS:-5} \
  RAND_JOBS=${RAND_JOBS:-"1 8"} META_N=${META_N:-1000} SMALL_N=${SMALL_N:-300} \
  SMALL_KB=${SMALL_KB:-64} QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-5}
PORT=${PORT:-24000}
mkdir -p "$DIR/mnt"

echo "== cairn-fuse"
CAIRN_BUILD=$BUILD "$TOP/tools/cairn-cluster" up --dir "$DIR/cluster" --port "$PORT" >/dev/null
"$BUILD/bin/cairn-fuse" --meta "127.0.0.1:$PORT" "$DIR/mnt"
mkdir -p "$DIR/mnt/bench"
TARGET_DIR="$DIR/mnt/bench" LABEL="cairn-fuse" OUT_PREFIX="$DIR/cairn" \
  /usr/bin/python3 "$PEER/bench.py" || true
fusermount3 -u "$DIR/mnt"

echo "== libcairn (bench/throughput)"
"$BUILD/bench/throughput" --meta "127.0.0.1:$PORT" --size "${SIZE_MIB}M" \
  --rand-seconds "$RAND_SECONDS" --files "$SMALL_N" || true
CAIRN_BUILD=$BUILD "$TOP/tools/cairn-cluster" down --dir "$DIR/cluster" >/dev/null

echo "== MooseFS"
if ! command -v mfsmaster >/dev/null; then
  echo "MooseFS is not installed here (moosefs-master etc.): skipped"
  exit 0
fi
"$PEER/up.sh" >/dev/null
mkdir -p /tmp/mfspeer/mnt/bench
TARGET_DIR=/tmp/mfspeer/mnt/bench LABEL="MooseFS" OUT_PREFIX="$DIR/moosefs" \
  /usr/bin/python3 "$PEER/bench.py" || true
"$PEER/down.sh" >/dev/null || true
