"""A private network namespace for the emulator and the harness's own tests (Linux).

Inside it only the loopback interface exists, so a port scan of the emulator sees the
emulator and nothing else on the machine, and nothing the run does can leave the host.
As root this is `unshare(CLONE_NEWNET)`; otherwise a user namespace is created too
(where the kernel allows unprivileged user namespaces). Must be called while the
process has a single thread.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def enter_private_network(*, threads_ok: bool = False) -> str | None:
    """Move this process into a new network namespace with `lo` up; None, or why not.

    With `threads_ok`, a process that already runs threads may enter one too, as root: then
    only the calling thread moves (and every thread and process it starts from then on);
    the threads already running stay outside, so they must not be the ones that probe.
    """
    if not hasattr(os, "geteuid") or not os.path.exists("/proc/self/ns/net"):
        return "network namespaces need Linux"
    uid, gid = os.geteuid(), os.getegid()
    if threading.active_count() > 1 and not (threads_ok and uid == 0):
        return "the process already runs threads"
    flags = _CLONE_NEWNET if uid == 0 else _CLONE_NEWUSER | _CLONE_NEWNET
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        return f"unshare failed: {os.strerror(ctypes.get_errno())}"
    if uid != 0:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    _loopback_up()
    return None


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as stream:
        stream.write(text)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def in_private_network() -> bool:
    """True when no interface but `lo` exists (the namespace this module makes)."""
    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False
