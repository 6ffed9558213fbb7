"""A deliberately fragile embedded web server, run as its own process by the ROBUST tests.

It has the two classic faults of small device web servers: it reads each request line
and header line into a fixed 8 KiB buffer, and a longer line brings the whole server down
(as an overflow would); and it serves one connection at a time without a read timeout,
so a client that sends its headers slowly holds everyone else off. With `--respawn S` a
supervisor starts it again S seconds after a crash; without, the process ends.

    python fragile.py HOST PORT [--respawn S]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

LINE_BUFFER = 8 * 1024


class Overflow(Exception):
    """A line longer than the buffer: the server dies."""


def read_line(conn: socket.socket) -> bytes | None:
    line = b""
    while not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            return None
        line += byte
        if len(line) > LINE_BUFFER:
            raise Overflow
    return line.rstrip(b"\r\n")


def answer(conn: socket.socket) -> None:
    """Read one request's head and answer it; Overflow escapes."""
    request = read_line(conn)
    while request is not None:
        header = read_line(conn)
        if not header:
            break
    parts = (request or b"").split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        status, body = b"400 Bad Request", b"bad request\n"
    elif parts[0] == b"GET" and parts[1] == b"/":
        status, body = b"200 OK", b"pump status: infusing\n"
    else:
        status, body = b"404 Not Found", b"not found\n"
    conn.sendall(
        b"HTTP/1.0 " + status + b"\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n" + body
    )  # fmt: skip


def serve(host: str, port: int) -> None:
    """One connection at a time, until a line overflows the buffer."""
    with socket.create_server((host, port), backlog=64) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                try:
                    answer(conn)
                except OSError:
                    continue


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--respawn", type=float, help="restart this long after a crash")
    args = parser.parse_args()
    while True:
        try:
            serve(args.host, args.port)
        except Overflow:
            print("line longer than 8 KiB: crashed", file=sys.stderr, flush=True)
        if args.respawn is None:
            return 1
        time.sleep(args.respawn)


if __name__ == "__main__":
    sys.exit(main())
