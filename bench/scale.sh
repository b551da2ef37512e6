#!/usr/bin/env bash
# Does the page query stay flat as the data grows? One server on PostgreSQL; the same 10 "probe" tenants (20 subjects
# each) are measured at a fixed, moderate load while the rest of the database grows in steps: more tenants, more
# subjects in total, each step's new tenants sharing its new subjects. Prints p50/p99 (and the server's peak RSS so
# far) per step and writes
# bench/scale-<UTC time>.md. Seeding goes through the API (sealed, audited), 8 requests in flight.
#
#   bash bench/scale.sh                                   # steps "10:200 1000:100000" (tenants:total subjects)
#   STEPS="10:200 1000:100000 10000:1000000" bash bench/scale.sh    # the issue's full range (~12 min of seeding)
#
# Knobs: STEPS, CONNECTIONS (8), DURATION (15s), PG_URL (admin URL; the script creates and drops its own databases).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-"10:200 1000:100000"}
CONNECTIONS=${CONNECTIONS:-8}
DURATION=${DURATION:-15s}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-18181}
SECRET=bench-secret-bench-secret-bench-secret-01
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p steward
BIN=target/release/steward
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  for db in control eu us eu_keys us_keys; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_scale_$db WITH (FORCE)" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
base=${PG_URL%/*}
for db in control eu us eu_keys us_keys; do
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_scale_$db WITH (FORCE)"
  psql "$PG_URL" -qc "CREATE DATABASE steward_scale_$db"
done
export STEWARD_JWT_HS256_SECRET=$SECRET STEWARD_MASTER_KEY=$(printf 'd%.0s' $(seq 64)) STEWARD_BOOTSTRAP_ADMIN=bench-root
export STEWARD_LISTEN=127.0.0.1:$PORT STEWARD_LOG=warn STEWARD_DATA_DIR=$WORK STEWARD_RATE_LIMIT_PER_SEC=0
export STEWARD_DATABASE_URL="$base/steward_scale_control?sslmode=disable"
export STEWARD_REGIONS="eu=$base/steward_scale_eu?sslmode=disable,us=$base/steward_scale_us?sslmode=disable"
export STEWARD_KEY_DATABASES="eu=$base/steward_scale_eu_keys?sslmode=disable,us=$base/steward_scale_us_keys?sslmode=disable"
"$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/graphql"
root=$("$BIN" token --sub bench-root --kind staff --ttl 4h)
token_of() { "$BIN" token --sub "peer-admin-$1" --kind client --tenant "$2" --ttl 4h; }

tenants=0 subjects=0
: > "$WORK/probe-tokens.txt"
ROWS=()
for step in $STEPS; do
  want_tenants=${step%%:*} want_subjects=${step##*:}
  if [ "$tenants" -eq 0 ]; then
    # The ten probes, 20 subjects each: created once, then only measured.
    python3 bench/seed.py bulk "$URL" "$root" "$SECRET" 1 10 20 > "$WORK/probes.txt"
    while read -r n tenant; do token_of "$n" "$tenant" >> "$WORK/probe-tokens.txt"; done < "$WORK/probes.txt"
    tenants=10 subjects=200
  fi
  # The other tenants added by this step share the subjects the step adds.
  new=$((want_tenants - tenants))
  if [ "$new" -gt 0 ]; then
    each=$(( (want_subjects - subjects) / new ))
    echo "[scale] step $step: adding $new tenants with $each subjects each"
    python3 bench/seed.py bulk "$URL" "$root" "$SECRET" $((tenants + 1)) "$want_tenants" "$each" > /dev/null
    tenants=$want_tenants
    subjects=$((subjects + new * each))
  fi
  # Measured in the steady state, not during the bulk load's aftermath: vacuumed (autovacuum would otherwise visit the
  # freshly inserted tables mid-measurement) and analysed, with the dirty pages written out.
  for db in control eu us eu_keys us_keys; do psql "$base/steward_scale_$db" -qc "VACUUM ANALYZE"; done
  psql "$PG_URL" -qc CHECKPOINT
  BENCH_TOKENS="$WORK/probe-tokens.txt" wrk -t2 -c"$CONNECTIONS" -d5s -s bench/rotate.lua "$URL" > /dev/null
  result=$(BENCH_TOKENS="$WORK/probe-tokens.txt" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/rotate.lua "$URL" | grep '^RESULT')
  echo "[scale] $tenants tenants, $subjects subjects: $result"
  p50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$result"); p99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$result")
  rps=$(sed -E 's/.* rps=([0-9]+).*/\1/' <<<"$result"); bad=$(sed -E 's/.* bad=([0-9]+).*/\1/' <<<"$result")
  # The server's peak resident memory so far (VmHWM), seeding included.
  rss=$(awk '/^VmHWM/ {printf "%d", $2 / 1024}' "/proc/$SERVER_PID/status")
  ROWS+=("| $tenants | $subjects | $rps | $p50 | $p99 | $bad | $rss |")
done
OUT="bench/scale-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "| tenants | subjects in total | req/s ($CONNECTIONS connections) | p50 ms | p99 ms | bad | server peak RSS MiB |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT"
