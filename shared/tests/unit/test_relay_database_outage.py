"""An outbox relay outlives an unreachable PostgreSQL: its LISTEN connection fails with
the driver's own error (the pool does not wrap it), which must not end the relay loop.
No server is needed: a closed port refuses the connection as a restarting server does."""

import threading
import time

from shared.db import make_engine
from shared.messaging import OutboxRelay
from shared.messaging.notify import OutboxListener
from tests.support.tcp_proxy import TcpProxy

AMQP_NOWHERE = "amqp://guest:guest@127.0.0.1:1/%2F"


def unreachable_postgresql():
    port = TcpProxy("127.0.0.1", 5432).port  # a free port nothing listens on
    return make_engine(f"postgresql://postgres@127.0.0.1:{port}/postgres")


def test_the_listener_does_not_raise_while_the_database_is_away():
    engine = unreachable_postgresql()
    listener = OutboxListener(engine)
    try:
        assert listener.enabled
        listener.ensure_listening()  # the driver's OperationalError, unwrapped: caught
        assert not listener.listening
        listener.ensure_listening()  # within the retry pause: not even tried
    finally:
        listener.close()
        engine.dispose()


def test_the_relay_loop_survives_the_database_being_away():
    engine = unreachable_postgresql()
    relay = OutboxRelay(engine, AMQP_NOWHERE, "bl.test.nowhere", reconnect_max_delay=0.2)
    # The broker is not what this is about: skip it, so that every round reaches the
    # database (the listener, then the claim, which pauses the loop).
    relay.publisher.ensure_connected = lambda: None  # type: ignore[method-assign]
    stop, died = threading.Event(), []

    def run():
        try:
            relay.run_forever(stop)
        except BaseException as exc:
            died.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        assert thread.is_alive(), died
    finally:
        stop.set()
        thread.join(5)
        engine.dispose()
    assert died == []
