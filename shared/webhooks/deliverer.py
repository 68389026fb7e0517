"""`WebhookDeliverer`: sends pending deliveries, records every attempt, retries on schedule.

One batch: claim due rows (a short transaction; see `claim_due`), look up each endpoint,
decrypt each body, sign it with every live secret of the endpoint, POST the batch
concurrently (one thread per delivery, so one slow receiver does not hold up the
others), then record the outcomes in one short transaction. No transaction is open
while waiting for a receiver. Each claim is a lease: if a deliverer dies mid-batch its
rows become due again when the lease lapses and are sent again, so delivery is at least
once and receivers deduplicate on `webhook-id` (the delivery id), as the standard asks.

Several deliverers may run at once on PostgreSQL (disjoint claims, `FOR UPDATE SKIP
LOCKED`). On SQLite run one: claims serialise on the single write lock, so a second
would not double-send, but it only competes for that lock.

The `now` a batch runs at decides what is due and when the next attempt will be (an
injected clock tests the schedule without sleeping); the `webhook-timestamp` header is
always the real time of sending, since receivers check it against their own clock.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.crypto import DecryptionError, Erased
from shared.webhooks.deliveries import (
    AttemptRecord,
    ClaimedDelivery,
    PayloadCipher,
    claim_due,
    prune_delivered,
    record_outcome,
)
from shared.webhooks.endpoints import EndpointDirectory
from shared.webhooks.received import RECEIVED_RETENTION, prune_received
from shared.webhooks.schedule import RETRY_SCHEDULE, NextStep, next_step, parse_retry_after
from shared.webhooks.signing import signed_headers
from shared.webhooks.urls import UnsafeEndpointUrl, validate_endpoint_url

log = logging.getLogger("bridgeline.webhooks.deliverer")
MAX_TIMEOUT_SECONDS = 15.0
USER_AGENT = "Bridgeline-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What one HTTP attempt got back: a status code, or the class of the error."""

    status_code: int | None
    error_class: str | None = None
    retry_after: str | None = None
    duration_ms: int = 0


@dataclass(frozen=True)
class OutboundRequest:
    claim: ClaimedDelivery
    url: str = field(repr=False)
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    claim: ClaimedDelivery
    step: NextStep
    answer: Answer | None  # None when nothing was attempted (abandoned beforehand)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How a deliverer paces itself; the defaults are the production ones."""

    batch_size: int = 8                   # deliveries claimed, and sent concurrently, at once
    poll_interval: float = 1.0            # seconds to wait when nothing was due
    timeout: tuple[float, float] = (5.0, 10.0)   # connect, read: at most 15 s together
    lease: timedelta = timedelta(minutes=2)      # how long a claim keeps others away
    schedule: tuple[timedelta, ...] = RETRY_SCHEDULE
    delivered_retention: timedelta = timedelta(days=30)
    received_retention: timedelta = RECEIVED_RETENTION
    prune_interval: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if sum(self.timeout) > MAX_TIMEOUT_SECONDS:
            raise ValueError(f"connect + read timeout must be at most {MAX_TIMEOUT_SECONDS} s")
        if self.lease.total_seconds() <= 2 * sum(self.timeout):
            raise ValueError("the claim lease must comfortably outlast an attempt")


