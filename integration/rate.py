#!/usr/bin/env python3
"""A bounded TCP transfer for rate checks between namespaces.

  rate.py serve PORT SECONDS         accept one connection, read to EOF; print the bits per second measured
                                     from the first byte received to the last (and the byte count)
  rate.py send HOST PORT BYTES SECONDS   connect (retrying until SECONDS), send BYTES, close

Both sides give up after SECONDS. Nothing is sent anywhere but HOST.
"""
import socket
import sys
import time


def serve(port, limit):
    deadline = time.monotonic() + limit
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("", port))
    srv.listen(1)
    srv.settimeout(limit)
    conn, _ = srv.accept()
    total, first, last = 0, None, None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            print("timeout", total, file=sys.stderr)
            sys.exit(1)
        conn.settimeout(remaining)
        data = conn.recv(65536)
        if not data:
            break
        now = time.monotonic()
        if first is None:
            first = now
        last = now
        total += len(data)
    if not total or last == first:
        print("nothing measured", total, file=sys.stderr)
        sys.exit(1)
    print(int(total * 8 / (last - first)), total)


def send(host, port, count, limit):
    deadline = time.monotonic() + limit
    while True:
        try:
            s = socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic()))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    s.settimeout(max(0.1, deadline - time.monotonic()))
    chunk = b"x" * 16384
    sent = 0
    while sent < count:
        n = min(len(chunk), count - sent)
        s.sendall(chunk[:n])
        sent += n
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # wait for the server to close: the data has arrived
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(2)
