"""The events the accommodation service consumes: the program's weekly windows
(`enrollment.started`, sent only under consent scope `schedule_needs`), from which it
pre-computes a suggested schedule change."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from accommodation.service_layer.handlers import AccommodationServices
from shared.messaging import CloudEvent


def event_handlers(
        services: AccommodationServices) -> dict[str, Callable[[Session, CloudEvent], None]]:
    def on_enrollment_started(session: Session, event: CloudEvent) -> None:
        services.record_program_schedule(session.connection(), dict(event.data))

    return {"enrollment.started": on_enrollment_started}
