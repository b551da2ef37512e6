#!/usr/bin/env bash
# Load benchmark of Steward's hot read: a client user's first 20 data subjects with email and name (decrypted), on
# SQLite and on PostgreSQL, at 16 and 64 connections, with wrk on loopback. Prints a markdown table and writes it to
# bench/results-<UTC time>.md. Knobs: BACKENDS="sqlite postgres", CONCURRENCY="16 64", DURATION=20s, WARMUP=5s,
# SUBJECTS=2000, BIN, PG_URL (admin URL of a PostgreSQL server; the script creates and drops its own databases).
# PERF=dir records a call-graph profile of the server (perf, DWARF unwinding) during every measured row.
# MIXED=1 adds, after each read row, a mixed row: the same readers while WRITERS more connections (default c/8, at
# least 2) create data subjects (bench/write.lua) in the same tenant; the row gives the readers' rate and latency and
# the writes' rate and share of all requests.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-"sqlite postgres"}
CONCURRENCY=${CONCURRENCY:-"16 64"}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
SUBJECTS=${SUBJECTS:-2000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-18180}
SECRET=bench-secret-bench-secret-bench-secret-01
MASTER=$(printf 'b%.0s' $(seq 64))

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
# BIN=path/to/steward measures a build made elsewhere (e.g. to compare two commits); by default this tree's release build.
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=target/release/steward; fi
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  for db in control eu us eu_keys us_keys; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_bench_$db WITH (FORCE)" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

export STEWARD_JWT_HS256_SECRET=$SECRET STEWARD_MASTER_KEY=$MASTER STEWARD_BOOTSTRAP_ADMIN=bench-root
# One tenant takes all the load here: its rate limit is lifted (bench/peer.sh keeps the default on).
export STEWARD_LISTEN=127.0.0.1:$PORT STEWARD_LOG=warn STEWARD_RATE_LIMIT_PER_SEC=0
ROWS=()
for backend in $BACKENDS; do
  export STEWARD_DATA_DIR=$WORK/$backend
  unset STEWARD_DATABASE_URL STEWARD_REGIONS STEWARD_KEY_DATABASES
  if [ "$backend" = postgres ]; then
    base=${PG_URL%/*}
    for db in control eu us eu_keys us_keys; do
      psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_bench_$db WITH (FORCE)"
      psql "$PG_URL" -qc "CREATE DATABASE steward_bench_$db"
    done
    # Loopback: no TLS (PostgreSQL's default `sslmode=prefer` would encrypt every round trip to a local server).
    export STEWARD_DATABASE_URL="$base/steward_bench_control?sslmode=disable"
    export STEWARD_REGIONS="eu=$base/steward_bench_eu?sslmode=disable,us=$base/steward_bench_us?sslmode=disable"
    export STEWARD_KEY_DATABASES="eu=$base/steward_bench_eu_keys?sslmode=disable,us=$base/steward_bench_us_keys?sslmode=disable"
  fi
  "$BIN" serve > "$WORK/server-$backend.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  root=$("$BIN" token --sub bench-root --kind staff --ttl 2h)
  echo "[$backend] seeding $SUBJECTS subjects"
  tenant=$(python3 bench/seed.py tenant "http://127.0.0.1:$PORT/graphql" "$root")
  export BENCH_TOKEN=$("$BIN" token --sub bench-admin --kind client --tenant "$tenant" --ttl 2h)
  python3 bench/seed.py subjects "http://127.0.0.1:$PORT/graphql" "$BENCH_TOKEN" "$SUBJECTS"
  if [ "$backend" = postgres ]; then
    # What autovacuum does within a minute of the inserts: without statistics the planner walks the tenant's whole
    # key for the page's records, which halves throughput and measures nothing a running server would see.
    for db in control eu us eu_keys us_keys; do psql "${PG_URL%/*}/steward_bench_$db" -qc ANALYZE; done
  fi
  for c in $CONCURRENCY; do
    wrk -t2 -c"$c" -d"$WARMUP" -s bench/query.lua "http://127.0.0.1:$PORT/graphql" >/dev/null
    if [ -n "${PERF:-}" ]; then
      # PERF=dir: a call-graph profile of the server during this row (bench/README.md, "Where the time goes").
      mkdir -p "$PERF"
      perf record -q -F 299 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$PERF/$backend-c$c.data" -- sleep "${DURATION%s}" 2>/dev/null &
      PERF_PID=$!
    fi
    result=$(wrk -t2 -c"$c" -d"$DURATION" --timeout 10s -s bench/query.lua "http://127.0.0.1:$PORT/graphql" | grep '^RESULT')
    [ -n "${PERF:-}" ] && wait "$PERF_PID"
    rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER_PID/status")
    echo "[$backend c=$c] $result peak_rss_mib=$rss"
    rps=$(sed -E 's/.* rps=([0-9]+).*/\1/' <<<"$result")
    p50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$result")
    p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$result")
    bad=$(sed -E 's/.* bad=([0-9]+).*/\1/' <<<"$result")
    ROWS+=("| Steward ($backend) | $c | $rps | $p50 | $p99 | $bad | $rss |")
    if [ -n "${MIXED:-}" ]; then
      writers=${WRITERS:-$(( c / 8 > 2 ? c / 8 : 2 ))}
      BENCH_TOKENS=$BENCH_TOKEN wrk -t1 -c"$writers" -d"$DURATION" --timeout 10s -s bench/write.lua \
        "http://127.0.0.1:$PORT/graphql" > "$WORK/writes.out" &
      WRITES_PID=$!
      result=$(wrk -t2 -c"$c" -d"$DURATION" --timeout 10s -s bench/query.lua "http://127.0.0.1:$PORT/graphql" | grep '^RESULT')
      wait "$WRITES_PID"
      writes=$(grep '^RESULT' "$WORK/writes.out")
      rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER_PID/status")
      echo "[$backend c=$c mixed, $writers writers] reads: $result writes: $writes peak_rss_mib=$rss"
      rps=$(sed -E 's/.* rps=([0-9]+).*/\1/' <<<"$result")
      p50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$result")
      p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$result")
      bad=$(( $(sed -E 's/.* bad=([0-9]+).*/\1/' <<<"$result") + $(sed -E 's/.* bad=([0-9]+).*/\1/' <<<"$writes") ))
      wrps=$(sed -E 's/.* rps=([0-9]+).*/\1/' <<<"$writes")
      wp99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$writes")
      share=$(awk -v r="$rps" -v w="$wrps" 'BEGIN{printf "%.0f", 100 * w / (r + w)}')
      ROWS+=("| Steward ($backend), mixed: reads + $writers writers ($share% writes: $wrps/s, p99 $wp99 ms) | $c | $rps | $p50 | $p99 | $bad | $rss |")
    fi
  done
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
done

out="bench/results-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "Steward $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $SUBJECTS subjects, wrk -t2 $DURATION after $WARMUP warm-up"
  echo
  echo "| system | connections | read req/s | p50 ms | p99 ms | bad responses | peak RSS MiB |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
} | tee "$out"
