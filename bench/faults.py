"""Load with N concurrent clients while PostgreSQL restarts underneath; judge the answers.

Usage: faults.py URL TOKEN CONNECTIONS SECONDS RESTART_AT RESTART_CMD...
Every client loops the hot read. At RESTART_AT seconds the restart command runs (it returns once PostgreSQL accepts
connections again). Fails (exit 1) if any answer other than 200 is not a 503 with Retry-After, if any body carries SQL or
driver text, or if service is not back within 5 s of PostgreSQL being up.
"""
import http.client
import json
import subprocess
import sys
import threading
import time

url, token, connections, seconds, restart_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
restart_cmd = sys.argv[6:]
host, port = url.split("//")[1].split("/")[0].split(":")
BODY = json.dumps({"query": "{ dataSubjects(first: 20) { edges { node { id personalData(categories: [\"user.name\"]) { value } } } } }"})
LEAKS = ["select ", "sqlx", "postgres", "connection refused", "io error", "pool timed out", "sqlstate"]

results = []  # (time, status, retry_after, leak)
lock = threading.Lock()
start = time.monotonic()
stop = start + seconds


def client():
    conn = None
    while time.monotonic() < stop:
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("POST", "/graphql", BODY, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace").lower()
            leak = next((l for l in LEAKS if l in text), None)
            with lock:
                results.append((time.monotonic() - start, response.status, response.getheader("Retry-After"), leak))
        except (OSError, http.client.HTTPException) as e:
            with lock:
                results.append((time.monotonic() - start, 0, None, type(e).__name__))
            conn = None
            time.sleep(0.05)


threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
for t in threads:
    t.start()
time.sleep(restart_at)
down_at = time.monotonic() - start
subprocess.run(restart_cmd, check=True, stdout=subprocess.DEVNULL)
up_at = time.monotonic() - start
for t in threads:
    t.join()

failures = []
by_status = {}
for at, status, retry, leak in results:
    by_status[status] = by_status.get(status, 0) + 1
    if status not in (200, 503):
        failures.append(f"{at:.2f}s: status {status} ({leak})")
    elif status == 503 and retry is None:
        failures.append(f"{at:.2f}s: 503 without Retry-After")
    if leak and status != 0:
        failures.append(f"{at:.2f}s: response carries {leak!r}")
outage = [r for r in results if r[1] != 200 and r[0] >= down_at]
recovered = next((r[0] for r in sorted(results) if r[0] > up_at and r[1] == 200), None)
print(f"requests: {len(results)} by status {dict(sorted(by_status.items()))}")
print(f"restart began at {down_at:.2f}s, PostgreSQL accepted connections again at {up_at:.2f}s")
print(f"non-200 answers during the outage: {len(outage)}; first 200 after PostgreSQL was up: "
      f"{'none' if recovered is None else f'{recovered - up_at:.2f}s later'}")
if not outage:
    failures.append("no request saw the outage: the restart did not interrupt service (check the restart command)")
if recovered is None or recovered - up_at > 5:
    failures.append("service not back within 5 s of PostgreSQL being up")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures[:20]))
    sys.exit(1)
print("PASSED: only 200 or 503 + Retry-After, no SQL or driver text, recovered within 5 s")
