#!/usr/bin/env python3
"""Writes N allocations of other nodes into cluster-ipam's etcd layout (full /26 blocks of 10.123.0.0/16, from the
top of the pool down), through etcd's JSON gateway with the client certificate, 100 keys per transaction.
   etcd-fill.py ENDPOINT CA CERT KEY N [PREFIX]     (run inside a namespace that reaches ENDPOINT)"""
import base64, http.client, ipaddress, json, ssl, sys
endpoint, ca, cert, key, n = sys.argv[1:6]
prefix = (sys.argv[6] if len(sys.argv) > 6 else "/sharpcni").rstrip("/") + "/ipam/v1/"
n = int(n)
host, port = endpoint.removeprefix("https://").split(":")
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
conn = http.client.HTTPSConnection(host, int(port), context=ctx)
b64 = lambda s: base64.b64encode(s.encode()).decode()
def txn(puts):
    body = json.dumps({"success": [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in puts]})
    conn.request("POST", "/v3/kv/txn", body, {"Content-Type": "application/json"})
    r = conn.getresponse(); data = r.read()
    if r.status != 200: sys.exit(f"etcd: {r.status} {data[:200]}")
pool = ipaddress.ip_network("10.123.0.0/16")
blocks = list(pool.subnets(new_prefix=26))[::-1]
puts, done, b = [], 0, 0
while done < n:
    block = blocks[b]; b += 1
    node = f"filler{b}"
    cidr = f"{block.network_address}-26"
    allocs = {}
    for off in range(1, 64):
        if done >= n: break
        cid = f"fill-{b}-{off}"
        allocs[str(off)] = f"{cid}/eth0"
        rec = {"containerID": cid, "ifname": "eth0", "ips": [{"address": f"{block.network_address + off}/16", "block": str(block)}]}
        puts.append((f"{prefix}attachments/{node}/{cid}/eth0", json.dumps(rec)))
        done += 1
    puts.append((f"{prefix}claims/10.123.0.0-16/{cidr}", node))
    puts.append((f"{prefix}blocks/{node}/{cidr}", json.dumps({"cidr": str(block), "pool": "10.123.0.0/16", "node": node, "next": 0, "allocations": allocs})))
    while len(puts) >= 100:
        txn(puts[:100]); puts = puts[100:]
if puts: txn(puts)
print(f"{done} allocations in {b} blocks of other nodes")
