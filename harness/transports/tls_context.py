"""Client TLS contexts, each kind made once per process and shared by every connection.

Making a context is not free: one that loads the system's CA store costs about 25 ms of
CPU, more than a whole handshake on loopback, and the liveness probes and HTTP checks
make hundreds of connections a run. An `ssl.SSLContext` may serve many threads at once;
callers must not change the one they are given.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def unverified() -> ssl.SSLContext:
    """A client context that checks neither the chain nor the name (judged elsewhere)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@functools.cache
def verifying(cafile: str | None) -> ssl.SSLContext:
    """A client context that verifies the chain against `cafile` (None: the system's
    store) and leaves the name to CRYPTO-006."""
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    return context
