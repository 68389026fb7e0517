"""Messaging between services over RabbitMQ (DESIGN.md section 2).

Writing an event, in the same transaction as the state change it describes:

    outbox = Outbox(cipher)
    with sessions.begin() as session:
        session.add(referral)
        outbox.add(session, CloudEvent(
            type="referral.created", source="/referral", subject=referral.id,
            tenant=referral.employer_id, key_subject=referral.employee_subject,
            data={"referral_id": referral.id, "employee": {"name": name}},
            sensitive_fields=("employee.name",)))

Publishing and consuming (each in its own thread or process):

    OutboxRelay(engine, amqp_url, exchange).run_forever(stop)
    ConsumerRunner(engine, amqp_url, exchange, "accommodation",
                   {"referral.created": on_referral_created}, cipher).run_forever(stop)
"""

from shared.messaging.amqp import Backoff, ConfirmingPublisher, Outcome
from shared.messaging.applier import Delivery, EventApplier, Handler, Verdict
from shared.messaging.consumer import ConsumerRunner, ConsumerStats
from shared.messaging.deadletter import DeadLetter, DeadLetterQueue
from shared.messaging.envelope import CloudEvent, MalformedEvent
from shared.messaging.outbox import Announced, Outbox, Write, pending_count, requeue_parked
from shared.messaging.relay import OutboxRelay
from shared.messaging.sealing import EventSealer
from shared.messaging.tables import inbox, outbox
from shared.messaging.topology import Topology
from shared.messaging.tracing import current_traceparent, traced

__all__ = [
    "Announced", "Backoff", "CloudEvent", "ConfirmingPublisher", "ConsumerRunner",
    "ConsumerStats", "DeadLetter", "DeadLetterQueue", "Delivery", "EventApplier",
    "EventSealer", "Handler", "MalformedEvent", "Outbox", "OutboxRelay", "Outcome",
    "Topology", "Verdict", "Write", "current_traceparent", "inbox", "outbox",
    "pending_count", "requeue_parked", "traced",
]
