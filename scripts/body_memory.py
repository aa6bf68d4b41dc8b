"""Peak memory of a running telemetry-collector under N concurrent ~1 MiB ingest bodies.

Usage: python3 scripts/body_memory.py PORT N PID PAD
  PORT  the collector's port on 127.0.0.1; PID its process id (read from /proc)
  N     concurrent connections, each POSTing one cagent batch of just under 1 MiB
  PAD   characters of each record's `error` (900: about 1,000 records a body; 10: about
        5,000 small records a body)
Prints the process's VmHWM/VmRSS before and after, and the answers' status counts.
Method and figures: BENCHMARKS.md, "bodies read at once".
"""
import json
import socket
import sys
import threading
import time
import uuid
from collections import Counter

port, n, pid, pad = (int(a) for a in sys.argv[1:5])
MAX = 1048576


def body(k):
    recs, size, i = [], 0, 0
    while True:
        r = {"event": "command", "event_timestamp": int(time.time() * 1000),
             "source": "cagent",
             "properties": {"event_id": f"{k}-{i}-{uuid.uuid4()}", "action": "run",
                            "user_uuid": "u", "is_success": True, "duration_ms": 5,
                            "version": "1", "os": "linux", "error": "x" * pad}}
        t = json.dumps(r)
        if size + len(t) + 40 > MAX - 64:
            return json.dumps({"records": recs}).encode()
        recs.append(r)
        size += len(t) + 2
        i += 1


def memory():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM", "VmRSS")):
                print(line.strip(), flush=True)


statuses = []


def send(b):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /events/v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(b) + b)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    statuses.append(data[9:12].decode())


bodies = [body(k) for k in range(n)]
memory()
threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(n, "bodies of", len(bodies[0]), "bytes:", dict(Counter(statuses)))
memory()
