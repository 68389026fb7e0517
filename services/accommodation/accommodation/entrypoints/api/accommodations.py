"""`/v1/accommodations`: the interactive process, each case projected for the caller's
role (`domain/projections.py`); `/v1/accommodation-links`: links for employees."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from accommodation.domain.commands import IssueLink, SubmitAccommodation, TakeAction
from accommodation.domain.model import AccommodationType, Action, Arrangement, Status, Window
from accommodation.domain.projections import MANAGER_STATUS, project
from accommodation.entrypoints.api.schemas import (
    AccommodationOut,
    AccommodationPage,
    ActionIn,
    ActionNotAllowedProblem,
    CreateAccommodationIn,
    LinkIn,
    LinkOut,
    ListArgs,
)
from accommodation.service_layer.handlers import AccommodationServices
from shared.web.auth import current_principal, requires_roles, tenant_id
from shared.web.idempotency import idempotent
from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem

blp = Blueprint("accommodations", __name__, url_prefix="/v1",
                description="Accommodation cases, as each role may see them.")
EMPLOYER_ROLES = ("hr", "specialist", "manager")


def services() -> AccommodationServices:
    return current_app.extensions["bridgeline"].domain  # type: ignore[no-any-return]


def arrangement(body: dict[str, Any]) -> Arrangement:
    return Arrangement(
        schedule=tuple(Window(w["weekday"], w["start"], w["end"]) for w in body["schedule"]),
        start_date=body["start_date"], end_date=body.get("end_date"),
        hours_per_week=body.get("hours_per_week"))


def view(case: Any, *, in_list: bool = False) -> dict[str, Any]:
    today = services().clock().date()
    shown = project(case, current_principal().role, today=today)
    if in_list:  # lists are read without history and clinical fields; say so by omission
        for key in ("history", "functional_limitations", "medical_documentation"):
            shown.pop(key, None)
    return shown


def status_filter(status: str | None) -> list[str] | None:
    """A manager filters by the coarse statuses it sees, never by the raw ones."""
    if status is None:
        return None
    if current_principal().role == "manager":
        raw = [s.value for s, coarse in MANAGER_STATUS.items() if coarse == status]
        if not raw:
            raise Problem(422, "Unprocessable Content", errors={"status": [
                "Filter by pending, approved, implemented or closed."]})
        return raw
    if status not in {s.value for s in Status}:
        raise Problem(422, "Unprocessable Content", errors={"status": [
            "Not a status of an accommodation."]})
    return [status]


@blp.route("/accommodations")
class Accommodations(MethodView):
    @requires_roles("hr", "specialist")
    @idempotent
    @blp.arguments(CreateAccommodationIn)
    @blp.response(201, AccommodationOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Open an accommodation case for an employee"""
        case = services().submit(SubmitAccommodation(
            employer_id=tenant_id(), external_id=body["employee"]["external_id"],
            type=AccommodationType(body["type"]), requested=arrangement(body["requested"]),
            submitted_by=current_principal().client_id,
            functional_limitations=body.get("functional_limitations"),
            medical_documentation=body.get("medical_documentation"),
            referral_id=body.get("referral_id")))
        return view(case)

    @requires_roles(*EMPLOYER_ROLES)
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, AccommodationPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the employer's cases, newest first (never with clinical fields)"""
        items, next_cursor = services().list_for_employer(
            tenant_id(), external_id=args.get("employee_external_id"),
            statuses=status_filter(args.get("status")), overdue=args.get("overdue"),
            limit=args["limit"], cursor=args["cursor"])
        return {"data": [view(c, in_list=True) for c in items], "next_cursor": next_cursor}


@blp.route("/accommodations/<string:accommodation_id>")
class AccommodationById(MethodView):
    @requires_roles(*EMPLOYER_ROLES)
    @blp.response(200, AccommodationOut)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, accommodation_id: str) -> dict[str, Any]:
        """One case, as the caller's role may see it (specialist reads are audited)"""
        p = current_principal()
        return view(services().get(tenant_id(), accommodation_id, role=p.role,
                                   actor=p.client_id))


@blp.route("/accommodations/<string:accommodation_id>/actions")
class AccommodationActions(MethodView):
    @requires_roles("hr", "specialist")
    @blp.arguments(ActionIn)
    @blp.response(200, AccommodationOut)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, schema=ActionNotAllowedProblem, content_type=PROBLEM_MEDIA_TYPE,
                      description="The action is not possible in the case's current status")
    def post(self, body: dict[str, Any], accommodation_id: str) -> dict[str, Any]:
        """Move the case through the interactive process"""
        p = current_principal()
        case = services().act(TakeAction(
            employer_id=tenant_id(), accommodation_id=accommodation_id,
            action=Action(body["action"]), actor=p.client_id, role=p.role,
            note=body.get("note"), reason=body.get("reason"),
            granted=arrangement(body["granted"]) if body.get("granted") else None))
        return view(case)


@blp.route("/accommodation-links")
class AccommodationLinks(MethodView):
    @requires_roles("hr", "specialist")
    @idempotent
    @blp.arguments(LinkIn)
    @blp.response(201, LinkOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Give an employee a link to request an accommodation themselves"""
        token, expires_at = services().issue_link(IssueLink(
            employer_id=tenant_id(), external_id=body["employee"]["external_id"],
            created_by=current_principal().client_id, referral_id=body.get("referral_id"),
            ttl_days=body["ttl_days"]))
        base = current_app.extensions["bridgeline"].settings.public_base_url.rstrip("/")
        return {"url": f"{base}/a/{token}", "expires_at": expires_at}
