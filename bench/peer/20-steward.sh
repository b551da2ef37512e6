# System definition for the peer benchmark (../shared/peer-bench): Steward's release server on the peer's PostgreSQL
# cluster, in its own databases, with the same data shape (50 tenants x 2,000 subjects with an email and a name, each
# value sealed). bench/peer.sh copies this file into the copied harness's systems/ and runs it there.
# Sourced by run.sh in a subshell after env.sh: $PEER_HERE, $PEER_ROOT, $PG_PORT and psql_super are available.
STEWARD_REPO="${STEWARD_REPO:?set by bench/peer.sh}"
STEWARD_BIN="$STEWARD_REPO/target/release/steward"
STEWARD_PORT="${STEWARD_PORT:-18280}"
STEWARD_STATE="$PEER_ROOT/steward"
SYSTEM_NAME="steward"
SYSTEM_URL="http://127.0.0.1:$STEWARD_PORT/graphql"
SYSTEM_MINT_CMD="bash $STEWARD_REPO/bench/peer/mint.sh"      # + tenant number 1..50 -> JWT on stdout
SYSTEM_QUERY='{ dataSubjects(first: 20) { edges { node { id personalData(categories: ["user.contact.email", "user.name"]) { category value } } } } }'
SYSTEM_EXPECT='"category":"user.name"'                         # must occur exactly 20 times per response
SYSTEM_EXPECT_N=20
SYSTEM_PID_FILE="$STEWARD_STATE/steward.pid"
SYSTEM_VERSION="steward $(git -C "$STEWARD_REPO" rev-parse --short HEAD) (release), db pool ${STEWARD_BENCH_POOL:-2} per database, rate limit on (500/s per tenant)"

steward_env() {
  local base="postgres://steward_bench:steward_bench_pw@127.0.0.1:$PG_PORT"
  export STEWARD_DATABASE_URL="$base/steward_control?sslmode=disable"
  export STEWARD_REGIONS="eu=$base/steward_eu?sslmode=disable,us=$base/steward_us?sslmode=disable"
  export STEWARD_KEY_DATABASES="eu=$base/steward_eu_keys?sslmode=disable,us=$base/steward_us_keys?sslmode=disable"
  export STEWARD_JWT_HS256_SECRET="$PEER_JWT_SECRET-steward-bench"
  export STEWARD_MASTER_KEY="$(printf 'c%.0s' $(seq 64))"
  export STEWARD_BOOTSTRAP_ADMIN=bench-root
  export STEWARD_LISTEN="127.0.0.1:$STEWARD_PORT" STEWARD_LOG=warn STEWARD_DATA_DIR="$STEWARD_STATE/data"
  # 2 connections per database, sized to this 2-core machine: the two region databases serve the load, so 4 backends
  # do the work, twice the cores (the usual sizing for a database server). sqlx hands idle connections out
  # first-in-first-out, so every pooled backend stays in rotation: 10 per region kept 20 backends cache-cold, and
  # even 4 per database cost ~30% against 2 in back-to-back runs (bench/README.md has both).
  export STEWARD_DB_POOL_SIZE=${STEWARD_BENCH_POOL:-2}
}

system_start() {
  mkdir -p "$STEWARD_STATE"
  steward_env
  if [ ! -s "$STEWARD_STATE/tenants.txt" ]; then
    # A fresh set of databases, seeded through the public API below.
    psql_super -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'steward_bench') THEN
    CREATE ROLE steward_bench LOGIN PASSWORD 'steward_bench_pw';
  END IF;
END \$\$;
DROP DATABASE IF EXISTS steward_control WITH (FORCE);
DROP DATABASE IF EXISTS steward_eu WITH (FORCE);
DROP DATABASE IF EXISTS steward_us WITH (FORCE);
DROP DATABASE IF EXISTS steward_eu_keys WITH (FORCE);
DROP DATABASE IF EXISTS steward_us_keys WITH (FORCE);
CREATE DATABASE steward_control OWNER steward_bench;
CREATE DATABASE steward_eu OWNER steward_bench;
CREATE DATABASE steward_us OWNER steward_bench;
CREATE DATABASE steward_eu_keys OWNER steward_bench;
CREATE DATABASE steward_us_keys OWNER steward_bench;
SQL
  fi
  setsid "$STEWARD_BIN" serve > "$STEWARD_STATE/steward.log" 2>&1 < /dev/null &
  echo $! > "$SYSTEM_PID_FILE"
  local ready=0
  for _ in $(seq 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$STEWARD_PORT/readyz" && { ready=1; break; }
    sleep 0.2
  done
  [ "$ready" = 1 ] || { echo "    steward did not start:" >&2; tail -20 "$STEWARD_STATE/steward.log" >&2; return 1; }
  if [ ! -s "$STEWARD_STATE/tenants.txt" ]; then
    local root
    root=$("$STEWARD_BIN" token --sub bench-root --kind staff --ttl 2h)
    echo "    seeding steward: $TENANTS tenants x $ROWS_PER_TENANT subjects through the API"
    python3 "$STEWARD_REPO/bench/seed.py" peer-tenants "$SYSTEM_URL" "$root" "$TENANTS" > "$STEWARD_STATE/tenants.tmp"
    local n=0
    while read -r tenant; do
      n=$((n + 1))
      local token
      token=$("$STEWARD_BIN" token --sub "peer-admin-$n" --kind client --tenant "$tenant" --ttl 2h)
      python3 "$STEWARD_REPO/bench/seed.py" subjects "$SYSTEM_URL" "$token" "$ROWS_PER_TENANT"
    done < "$STEWARD_STATE/tenants.tmp"
    # What autovacuum would do a minute later, done before measuring: 100,000 fresh rows per table leave PostgreSQL
    # vacuuming and analysing them under the first measured row (the peer's own data is loaded at setup, long before).
    for db in steward_control steward_eu steward_us steward_eu_keys steward_us_keys; do psql_super -d "$db" -qc "VACUUM ANALYZE"; done
    mv "$STEWARD_STATE/tenants.tmp" "$STEWARD_STATE/tenants.txt"
  fi
}

system_stop() {
  [ -f "$SYSTEM_PID_FILE" ] || return 0
  local pid
  pid=$(cat "$SYSTEM_PID_FILE")
  echo "    steward peak RSS: $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status" 2>/dev/null) MiB" | tee -a "$STEWARD_STATE/rss.txt"
  kill "$pid" 2>/dev/null || true
  rm -f "$SYSTEM_PID_FILE"
}

system_verify() {
  # Isolation on the benchmark data: tenant 1's token sees only tenant 1's subjects, and naming tenant 2 is NOT_FOUND.
  local t1 t2
  t1=$(bash "$STEWARD_REPO/bench/peer/mint.sh" 1)
  t2=$(sed -n 2p "$STEWARD_STATE/tenants.txt")
  python3 - "$SYSTEM_URL" "$t1" "$t2" <<'PY'
import json, sys, urllib.request
url, token, other = sys.argv[1:4]
def gql(query):
    req = urllib.request.Request(url, json.dumps({"query": query}).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
mine = gql("{ dataSubjects(first: 1) { totalCount } }")
assert mine["data"]["dataSubjects"]["totalCount"] == 2000, mine
theirs = gql('{ dataSubjects(tenantId: "%s", first: 1) { totalCount } }' % other)
assert theirs["data"] is None and theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND", theirs
print("    steward isolation checks passed")
PY
}
