"""The listening socket: dead peers are found by the kernel within a minute."""

from __future__ import annotations

import socket

from swell.server import bind_socket


def test_accepted_sockets_inherit_dead_peer_detection() -> None:
    listener = bind_socket("127.0.0.1", 0, dead_peer_seconds=40)
    listener.setblocking(True)
    client = socket.create_connection(listener.getsockname(), timeout=5)
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 40_000
        assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        interval = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
        count = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
        assert idle + interval * count <= 60
    finally:
        accepted.close()
        client.close()
        listener.close()
