#!/usr/bin/env bash
# The offboarding export of a large tenant: seeds SUBJECTS data subjects (email and name each) through the API, begins
# offboarding with RETURN_THEN_DELETE, and measures how long the chunked export takes to build (by the server's own
# job worker) and to download (GET /exports/tenant), with the server's peak RSS during each (VmHWM, reset between
# phases). On SQLite and PostgreSQL. Writes bench/export-<UTC time>.md.
# Knobs: BACKENDS="sqlite postgres", SUBJECTS=100000, BIN, PG_URL (admin URL; the script creates and drops its databases).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-"sqlite postgres"}
SUBJECTS=${SUBJECTS:-100000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-18183}
SECRET=bench-secret-bench-secret-bench-secret-01
MASTER=$(printf 'b%.0s' $(seq 64))

if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=target/release/steward; fi
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  for db in control eu us eu_keys us_keys; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_export_$db WITH (FORCE)" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

peak_mib() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER_PID/status"; }
# Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
reset_peak() { echo 5 > "/proc/$SERVER_PID/clear_refs"; }
gql() { # token query [variables as JSON]
  local vars=${3:-'{}'}
  curl -sf "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -H "authorization: Bearer $1" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' "$2" "$vars")"
}

export STEWARD_JWT_HS256_SECRET=$SECRET STEWARD_MASTER_KEY=$MASTER STEWARD_BOOTSTRAP_ADMIN=bench-root
export STEWARD_LISTEN=127.0.0.1:$PORT STEWARD_LOG=warn STEWARD_RATE_LIMIT_PER_SEC=0 STEWARD_JOB_POLL_MS=200
ROWS=()
for backend in $BACKENDS; do
  export STEWARD_DATA_DIR=$WORK/$backend
  unset STEWARD_DATABASE_URL STEWARD_REGIONS STEWARD_KEY_DATABASES
  if [ "$backend" = postgres ]; then
    base=${PG_URL%/*}
    for db in control eu us eu_keys us_keys; do
      psql "$PG_URL" -qc "DROP DATABASE IF EXISTS steward_export_$db WITH (FORCE)"
      psql "$PG_URL" -qc "CREATE DATABASE steward_export_$db"
    done
    export STEWARD_DATABASE_URL="$base/steward_export_control?sslmode=disable"
    export STEWARD_REGIONS="eu=$base/steward_export_eu?sslmode=disable,us=$base/steward_export_us?sslmode=disable"
    export STEWARD_KEY_DATABASES="eu=$base/steward_export_eu_keys?sslmode=disable,us=$base/steward_export_us_keys?sslmode=disable"
  fi
  "$BIN" serve > "$WORK/server-$backend.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  root=$("$BIN" token --sub bench-root --kind staff --ttl 4h)
  tenant=$(python3 bench/seed.py tenant "http://127.0.0.1:$PORT/graphql" "$root")
  admin=$("$BIN" token --sub bench-admin --kind client --tenant "$tenant" --ttl 4h)
  echo "[$backend] seeding $SUBJECTS subjects"
  seeded_at=$(date +%s)
  python3 bench/seed.py subjects "http://127.0.0.1:$PORT/graphql" "$admin" "$SUBJECTS"
  echo "[$backend] seeded in $(( $(date +%s) - seeded_at )) s; peak RSS while seeding $(peak_mib) MiB"
  if [ "$backend" = postgres ]; then
    for db in control eu us eu_keys us_keys; do psql "${PG_URL%/*}/steward_export_$db" -qc ANALYZE; done
  fi

  reset_peak
  idle=$(peak_mib)
  start=$(date +%s.%N)
  gql "$root" 'mutation($t: ID!) { beginOffboarding(tenantId: $t, choice: RETURN_THEN_DELETE) { status } }' "{\"t\": \"$tenant\"}" >/dev/null
  until gql "$admin" '{ tenantExport { ready } }' | grep -q '"ready":true'; do sleep 0.5; done
  build_s=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  build_peak=$(peak_mib)
  echo "[$backend] export built in $build_s s; peak RSS $build_peak MiB (idle $idle MiB)"

  reset_peak
  start=$(date +%s.%N)
  curl -sf "http://127.0.0.1:$PORT/exports/tenant" -H "authorization: Bearer $admin" -o "$WORK/export.ndjson"
  download_s=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  download_peak=$(peak_mib)
  lines=$(wc -l < "$WORK/export.ndjson")
  size=$(( $(stat -c %s "$WORK/export.ndjson") / 1048576 ))
  tail -n1 "$WORK/export.ndjson" | grep -q "\"subjects\":$SUBJECTS" || { echo "the end line does not count $SUBJECTS subjects"; exit 1; }
  [ "$lines" -eq $(( SUBJECTS + 2 )) ] || { echo "expected $(( SUBJECTS + 2 )) lines, got $lines"; exit 1; }
  echo "[$backend] downloaded $size MiB ($lines lines) in $download_s s; peak RSS $download_peak MiB"
  ROWS+=("| $backend | $SUBJECTS | $idle | $build_s | $build_peak | $download_s | $size | $download_peak |")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
done

out="bench/export-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "Steward $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, offboarding export of one tenant"
  echo
  echo "| backend | subjects | RSS before MiB | build s | peak RSS build MiB | download s | size MiB | peak RSS download MiB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${ROWS[@]}"
} | tee "$out"
