#!/usr/bin/env bash
# The write workload of the peer benchmark, run by `WORKLOAD=writes bash bench/peer.sh` inside the copied harness:
# every PostGraphile row and Steward create data subjects (an email and a name) over the 50 benchmark tenants at each
# concurrency, with the harness's own measurement (quiet-host wait, CPU accounting, retries of disturbed tries).
# Every try counts the rows before and after and checks that each acknowledged write is stored.
#
#   PostGraphile: its generated createDataSubject on app.data_subjects; RLS's WITH CHECK admits only the token's tenant.
#   Steward: createDataSubject; both values sealed under the subject's key, the email blind-indexed, one audit event
#            in the tenant's chain, the key in the region's key database.
#
# Afterwards the written rows are removed from the peer's table and Steward's seed is marked stale (its next read run
# seeds afresh), so the read benchmark's checks (2,000 subjects per tenant) hold again.
set -euo pipefail
HARNESS=${1:?usage: writes.sh HARNESS_DIR}
source "$HARNESS/env.sh"
source "$PEER_HERE/lib.sh"
STEWARD_REPO=${STEWARD_REPO:?set by bench/peer.sh}
SYSTEMS="${SYSTEMS:-postgraphile postgraphile-2w steward}"
TS="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$PEER_ROOT/runs/writes-$TS"
ROWS="$RAW/rows.tsv"
COUNTS="$RAW/counts.tsv"
OUT_MD="${PEER_RESULTS:-$PEER_ROOT}/writes-$TS.md"
mkdir -p "$RAW"
: > "$ROWS"
: > "$COUNTS"

started_pg=0
cleanup() {
  if [ "$started_pg" = 1 ] && pg_is_running; then pg_stop && echo "[writes] postgres stopped"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! pg_is_running; then pg_start; started_pg=1; fi

# stored: how many data subjects the system under test holds now.
stored() {
  case "$SYSTEM_NAME" in
    steward)
      local n=0 db
      for db in steward_eu steward_us; do
        n=$((n + $(psql_super -d "$db" -Atc "SELECT count(*) FROM data_subjects")))
      done
      echo "$n"
      ;;
    *) psql_super -d "$PG_DB" -Atc "SELECT count(*) FROM app.data_subjects" ;;
  esac
}

write_run() {   # C BASE
  local c=$1 base=$2 pid="" before after
  [ -n "${SYSTEM_PID_FILE:-}" ] && [ -f "$SYSTEM_PID_FILE" ] && pid=$(cat "$SYSTEM_PID_FILE")
  local wrk_env=(BENCH_TOKENS="$RAW/$SYSTEM_NAME-tokens.txt" BENCH_KIND="$KIND" BENCH_NONCE="$RANDOM")
  env "${wrk_env[@]}" wrk -t"$LOADGEN_THREADS" -c"$c" -d"${WARMUP}s" --timeout 10s \
    -s "$STEWARD_REPO/bench/peer/write.lua" "$SYSTEM_URL" > "$base.warmup.out" 2>&1 || return 1
  sleep 1   # the warm-up's last requests are answered before counting
  before=$(stored)
  cpu_snap "$base.cpu0.json" "$pid"
  env "${wrk_env[@]}" BENCH_NONCE="$RANDOM" /usr/bin/time -f "%U %S" -o "$base.time" \
    wrk -t"$LOADGEN_THREADS" -c"$c" -d"${DURATION}s" --timeout 10s --latency \
    -s "$STEWARD_REPO/bench/peer/write.lua" "$SYSTEM_URL" > "$base.out" 2>&1 || return 1
  cpu_snap "$base.cpu1.json" "$pid"
  sleep 1
  after=$(stored)
  grep -q '^RESULT ' "$base.out" || return 1
  local acknowledged
  acknowledged=$(sed -n 's/^RESULT .*acknowledged=\([0-9]*\).*/\1/p' "$base.out")
  echo "$before $after $acknowledged" > "$base.count"
  if [ $((after - before)) -lt "$acknowledged" ]; then
    echo "    $SYSTEM_NAME c=$c: $acknowledged writes acknowledged but only $((after - before)) stored" >&2
  fi
}

