"""A TCP proxy the tests control: put it between a process and RabbitMQ or PostgreSQL,
then `cut()` to make the server unreachable (existing connections drop, new ones are
refused, as a dead server would) and `restore()` to bring it back — without touching
the shared server. `TcpProxy.for_url(url)` points at a URL's host and gives `proxy.url`.

`freeze()` keeps connections open but drops whatever the clients send from then on (the
server still talks to them): a client's acknowledgements or commits are lost in the
network. `restore()` ends it for the connections made afterwards."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._frozen = False
        self.port = self._free_port()
        self.url = ""

    @classmethod
    def for_url(cls, url: str, default_port: int = 5672) -> TcpProxy:
        parts = urlsplit(url)
        proxy = cls(parts.hostname or "127.0.0.1", parts.port or default_port)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
        proxy.url = urlunsplit(parts._replace(netloc=netloc))
        return proxy

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def start(self) -> TcpProxy:
        """Listen (again), and forward what clients send again; a no-op while the proxy
        is up and not frozen."""
        self._frozen = False
        if not self.is_cut:
            return self
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        # A blocked accept() is not woken by close() from another thread, and the socket
        # would keep listening; poll instead so cut() really stops accepting.
        listener.settimeout(0.05)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    restore = start

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener:
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    stop = cut

    def freeze(self) -> None:
        """From now on, drop what clients send on every connection (see the module doc)."""
        self._frozen = True

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b, from_client in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, from_client),
                                 daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        frozen = False  # once a connection froze it stays so: its stream has a gap
        try:
            while data := src.recv(65536):
                frozen = frozen or (from_client and self._frozen)
                if not frozen:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
