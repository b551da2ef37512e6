#!/usr/bin/env bash
# Two faults under a 64-connection load, each judged; exit 1 when the behaviour breaks.
# 1. PostgreSQL stopped for 3 s and started again: Steward answers 503 + Retry-After (no SQL or driver text) while it is
#    down and serves again within 5 s of it coming back, without being restarted.
# 2. Two Steward instances take 64 writers; one is SIGKILLed mid-load: every write acknowledged by either exists
#    afterwards, each creation left exactly one audit event, and the tenant's audit chain verifies.
# Uses its own throwaway PostgreSQL cluster (initdb in a temporary folder, 127.0.0.1:55440, run as the OS user
# postgres), so the machine's server is never touched. Bounded: 25 s + 16 s of load.
#
#   bash bench/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PG_PORT=${PG_PORT:-55440}
PORT=${PORT:-18182}
CONNECTIONS=${CONNECTIONS:-64}
WORK=$(mktemp -d)
chmod 755 "$WORK"
PGDATA="$WORK/pg"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
SERVER_PID=
SECOND_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$SECOND_PID" ] && kill -9 "$SECOND_PID" 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cargo build --release --quiet -p steward
mkdir -p "$PGDATA" && chown postgres "$PGDATA" 2>/dev/null || true
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync >/dev/null
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nmax_connections = 100\n" "$PG_PORT" "$PGDATA" \
  | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w start >/dev/null
PG="postgres://postgres@127.0.0.1:$PG_PORT"
for db in control eu us eu_keys us_keys; do psql "$PG/postgres" -qc "CREATE DATABASE steward_$db"; done
export STEWARD_JWT_HS256_SECRET=bench-secret-bench-secret-bench-secret-01 STEWARD_MASTER_KEY=$(printf 'e%.0s' $(seq 64))
export STEWARD_BOOTSTRAP_ADMIN=bench-root STEWARD_LISTEN=127.0.0.1:$PORT STEWARD_LOG=warn STEWARD_DATA_DIR=$WORK/data
export STEWARD_RATE_LIMIT_PER_SEC=0 STEWARD_DB_ACQUIRE_TIMEOUT_MS=1000
export STEWARD_DATABASE_URL="$PG/steward_control?sslmode=disable"
export STEWARD_REGIONS="eu=$PG/steward_eu?sslmode=disable,us=$PG/steward_us?sslmode=disable"
export STEWARD_KEY_DATABASES="eu=$PG/steward_eu_keys?sslmode=disable,us=$PG/steward_us_keys?sslmode=disable"
target/release/steward serve > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
root=$(target/release/steward token --sub bench-root --kind staff --ttl 1h)
tenant=$(python3 bench/seed.py tenant "http://127.0.0.1:$PORT/graphql" "$root")
token=$(target/release/steward token --sub bench-admin --kind client --tenant "$tenant" --ttl 1h)
python3 bench/seed.py subjects "http://127.0.0.1:$PORT/graphql" "$token" 200
echo "[faults] $CONNECTIONS clients for 25 s; at 8 s PostgreSQL stops (fast shutdown), stays down 3 s, starts again"
ctl="$PG_BIN/pg_ctl -D $PGDATA -l $PGDATA/log -w"
python3 bench/faults.py "http://127.0.0.1:$PORT/graphql" "$token" "$CONNECTIONS" 25 8 \
  runuser -u postgres -- bash -c "$ctl -m fast stop && sleep 3 && $ctl start"
kill -0 "$SERVER_PID" || { echo "[faults] Steward died" >&2; exit 1; }
echo "[faults] Steward kept running: pid $SERVER_PID"

echo "[faults] a second instance; $CONNECTIONS writers over both for 16 s; at 6 s the second is killed (SIGKILL)"
STEWARD_LISTEN=127.0.0.1:$((PORT + 1)) target/release/steward serve > "$WORK/second.log" 2>&1 &
SECOND_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + 1))/readyz" >/dev/null && break; sleep 0.1; done
before=$(psql "$PG/steward_eu" -tAc "SELECT count(*) FROM data_subjects WHERE tenant_id = '$tenant'")
python3 bench/kill.py "http://127.0.0.1:$PORT/graphql" "http://127.0.0.1:$((PORT + 1))/graphql" "$token" \
  "$CONNECTIONS" 16 6 "$SECOND_PID" "$WORK/acked.txt"
wait "$SECOND_PID" 2>/dev/null || true
SECOND_PID=
acked=$(grep -c . "$WORK/acked.txt")
missing=$(psql "$PG/steward_eu" -qtA -v ON_ERROR_STOP=1 \
  -c "CREATE TEMP TABLE acked (id uuid)" \
  -c "\\copy acked FROM '$WORK/acked.txt'" \
  -c "SELECT count(*) FROM acked a LEFT JOIN data_subjects s ON s.id = a.id WHERE s.id IS NULL" | tail -1)
after=$(psql "$PG/steward_eu" -tAc "SELECT count(*) FROM data_subjects WHERE tenant_id = '$tenant'")
events=$(psql "$PG/steward_eu" -tAc "SELECT count(*) FROM audit_events WHERE tenant_id = '$tenant' AND action = 'subject.created'")
subjects=$(psql "$PG/steward_eu" -tAc "SELECT count(*) FROM data_subjects WHERE tenant_id = '$tenant'")
chain=$(curl -sf "http://127.0.0.1:$PORT/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
  -d '{"query":"{ verifyAuditChain { valid events } }"}')
echo "[faults] acknowledged: $acked; missing afterwards: $missing; subjects $before -> $after (committed but unacknowledged: $((after - before - acked)))"
echo "[faults] subject.created events: $events for $subjects subjects; chain: $chain"
[ "$missing" = 0 ] || { echo "[faults] FAILED: $missing acknowledged writes are missing" >&2; exit 1; }
[ "$events" = "$subjects" ] || { echo "[faults] FAILED: $events creation events for $subjects subjects" >&2; exit 1; }
grep -q '"valid":true' <<<"$chain" || { echo "[faults] FAILED: the audit chain does not verify: $chain" >&2; exit 1; }
echo "[faults] PASSED: nothing acknowledged was lost, one audit event per creation, the chain verifies"