write_parse() {   # BASE -> "rps p50_ms p99_ms errors"; the try's counts go to counts.tsv
  local requests duration_us p50_us p99_us acknowledged bad socket_errors
  eval "$(sed -n 's/^RESULT //p' "$1.out" | tr ' ' '\n' | \
          grep -E '^(requests|duration_us|p50_us|p99_us|acknowledged|bad|socket_errors)=[0-9]+$')"
  local before after ack
  read -r before after ack < "$1.count"
  local label c
  label=$(basename "$1"); c=${label#*-c}; c=${c%%-*}
  printf '%s\t%s\t%s\t%s\t%s\n' "$SYSTEM_NAME" "$c" "$ack" "$((after - before))" "$((ack - (after - before) > 0 ? ack - (after - before) : 0))" >> "$COUNTS"
  echo "$(awk -v r="$acknowledged" -v d="$duration_us" 'BEGIN{printf "%.0f", r/(d/1e6)}')" \
       "$(us_to_ms "$p50_us")" "$(us_to_ms "$p99_us")" "$((bad + socket_errors))"
}

for sysfile in "$PEER_HERE"/systems/*.sh; do
  name=$(sed -n 's/^SYSTEM_NAME="\(.*\)"$/\1/p' "$sysfile")
  grep -qw -- "$name" <<<"$SYSTEMS" || continue
  echo "[writes] === $name"
  (
    source "$sysfile"
    trap 'declare -F system_stop >/dev/null && system_stop' EXIT
    system_start
    tokens="$RAW/$SYSTEM_NAME-tokens.txt"
    : > "$tokens"
    for n in $(seq 1 "$TENANTS"); do
      if [ "$SYSTEM_NAME" = steward ]; then
        KIND=steward
        echo "$($SYSTEM_MINT_CMD "$n") $(sed -n "${n}p" "$PEER_ROOT/steward/tenants.txt")" >> "$tokens"
      else
        KIND=postgraphile
        echo "$(python3 "$PEER_HERE/mint-jwt.py" "$n") $(python3 "$PEER_HERE/mint-jwt.py" --tenant-id "$n")" >> "$tokens"
      fi
    done
    echo "${SYSTEM_VERSION:-$name}" > "$RAW/$name-version.txt"
    for c in $CONCURRENCY; do
      echo "[writes] $name, $c connections: warm-up ${WARMUP}s, measure ${DURATION}s"
      measure "$name" "$c" write_run write_parse "$ROWS"
    done
  ) || { echo "[writes] $name FAILED (see above); continuing" >&2; \
         printf '%s\t-\t-\t-\t-\tFAILED\t-\t-\t-\t-\t-\t-\t-\n' "$name" >> "$ROWS"; }
done

echo "[writes] removing the written rows (the read benchmark expects 2,000 subjects per tenant)"
psql_super -d "$PG_DB" -qc "DELETE FROM app.data_subjects WHERE email LIKE '%@write.example'"
psql_super -d "$PG_DB" -qc "VACUUM ANALYZE app.data_subjects"
rm -f "$PEER_ROOT/steward/tenants.txt"

table=$(rows_to_md "$ROWS")
counts=$(awk -F'\t' 'BEGIN{
    print "| system | concurrency | acknowledged | stored | acknowledged but missing |";
    print "|---|---:|---:|---:|---:|" }
  { printf "| %s | %s | %s | %s | %s |\n", $1,$2,$3,$4,$5 }' "$COUNTS")
{
  echo "# Peer benchmark, writes, $TS"
  echo
  echo "Workload: each request creates one data subject with an email and a name in the next of 50 tenants (JWT per"
  echo "tenant). ${WARMUP} s warm-up + ${DURATION} s measured per try; wrk -t${LOADGEN_THREADS}; req/s counts acknowledged writes only."
  echo
  echo "$table"
  echo
  echo "Every try, rows counted in the database before and after (written = after − before; a request cut at the end of"
  echo "the run may be stored without being acknowledged):"
  echo
  echo "$counts"
  echo
  echo "- Versions:"
  for f in "$RAW"/*-version.txt; do echo "  - $(cat "$f")"; done
  echo "- Raw output: $RAW"
} > "$OUT_MD"
echo
echo "$table"
echo
echo "$counts"
echo "[writes] written $OUT_MD"