class WebhookDeliverer:
    def __init__(self, engine: Engine, endpoints: EndpointDirectory, cipher: PayloadCipher,
                 http: requests.Session | None = None, *, allow_insecure_urls: bool = False,
                 policy: DeliveryPolicy | None = None, rng: random.Random | None = None,
                 clock: Callable[[], datetime] | None = None,
                 signing_clock: Callable[[], float] = time.time) -> None:
        """`allow_insecure_urls` is `settings.is_dev` (http and local receivers);
        `clock` decides what is due, `signing_clock` stamps `webhook-timestamp`."""
        self.engine = engine
        self.endpoints = endpoints
        self.cipher = cipher
        self.http = http or requests.Session()
        self.allow_insecure_urls = allow_insecure_urls
        self.policy = policy or DeliveryPolicy()
        self.rng = rng or random.Random()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.signing_clock = signing_clock
        self._last_prune: datetime | None = None

    def deliver_due(self, now: datetime | None = None) -> int:
        """Attempt every delivery due at `now` (default: the clock), batch after batch;
        returns how many were handled (sent, or abandoned without sending)."""
        handled = 0
        while True:
            count = self.deliver_batch(now or self.clock())
            handled += count
            if count < self.policy.batch_size:
                return handled

    def deliver_batch(self, now: datetime) -> int:
        """Claim, send and record one batch (see the module doc); returns its size."""
        with self.engine.begin() as connection:
            claims = claim_due(connection, now, self.policy.batch_size, self.policy.lease)
        if not claims:
            return 0
        prepared = {claim.id: self._prepare(claim) for claim in claims}
        answers = self._send_all([p for p in prepared.values() if isinstance(p, OutboundRequest)])
        outcomes = [self._outcome(claim, prepared[claim.id], answers, now) for claim in claims]
        self._record(outcomes, now)
        return len(claims)

    def run_forever(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set; survives database and receiver outages."""
        failures = 0
        while not stop.is_set():
            try:
                handled = self.deliver_batch(self.clock())
                self._prune_when_due()
                failures = 0
                if handled < self.policy.batch_size:
                    stop.wait(self.policy.poll_interval)
            except Exception as exc:  # a background loop must outlive any one batch
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("webhook deliverer paused", exc_info=not isinstance(
                    exc, SQLAlchemyError), extra={"fields": {
                        "exc_type": type(exc).__name__, "retry_in_s": delay}})
                stop.wait(delay)

    # -- one delivery ------------------------------------------------------------------
    def _prepare(self, claim: ClaimedDelivery) -> OutboundRequest | Answer | NextStep:
        """The signed request to send, a failed attempt (`Answer`) when the endpoint
        cannot be sent to now, or the final step when the delivery must be abandoned."""
        endpoint = self.endpoints.get(claim.endpoint_id)
        if endpoint is None:
            return NextStep("abandoned", reason="endpoint_unknown")
        if endpoint.disabled:
            return NextStep("abandoned", reason="endpoint_disabled")
        body = self._open(claim)
        if isinstance(body, NextStep):
            return body
        try:
            validate_endpoint_url(endpoint.url, allow_insecure=self.allow_insecure_urls)
            headers = signed_headers(claim.id, int(self.signing_clock()), body, endpoint.secrets)
        except UnsafeEndpointUrl:
            return Answer(None, "UnsafeEndpointUrl")
        except ValueError:  # no secret, or one that is not a whsec_ secret
            return Answer(None, "InvalidSigningSecret")
        headers["user-agent"] = USER_AGENT
        return OutboundRequest(claim, endpoint.url, body, headers)

    def _open(self, claim: ClaimedDelivery) -> bytes | NextStep:
        try:
            plaintext = self.cipher.decrypt(claim.payload_ciphertext, subject=claim.subject,
                                            aad=claim.payload_aad)
        except DecryptionError:
            log.error("webhook payload does not decrypt", extra={"fields": {
                "delivery_id": claim.id, "event_type": claim.event_type}})
            return NextStep("abandoned", reason="payload_unreadable")
        if isinstance(plaintext, Erased) or not isinstance(plaintext, str):
            return NextStep("abandoned", reason="subject_erased")
        return plaintext.encode("utf-8")

    def _send_all(self, outbound: list[OutboundRequest]) -> dict[str, Answer]:
        if not outbound:
            return {}
        with ThreadPoolExecutor(max_workers=len(outbound),
                                thread_name_prefix="webhook-send") as pool:
            answers = pool.map(self._send, outbound)
            return {request.claim.id: answer for request, answer in zip(outbound, answers,
                                                                          strict=True)}

    def _send(self, outbound: OutboundRequest) -> Answer:
        started = time.monotonic()
        try:
            # stream=True: we read the status and headers, never the body.
            response = self.http.post(
                outbound.url, data=outbound.body, headers=outbound.headers,
                timeout=self.policy.timeout, allow_redirects=False, stream=True)
        except Exception as exc:  # any failure to get an answer is a failed attempt
            return Answer(None, type(exc).__name__[:40], None, _ms_since(started))
        with response:
            return Answer(response.status_code, None, response.headers.get("Retry-After"),
                          _ms_since(started))

    def _outcome(self, claim: ClaimedDelivery, prepared: OutboundRequest | Answer | NextStep,
                 answers: dict[str, Answer], now: datetime) -> Outcome:
        if isinstance(prepared, NextStep):
            return Outcome(claim, prepared, None)
        answer = answers[claim.id] if isinstance(prepared, OutboundRequest) else prepared
        retry_after = parse_retry_after(answer.retry_after, now)
        step = next_step(claim.attempt, answer.status_code, answer.error_class, retry_after,
                         now, self.rng, self.policy.schedule)
        return Outcome(claim, step, answer)

    # -- bookkeeping -------------------------------------------------------------------
    def _record(self, outcomes: list[Outcome], now: datetime) -> None:
        with self.engine.begin() as connection:
            for outcome in outcomes:
                answer = outcome.answer
                attempt = None if answer is None else AttemptRecord(
                    now, answer.duration_ms, answer.status_code, answer.error_class)
                kept = record_outcome(connection, outcome.claim, outcome.step, attempt, now)
                _log_outcome(outcome, kept)
        for endpoint_id in {o.claim.endpoint_id for o in outcomes if o.step.disable_endpoint}:
            self._disable(endpoint_id)

    def _disable(self, endpoint_id: str) -> None:
        try:
            self.endpoints.disable(endpoint_id, "410 Gone from the receiver")
        except Exception as exc:  # the outcome is recorded; the next 410 disables again
            log.warning("could not disable webhook endpoint", extra={"fields": {
                "endpoint_id": endpoint_id, "exc_type": type(exc).__name__}})

    def _prune_when_due(self) -> None:
        now = self.clock()
        if self._last_prune is not None and now - self._last_prune < self.policy.prune_interval:
            return
        with self.engine.begin() as connection:
            deliveries = prune_delivered(connection, now - self.policy.delivered_retention)
            received = prune_received(connection, now - self.policy.received_retention)
        self._last_prune = now
        if deliveries or received:
            log.info("webhook tables pruned", extra={"fields": {
                "deliveries": deliveries, "received_ids": received}})


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _log_outcome(outcome: Outcome, kept: bool) -> None:
    claim, step, answer = outcome.claim, outcome.step, outcome.answer
    fields = {"delivery_id": claim.id, "endpoint_id": claim.endpoint_id,
              "event_type": claim.event_type, "attempt": claim.attempt,
              "outcome": step.status, "reason": step.reason,
              "status_code": answer.status_code if answer else None,
              "duration_ms": answer.duration_ms if answer else None}
    if not kept:
        log.warning("webhook claim lapsed before its outcome was recorded",
                    extra={"fields": fields})
    elif step.status == "abandoned" and step.reason != "gone":
        log.warning("webhook delivery abandoned", extra={"fields": fields})
    else:
        log.info("webhook attempt", extra={"fields": fields})
