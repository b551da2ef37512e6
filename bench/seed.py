#!/usr/bin/env python3
"""Seeds a running Steward for the benchmark through its public GraphQL API, as its users would.

  seed.py tenant URL ROOT_TOKEN              -> creates "Bench Co" and its client admin `bench-admin`; prints the id
  seed.py tenants URL ROOT_TOKEN N           -> N tenants with client admins `write-admin-<i>`; prints the ids
  seed.py subjects URL CLIENT_TOKEN COUNT [START] -> COUNT data subjects with an email and a name, 25 per request
  seed.py peer-tenants URL ROOT_TOKEN N [START]   -> tenants START+1..START+N with client admins `peer-admin-<n>`
  seed.py bulk URL ROOT_TOKEN SECRET FIRST LAST EACH -> tenants FIRST..LAST (client admins `peer-admin-<n>`), EACH
                                                 subjects in each, 8 requests in flight; prints "n id" per tenant
"""
import base64
import concurrent.futures
import hashlib
import hmac
import json
import sys
import time
import urllib.request


def mint(secret, subject, tenant):
    """A client token as `steward token --kind client` mints it (HS256, iss/aud `steward`)."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    now = int(time.time())
    claims = {"sub": subject, "iss": "steward", "aud": "steward", "iat": now, "nbf": now, "exp": now + 4 * 3600,
              "kind": "client", "tid": tenant}
    signing = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode()) + b"." + b64(json.dumps(claims).encode())
    return (signing + b"." + b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest())).decode()


def subjects(url, token, count, offset=0, batch=25):
    for start in range(offset, offset + count, batch):
        parts = []
        for n in range(start, min(start + batch, offset + count)):
            parts.append(
                f's{n}: createDataSubject(input: {{externalId: "bench-{n:05d}", personalData: ['
                f'{{category: "user.contact.email", value: "person{n}@bench.example", purpose: "essential.service", source: "bench"}}, '
                f'{{category: "user.name", value: "Bench Person {n}", purpose: "essential.service", source: "bench"}}]}}) {{ id }}'
            )
        gql(url, token, "mutation { " + " ".join(parts) + " }")


def peer_tenant(url, token, n):
    region = "eu" if n % 2 == 1 else "us"
    tenant = gql(url, token, f'mutation {{ createTenant(input: {{name: "Peer Bench {n}", region: "{region}"}}) {{ id }} }}')["createTenant"]["id"]
    gql(
        url,
        token,
        "mutation($t: ID!, $s: String!, $e: String!) { inviteUser(input: {tenantId: $t, email: $e, subject: $s, role: CLIENT_ADMIN}) { id } }",
        {"t": tenant, "s": f"peer-admin-{n}", "e": f"peer-admin-{n}@bench.example"},
    )
    return tenant


def gql(url, token, query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        answer = json.loads(resp.read())
    if answer.get("errors"):
        sys.exit(f"seed failed: {answer['errors']}")
    return answer["data"]


def main():
    command, url, token = sys.argv[1], sys.argv[2], sys.argv[3]
    if command == "tenant":
        # As a platform admin: the tenant and its client admin. Prints the tenant id.
        tenant = gql(url, token, 'mutation { createTenant(input: {name: "Bench Co", region: "eu"}) { id } }')["createTenant"]["id"]
        gql(
            url,
            token,
            "mutation($t: ID!) { inviteUser(input: {tenantId: $t, email: \"bench-admin@bench.example\", subject: \"bench-admin\", role: CLIENT_ADMIN}) { id } }",
            {"t": tenant},
        )
        print(tenant)
    elif command == "tenants":
        # As a platform admin: N tenants "Write Bench i" (alternating regions) with client admins `write-admin-i`.
        for i in range(int(sys.argv[4])):
            region = "eu" if i % 2 == 0 else "us"
            tenant = gql(url, token, f'mutation {{ createTenant(input: {{name: "Write Bench {i}", region: "{region}"}}) {{ id }} }}')["createTenant"]["id"]
            gql(
                url,
                token,
                "mutation($t: ID!, $s: String!, $e: String!) { inviteUser(input: {tenantId: $t, email: $e, subject: $s, role: CLIENT_ADMIN}) { id } }",
                {"t": tenant, "s": f"write-admin-{i}", "e": f"write-admin-{i}@bench.example"},
            )
            print(tenant)
    elif command == "peer-tenants":
        # As a platform admin: N tenants "Peer Bench n" (n = START+1..START+N, START defaults to 0, alternating regions)
        # with client admins `peer-admin-n` (bench/peer/20-steward.sh, bench/scale.sh). Prints one tenant id per line.
        first = int(sys.argv[5]) + 1 if len(sys.argv) > 5 else 1
        for n in range(first, first + int(sys.argv[4])):
            print(peer_tenant(url, token, n), flush=True)
    elif command == "bulk":
        secret, first, last, each = sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])

        def one(n):
            tenant = peer_tenant(url, token, n)
            if each:
                subjects(url, mint(secret, f"peer-admin-{n}", tenant), each)
            return n, tenant

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for n, tenant in sorted(pool.map(one, range(first, last + 1))):
                print(n, tenant)
    elif command == "subjects":
        # As the client admin (only the controller adds its subjects); START numbers them (external ids `bench-START`…)
        # to add more to a tenant later. 25 per request, under the default alias limit of 30.
        subjects(url, token, int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    else:
        sys.exit("usage: seed.py tenant URL ROOT_TOKEN | tenants URL ROOT_TOKEN N | peer-tenants URL ROOT_TOKEN N [START] | subjects URL CLIENT_TOKEN COUNT [START] | bulk URL ROOT_TOKEN SECRET FIRST LAST EACH")


if __name__ == "__main__":
    main()
