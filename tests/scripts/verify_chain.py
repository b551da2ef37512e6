#!/usr/bin/env python3
"""Verifies an exported Steward audit chain (JSON Lines) with nothing but SHA-256: what a client can run itself.

Usage: verify_chain.py CHAIN.jsonl [KEPT_SEQ KEPT_HASH]. Prints "ok <events> <head hash>" or the first broken link.
Each line is an event as `steward audit export` writes it (snake_case) or as `auditEvents` returns it (camelCase).
"""
import hashlib
import json
import sys

prev, seq, kept = "0" * 64, 0, dict()
if len(sys.argv) == 4:
    kept = {int(sys.argv[2]): sys.argv[3]}
with open(sys.argv[1], encoding="utf-8") as chain:
    for line in chain:
        e = {"".join("_" + c.lower() if c.isupper() else c for c in k): v for k, v in json.loads(line).items()}
        seq += 1
        fields = [e["seq"], e["id"], e["occurred_at"], e["actor_kind"], e["actor_subject"], e["action"],
                  e["object_type"], e["object_id"], e["detail"], e["prev_hash"]]
        canonical = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
        if e["seq"] != seq or e["prev_hash"] != prev or hashlib.sha256(canonical.encode()).hexdigest() != e["hash"]:
            sys.exit(f"broken at seq {e['seq']}")
        if kept.get(seq, e["hash"]) != e["hash"]:
            sys.exit(f"kept head {seq} was rewritten")
        prev = e["hash"]
if kept and max(kept) > seq:
    sys.exit(f"truncated: kept head {max(kept)} is beyond the last event {seq}")
print(f"ok {seq} {prev}")
