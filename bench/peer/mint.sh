#!/usr/bin/env bash
# Prints a client-admin token for benchmark tenant N (1..50) of the Steward peer row (see 20-steward.sh).
set -euo pipefail
n=$1
state="${PEER_ROOT:-/tmp/peer}/steward"
tenant=$(sed -n "${n}p" "$state/tenants.txt" 2>/dev/null || sed -n "${n}p" "$state/tenants.tmp")
STEWARD_JWT_HS256_SECRET="${PEER_JWT_SECRET:-peer-bench-secret-0123456789abcdef}-steward-bench" \
  STEWARD_DATA_DIR="$state/data" \
  "$(dirname "$0")/../../target/release/steward" token --sub "peer-admin-$n" --kind client --tenant "$tenant" --ttl 2h
