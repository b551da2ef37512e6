"""Writers on two Steward instances; one instance is SIGKILLed mid-load; every acknowledged write must exist.

Usage: kill.py URL_A URL_B TOKEN CONNECTIONS SECONDS KILL_AT PID_B ACKED_FILE
Half the clients write to A, half to B; each creates data subjects (one name each) in a loop and keeps the id of every
creation answered 200 with an id. At KILL_AT seconds B's process is sent SIGKILL; its clients then fail over to A, as
behind a load balancer. The acknowledged ids go to ACKED_FILE, one per line, for the caller to look up in the database.
Fails (exit 1) if A answers anything but 200, or if B answered anything but 200 before it was killed.
"""
import http.client
import json
import os
import signal
import sys
import threading
import time

url_a, url_b, token = sys.argv[1], sys.argv[2], sys.argv[3]
connections, seconds, kill_at, pid_b, acked_file = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
QUERY = ("mutation($e: String!, $n: String!) { createDataSubject(input: {externalId: $e, personalData: "
         "[{category: \"user.name\", value: $n, purpose: \"essential.service\", source: \"kill-bench\"}]}) { id } }")

acked = []
failures = []
lost_in_flight = 0  # requests to B cut by the kill: their outcome is unknown to the client, as in any crash
lock = threading.Lock()
start = time.monotonic()
stop = start + seconds
killed_at = None


def endpoint(url):
    host, port = url.split("//")[1].split("/")[0].split(":")
    return host, int(port)


def client(index):
    global lost_in_flight
    target = url_b if index % 2 else url_a
    conn, n = None, 0
    while time.monotonic() < stop:
        n += 1
        body = json.dumps({"query": QUERY, "variables": {"e": f"kill-{index}-{n}", "n": f"Kill Person {index}-{n}"}})
        try:
            if conn is None:
                conn = http.client.HTTPConnection(*endpoint(target), timeout=10)
            conn.request("POST", "/graphql", body, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
            response = conn.getresponse()
            answer = json.loads(response.read() or b"null")
            subject = ((answer or {}).get("data") or {}).get("createDataSubject")
            with lock:
                if response.status == 200 and subject and subject.get("id"):
                    acked.append(subject["id"])
                else:
                    failures.append(f"{target}: status {response.status}: {str(answer)[:200]}")
        except (OSError, http.client.HTTPException, ValueError) as e:
            conn = None
            with lock:
                if target == url_b and killed_at is not None:
                    lost_in_flight += 1
                    target = url_a  # the load balancer stops sending to the dead instance
                else:
                    failures.append(f"{target}: {type(e).__name__}: {e}")
                    time.sleep(0.05)


threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
for t in threads:
    t.start()
time.sleep(kill_at)
with lock:
    killed_at = time.monotonic() - start
os.kill(pid_b, signal.SIGKILL)
for t in threads:
    t.join()
with open(acked_file, "w") as out:
    out.write("\n".join(acked) + "\n")
print(f"acknowledged writes: {len(acked)} ({len(acked) / seconds:.0f}/s); B killed at {killed_at:.2f}s; "
      f"requests cut in flight by the kill: {lost_in_flight}")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures[:20]))
    sys.exit(1)
