"""uvicorn's HTTP protocol for ``photosync serve``, with TCP_NODELAY on every connection.

With ``--workers N`` uvicorn binds the listening socket itself and hands it to the worker
processes with ``proto`` 0; asyncio then skips TCP_NODELAY on the accepted connections, and an
answer with a body (headers and body written separately) waits for the client's delayed ACK:
about 40 ms on Linux, a photo GET falling from thousands a second to under two hundred per
connection (bench/bench_workers.py showed it; uvicorn issue #3149). Setting the option when a
connection is made fixes every path, one process or several, until uvicorn does it itself.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
