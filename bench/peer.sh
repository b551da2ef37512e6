#!/usr/bin/env bash
# Steward next to PostGraphile (JWT + row-level security) and the pgbench ceiling, in one run of the shared peer
# benchmark (../shared/peer-bench). That harness is read-only here, so it is copied to a scratch folder with Steward's
# system file added to its systems/; its own setup.sh makes the throwaway PostgreSQL cluster (127.0.0.1:55433, data in
# /tmp/peer), installs PostGraphile from npm and wrk from Debian. The results table is written to bench/ too.
#
#   bash bench/peer.sh                      # all rows: postgraphile, postgraphile-2w, steward, pgbench; 16 and 64 conns
#   SYSTEMS="steward" SKIP_PGBENCH=1 bash bench/peer.sh
#   WORKLOAD=writes bash bench/peer.sh      # creates side by side instead (bench/peer/writes.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
SRC=${PEER_BENCH:-$REPO/../shared/peer-bench}
[ -d "$SRC" ] || { echo "no peer benchmark at $SRC (set PEER_BENCH)" >&2; exit 1; }
cargo build --release --quiet -p steward
HARNESS=${PEER_COPY:-/tmp/steward-peer-bench}
rm -rf "$HARNESS"
cp -r "$SRC" "$HARNESS"
chmod -R u+w "$HARNESS"
cp "$REPO/bench/peer/20-steward.sh" "$HARNESS/systems/20-steward.sh"
export STEWARD_REPO=$REPO
# The harness runs Postgres as the OS user `postgres`, which must be able to read its own files.
bash "$HARNESS/setup.sh"
if [ "${WORKLOAD:-reads}" = writes ]; then
  PEER_RESULTS="$REPO/bench" bash "$REPO/bench/peer/writes.sh" "$HARNESS"
else
  PEER_RESULTS="$REPO/bench" bash "$HARNESS/run.sh"
fi
