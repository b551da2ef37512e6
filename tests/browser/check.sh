#!/usr/bin/env bash
# Browser check of what people look at, in headless Chromium (Debian's chromium, chromium-driver and python3-selenium,
# installed here if missing): the console at /graphql loads from this server alone, shows a decrypted value for a query
# run with a demo token, and its Docs explorer loads the schema and finds DataSubject by search; the public
# sub-processor page renders its table. Screenshots go to $ARTEFACTS (default
# target/browser-artefacts). Bounded: the server is stopped on exit, each page has a 30 s budget.
#
#   bash tests/browser/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ARTEFACTS=${ARTEFACTS:-$(pwd)/target/browser-artefacts}
PORT=${PORT:-18377}
mkdir -p "$ARTEFACTS"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! /usr/bin/python3 -c "import selenium" 2>/dev/null; then
  echo "[browser] installing chromium, chromium-driver and python3-selenium (Debian packages)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver python3-selenium >/dev/null
fi
cargo build --quiet -p steward
DATA=$(mktemp -d)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
env -u STEWARD_DATABASE_URL -u STEWARD_REGIONS -u STEWARD_KEY_DATABASES STEWARD_DATA_DIR="$DATA" STEWARD_LISTEN="127.0.0.1:$PORT" STEWARD_LOG=warn \
  ./target/debug/steward serve --demo > "$ARTEFACTS/server.out" 2> "$ARTEFACTS/server.err" &
SERVER=$!
for _ in $(seq 1 300); do
  grep -q "^client_admin of Acme Health" "$ARTEFACTS/server.out" 2>/dev/null && curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { echo "[browser] the server exited:" >&2; cat "$ARTEFACTS/server.err" >&2; exit 1; }
  sleep 0.1
done
TOKEN=$(grep -A1 "^client_admin of Acme Health" "$ARTEFACTS/server.out" | tail -1 | tr -d ' ')
[ -n "$TOKEN" ] || { echo "[browser] no demo token in the server's output" >&2; exit 1; }
# Debian's python3, the one python3-selenium installs into (whatever python3 comes first on PATH).
/usr/bin/python3 tests/browser/check.py "http://127.0.0.1:$PORT" "$TOKEN" "$ARTEFACTS"
echo "[browser] screenshots in $ARTEFACTS"
