#!/usr/bin/env bash
# The audit chain's cost: (1) the write path — wrk creating data subjects (two sealed values each, one audit event) at
# 16 connections spread over 10 tenants; (2) verifying one tenant chain of 1,000,000 events with `steward audit verify`.
# (No build without the audit append exists any more: a switch that turns the trail off is not one we ship.)
# Prints a markdown table and writes it to bench/audit-results-<UTC time>.md.
# Knobs: BACKENDS="sqlite postgres", CONNECTIONS=16, TENANTS=10, DURATION=20s, WARMUP=5s, EVENTS=1000000, PG_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-"sqlite postgres"}
CONNECTIONS=${CONNECTIONS:-16}
TENANTS=${TENANTS:-10}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
EVENTS=${EVENTS:-1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-18181}
SECRET=bench-secret-bench-secret-bench-secret-01
MASTER=$(printf 'c%.0s' $(seq 64))

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
WORK=$(mktemp -d)
echo "building the release server"
cargo build --release --quiet -p steward --bin steward --example audit_fill
cp target/release/steward "$WORK/steward-audit"
cp target/release/examples/audit_fill "$WORK/audit_fill"

SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  for db in control eu us eu_keys us_keys; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_abench_$db WITH (FORCE)" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

export STEWARD_JWT_HS256_SECRET=$SECRET STEWARD_MASTER_KEY=$MASTER STEWARD_BOOTSTRAP_ADMIN=bench-root
export STEWARD_LISTEN=127.0.0.1:$PORT STEWARD_LOG=warn
ROWS=()
VERIFY=()
for backend in $BACKENDS; do
  for variant in audit; do
    BIN=$WORK/steward-$variant
    export STEWARD_DATA_DIR=$WORK/$backend-$variant
    unset STEWARD_DATABASE_URL STEWARD_REGIONS STEWARD_KEY_DATABASES
    if [ "$backend" = postgres ]; then
      base=${PG_URL%/*}
      for db in control eu us eu_keys us_keys; do
        psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_abench_$db WITH (FORCE)"
        psql "$PG_URL" -qc "CREATE DATABASE steward_abench_$db"
      done
      export STEWARD_DATABASE_URL=$base/steward_abench_control
      export STEWARD_REGIONS="eu=$base/steward_abench_eu,us=$base/steward_abench_us"
      export STEWARD_KEY_DATABASES="eu=$base/steward_abench_eu_keys,us=$base/steward_abench_us_keys"
    fi
    "$BIN" serve > "$WORK/server-$backend-$variant.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
    root=$("$BIN" token --sub bench-root --kind staff --ttl 2h)
    mapfile -t tenants < <(python3 bench/seed.py tenants "http://127.0.0.1:$PORT/graphql" "$root" "$TENANTS")
    tokens=()
    for i in "${!tenants[@]}"; do
      tokens+=("$("$BIN" token --sub "write-admin-$i" --kind client --tenant "${tenants[$i]}" --ttl 2h)")
    done
    export BENCH_TOKENS=$(IFS=,; echo "${tokens[*]}")
    wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" -s bench/write.lua "http://127.0.0.1:$PORT/graphql" >/dev/null
    result=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/write.lua "http://127.0.0.1:$PORT/graphql" | grep '^RESULT')
    echo "[$backend $variant] $result"
    rps=$(sed -E 's/.* rps=([0-9]+).*/\1/' <<<"$result")
    p50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$result")
    p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$result")
    bad=$(sed -E 's/.* bad=([0-9]+).*/\1/' <<<"$result")
    label="with audit append"
    ROWS+=("| $backend | $label | $CONNECTIONS × $TENANTS tenants | $rps | $p50 | $p99 | $bad |")
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

    if [ "$variant" = audit ]; then
      # A long chain: the first tenant's chain grows to EVENTS events, then is verified from the command line.
      if [ "$backend" = postgres ]; then
        url=$base/steward_abench_eu
      else
        url="sqlite://$STEWARD_DATA_DIR/region-eu.db?mode=rwc"
      fi
      have=$("$BIN" audit verify --tenant "${tenants[0]}" 2>&1 | grep -oE '[0-9]+ events' | grep -oE '[0-9]+' || echo 0)
      echo "[$backend] filling tenant ${tenants[0]} from $have to $EVENTS events"
      fill=$("$WORK/audit_fill" "$url" "${tenants[0]}" $((EVENTS - have)))
      echo "[$backend] $fill"
      start=$(date +%s.%N)
      out=$("$BIN" audit verify --tenant "${tenants[0]}" 2>&1)
      secs=$(echo "$(date +%s.%N) - $start" | bc)
      echo "[$backend] verify: $out (${secs}s)"
      rate=$(sed -E 's/.*\(([0-9]+) events\/s.*/\1/' <<<"$fill")
      VERIFY+=("| $backend | $EVENTS | $(printf '%.1f' "$secs") | $rate |")
    fi
  done
done

out="bench/audit-results-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "Steward $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, wrk -t2 $DURATION after $WARMUP warm-up"
  echo
  echo "| backend | variant | load | creates/s | p50 ms | p99 ms | bad |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "| backend | chain length | \`steward audit verify\` s | appends/s while filling (one connection) |"
  echo "| --- | --- | --- | --- |"
  printf '%s\n' "${VERIFY[@]}"
} | tee "$out"
