"""HTTP connections that name one host and connect to another, like ``curl --connect-to``.

The sandbox serves ``https://api.sit.kimmyai.io`` on ``127.0.0.1:8443``: a request must
carry the real name (the Host header, the TLS SNI and the certificate name checked) while
the socket goes to the sandbox. Smoke tests and the load generator both need that.
"""

from __future__ import annotations

import http.client
import socket
import ssl


class PinnedConnection(http.client.HTTPConnection):
    """A connection to ``host`` (Host header, and the SNI and name checked with ``tls``)
    made to ``address`` when one is given. ``tls`` None is plain HTTP."""

    def __init__(
        self,
        host: str,
        port: int,
        address: tuple[str, int] | None,
        timeout: float,
        tls: ssl.SSLContext | None,
    ) -> None:
        # Before __init__: the Host header names the port only when it is not the default.
        self.default_port = http.client.HTTPS_PORT if tls else http.client.HTTP_PORT
        super().__init__(host, port, timeout=timeout)
        self._address = address or (host, port)
        self._tls = tls

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        # Small requests on kept-alive connections: do not wait to coalesce them.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host) if self._tls else sock
