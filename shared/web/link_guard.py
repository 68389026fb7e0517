"""Guessing link tokens is rate-limited per client network.

Employee pages are reached through a secret in the address (a referral, manage or
accommodation link token). 256 random bits cannot be guessed, but a service should still
notice someone trying and stop answering them. Every *failed* lookup on a link route (an
unknown token, 404, or an expired one, 410) counts against the client's network; once it
has used its budget (`LINK_GUESS_BUDGET`, default 20) within its window
(`LINK_GUESS_WINDOW_SECONDS`, default 900), every request it makes to a link route gets
a 429 page with `Retry-After` until the window ends, before its token is looked up.

- Not counted: 409 (a used link: only a real token gets there), 403 (a form post without
  its CSRF token: no token was looked up), 422, successes, and the 429s themselves (a
  locked-out client does not extend its own lockout).
- The window is fixed per client: it opens at the client's first failure and lasts the
  window; the first failure after it opens a new one.
- A locked-out network gets the 429 even with a valid token: answering it would tell the
  guesser which token is real. An employee who shares a network with a guesser waits at
  most one window, and the page says how long.
- The client is `request.remote_addr`: the connection, or, behind `TRUSTED_PROXY_HOPS`
  reverse proxies, the address they forwarded (see the app factory). An IPv6 client
  counts per /64 (one host usually holds a whole /64); an IPv4-mapped address as IPv4;
  clients without an IP address (a unix socket and no trusted proxy) share one count.
- Answers that are not a 429 carry nothing of the guard (no remaining-budget header), so
  every 404, and every 410, stays the same page.
- The count lives in the service's own database, so every gunicorn worker and every
  instance shares it: table `link_guesses`, which each service with link pages creates
  in a migration of its own (referral r0002, accommodation a0002). It is one atomic
  upsert, on PostgreSQL and SQLite, so concurrent failures are never lost.
  Requests already in flight when the budget runs out still get their answer: the
  overshoot is bounded by the server threads, not by the client.
- An address is personal data: only a keyed HMAC of the network is stored (the service's
  blind index, keyed from the keyring, with the service as tenant, so one address hashes
  differently in each database), and a row is deleted once its window has passed (on
  write at most once a minute, and by the worker's sweep). Whoever holds the keyring
  could still try every IPv4 address against a hash: hence keeping it only that long.

    runtime.link_guard = GuessLimiter.from_settings(settings, runtime.engine, blind_index)
    guard_link_pages(blp, too_many=lambda seconds: error_page(429, ...))
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, make_response, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.db import NAMING_CONVENTION, UtcDateTime
from shared.web.pages import KeyedDigest

if TYPE_CHECKING:
    from shared.config import Settings

# The 429 page's title and message, the same on every service's link pages.
TOO_MANY_TITLE = "Please wait before trying again"
TOO_MANY_MESSAGE = (
    "For your safety, links are paused on your network for a while, because many links that "
    "do not work were tried from it. Try again in {wait}, with the link exactly as you "
    "received it.")

COUNTED_STATUSES = frozenset({404, 410})
LINK_ARGS = ("token", "manage_token")
DIGEST_FIELD = "link_guard_client"
UNKNOWN_NETWORK = "unknown"
PRUNE_EVERY = timedelta(minutes=1)
SWEEP_INTERVAL_SECONDS = 300.0

# Not a mechanisms-branch table: only services with link pages carry it.
link_guard_metadata = MetaData(naming_convention=NAMING_CONVENTION)
link_guesses = Table(
    "link_guesses",
    link_guard_metadata,
    Column("client_hash", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_ends_at", UtcDateTime(), nullable=False, index=True),
)


def client_network(address: str | None) -> str:
    """What a client counts as: its IPv4 address, or the /64 of its IPv6 address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return UNKNOWN_NETWORK  # e.g. a unix socket: all such clients share one count
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


@dataclass
class GuessLimiter:
    """Failed link lookups per client network, in the service's database."""

    engine: Engine
    keyed: KeyedDigest
    scope: str  # the service: the same address hashes differently in each database
    budget: int = 20
    window: timedelta = timedelta(minutes=15)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _next_prune: datetime | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine,
                      keyed: KeyedDigest) -> GuessLimiter:
        return cls(engine, keyed, settings.service, budget=settings.link_guess_budget,
                   window=timedelta(seconds=settings.link_guess_window_seconds))

    def client_hash(self, address: str | None) -> str:
        return self.keyed.digest(DIGEST_FIELD, client_network(address), tenant=self.scope)

    def lockout(self, address: str | None) -> int | None:
        """Seconds until `address` may open links again; None when it may now."""
        now = self.clock()
        t = link_guesses
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.failures, t.c.window_ends_at)
                               .where(t.c.client_hash == self.client_hash(address))).first()
        if row is None or row.failures < self.budget or row.window_ends_at <= now:
            return None
        return max(1, math.ceil((row.window_ends_at - now).total_seconds()))

    def record_failure(self, address: str | None) -> int:
        """Count one failed lookup; returns the failures in the client's current window."""
        now = self.clock()
        t = link_guesses
        with self.engine.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            new = insert(t).values(client_hash=self.client_hash(address), failures=1,
                                   window_ends_at=now + self.window)
            lapsed = t.c.window_ends_at <= now
            upsert = new.on_conflict_do_update(index_elements=[t.c.client_hash], set_={
                "failures": case((lapsed, 1), else_=t.c.failures + 1),
                "window_ends_at": case((lapsed, new.excluded.window_ends_at),
                                       else_=t.c.window_ends_at)})
            failures = int(conn.execute(upsert.returning(t.c.failures)).scalar_one())
        # In a transaction of its own: deleting other clients' rows while holding this
        # client's row lock could deadlock with another process doing the same.
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            self.prune()
        return failures

    def prune(self) -> int:
        """Delete the rows whose window has passed; returns how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(link_guesses).where(
                link_guesses.c.window_ends_at <= self.clock())).rowcount)


def too_many_message(seconds: int) -> str:
    """The 429 page's message, with the wait in whole minutes rounded up."""
    minutes = max(1, -(-seconds // 60))
    wait = "about a minute" if minutes == 1 else f"about {minutes} minutes"
    return TOO_MANY_MESSAGE.format(wait=wait)


def guard_link_pages(blp: Blueprint, too_many: Callable[[int], ResponseReturnValue],
                     link_args: tuple[str, ...] = LINK_ARGS) -> None:
    """Put every route of `blp` with a link token in its path behind the runtime's
    `GuessLimiter`: a locked-out client gets `too_many(seconds)` (the service's 429 page)
    with `Retry-After`; a 404 or 410 answer counts as a failed lookup."""

    def is_link_route() -> bool:
        return any(arg in (request.view_args or {}) for arg in link_args)

    @blp.before_request
    def refuse_locked_out_clients() -> Response | None:
        if not is_link_route():
            return None
        seconds = _limiter().lockout(request.remote_addr)
        if seconds is None:
            return None
        response = make_response(too_many(seconds))
        response.status_code = 429
        response.headers["Retry-After"] = str(seconds)
        return response

    @blp.after_request
    def count_failed_lookups(response: Response) -> Response:
        if is_link_route() and response.status_code in COUNTED_STATUSES:
            _limiter().record_failure(request.remote_addr)
        return response


def _limiter() -> GuessLimiter:
    limiter: GuessLimiter | None = current_app.extensions["bridgeline"].link_guard
    if limiter is None:  # never serve a link page unguarded
        raise RuntimeError("link pages need runtime.link_guard, set in the service's bootstrap()")
    return limiter
