#!/usr/bin/env python3
"""Seeds a running Steward for the benchmark through its public GraphQL API, as its users would.

  seed.py tenant URL ROOT_TOKEN              -> creates "Bench Co" and its client admin `bench-admin`; prints the id
  seed.py tenants URL ROOT_TOKEN N           -> N tenants with client admins `write-admin-<i>`; prints the ids
  seed.py subjects URL CLIENT_TOKEN COUNT    -> COUNT data subjects with an email and a name, 50 per request
"""
import json
import sys
import urllib.request


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
            region = "eu" if n % 2 == 1 else "us"
            tenant = gql(url, token, f'mutation {{ createTenant(input: {{name: "Peer Bench {n}", region: "{region}"}}) {{ id }} }}')["createTenant"]["id"]
            gql(
                url,
                token,
                "mutation($t: ID!, $s: String!, $e: String!) { inviteUser(input: {tenantId: $t, email: $e, subject: $s, role: CLIENT_ADMIN}) { id } }",
                {"t": tenant, "s": f"peer-admin-{n}", "e": f"peer-admin-{n}@bench.example"},
            )
            print(tenant, flush=True)
    elif command == "subjects":
        # As the client admin (only the controller adds its subjects): N subjects, 25 per request (under the default alias limit of 30).
        # An optional START numbers them from START (external ids `bench-START`…), to add more to a tenant later.
        count, batch = int(sys.argv[4]), 25
        offset = int(sys.argv[5]) if len(sys.argv) > 5 else 0
        for start in range(offset, offset + count, batch):
            parts = []
            for n in range(start, min(start + batch, offset + count)):
                parts.append(
                    f's{n}: createDataSubject(input: {{externalId: "bench-{n:05d}", personalData: ['
                    f'{{category: "user.contact.email", value: "person{n}@bench.example", purpose: "essential.service", source: "bench"}}, '
                    f'{{category: "user.name", value: "Bench Person {n}", purpose: "essential.service", source: "bench"}}]}}) {{ id }}'
                )
            gql(url, token, "mutation { " + " ".join(parts) + " }")
    else:
        sys.exit("usage: seed.py tenant URL ROOT_TOKEN | tenants URL ROOT_TOKEN N | peer-tenants URL ROOT_TOKEN N [START] | subjects URL CLIENT_TOKEN COUNT [START]")


if __name__ == "__main__":
    main()
