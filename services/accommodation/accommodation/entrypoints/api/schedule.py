"""`POST /v1/schedule/conflicts`: where a work schedule and a program schedule collide.

A pure computation on the request alone (nothing is stored or read), so the view calls
the domain function directly; the rules are in `accommodation.domain.conflicts`.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from accommodation.domain.conflicts import ConflictReport, Session, Shift, find_conflicts
from accommodation.entrypoints.api.schedule_schemas import (
    ScheduleConflictsIn,
    ScheduleConflictsOut,
)
from shared.web.auth import requires_roles

blp = Blueprint("schedule", __name__, url_prefix="/v1/schedule",
                description="Schedule conflicts between work and a treatment program.")


@blp.route("/conflicts")
class ScheduleConflicts(MethodView):
    @requires_roles("hr", "specialist", "manager")
    @blp.arguments(ScheduleConflictsIn)
    @blp.response(200, ScheduleConflictsOut)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any]) -> ConflictReport:
        """Find every conflict between work shifts and program sessions, and the smallest fix

        A session blocks the time from its start minus `travel_minutes` to its end plus
        `travel_minutes`. Each conflicting shift keeps its longest clear stretch (a later
        start, an earlier end, or both; never a split shift), or is taken off.
        """
        return find_conflicts([Shift(**shift) for shift in body["work_schedule"]],
                              [Session(**session) for session in body["program_schedule"]],
                              body["travel_minutes"])
