"""`POST /v1/schedule/conflicts`: the contract shape, who may call it, strict validation."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"
URL = "/v1/schedule/conflicts"
DESIGN_EXAMPLE = {
    "work_schedule": [{"weekday": day, "start": "09:00", "end": "17:30"}
                      for day in ("mon", "tue", "wed", "thu", "fri")],
    "program_schedule": [{"weekday": day, "start": "18:00", "end": "21:00"}
                         for day in ("mon", "wed", "thu")],
    "travel_minutes": 45,
}


@pytest.fixture
def api(platform):
    class Api:
        app = platform.app("accommodation")
        client = app.test_client()

        def headers(self, role="hr"):
            return {"Authorization": f"Bearer {platform.client_token(role)}"}

        def post(self, body, role="hr"):
            return self.client.post(URL, json=body, headers=self.headers(role))

    return Api()


def test_the_design_example_in_the_contract_shape(api):
    r = api.post(DESIGN_EXAMPLE)
    assert r.status_code == 200, r.json
    assert set(r.json) == {"conflicts", "suggestion"}
    assert r.json["conflicts"] == [
        {"shift": {"weekday": day, "start": "09:00", "end": "17:30"},
         "session": {"weekday": day, "start": "18:00", "end": "21:00"},
         "kind": "travel", "minutes_short": 15}
        for day in ("mon", "wed", "thu")]
    suggestion = r.json["suggestion"]
    assert suggestion["text"] == "Leave at 17:15 on Mon, Wed and Thu."
    assert suggestion["minutes_lost_per_week"] == 45
    assert suggestion["changes"][0] == {
        "shift": {"weekday": "mon", "start": "09:00", "end": "17:30"},
        "start_at": None, "leave_at": "17:15", "off": False,
        "new_shift": {"weekday": "mon", "start": "09:00", "end": "17:15"},
        "minutes_lost": 15}
    assert [c["shift"]["weekday"] for c in suggestion["changes"]] == ["mon", "wed", "thu"]


@pytest.mark.parametrize("role", ["hr", "specialist", "manager"])
def test_every_employer_role_may_call_it_and_travel_defaults_to_zero(api, role):
    body = {"work_schedule": [{"weekday": "fri", "start": "22:00", "end": "06:00"},
                              {"weekday": "tue", "start": "18:30", "end": "20:00"}],
            "program_schedule": [{"weekday": "sat", "start": "05:00", "end": "07:00"},
                                 {"weekday": "tue", "start": "18:00", "end": "21:00"}]}
    r = api.post(body, role)
    assert r.status_code == 200, r.json
    assert [(c["shift"]["weekday"], c["kind"], c["minutes_short"]) for c in r.json["conflicts"]] \
        == [("tue", "overlap", 90), ("fri", "overlap", 60)]
    tue, fri = r.json["suggestion"]["changes"]
    assert tue["off"] is True and tue["new_shift"] is None and tue["minutes_lost"] == 90
    assert fri["new_shift"] == {"weekday": "fri", "start": "22:00", "end": "05:00"}
    assert r.json["suggestion"]["text"] == \
        "Take the 18:30-20:00 shift off on Tue. Leave at 05:00 on Sat."


def test_no_conflict(api):
    r = api.post({"work_schedule": [], "program_schedule": [], "travel_minutes": 0})
    assert r.status_code == 200
    assert r.json == {"conflicts": [], "suggestion": {
        "changes": [], "minutes_lost_per_week": 0, "text": "No change needed."}}


def test_401_without_a_token(api):
    r = api.client.post(URL, json=DESIGN_EXAMPLE)
    assert r.status_code == 401 and r.mimetype == PROBLEM
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_403_for_a_provider(api):
    r = api.post(DESIGN_EXAMPLE, role="provider")
    assert r.status_code == 403 and r.mimetype == PROBLEM


def window(weekday="mon", start="18:00", end="21:00", **extra):
    return {"weekday": weekday, "start": start, "end": end, **extra}


def body(work=None, program=None, **extra):
    return {"work_schedule": [window(start="09:00", end="17:00")] if work is None else work,
            "program_schedule": [window()] if program is None else program, **extra}


BAD_BODIES = {
    "wrong weekday": (body(work=[window("monday")]),
                      {"work_schedule": {"0": {"weekday": ...}}}),
    "program ends before it starts": (body(program=[window(start="21:00", end="18:00")]),
                                      {"program_schedule": {"0": {"end": ...}}}),
    "program ends when it starts": (body(program=[window(start="18:00", end="18:00")]),
                                    {"program_schedule": {"0": {"end": ...}}}),
    "hour 25": (body(work=[window(start="25:00")]), {"work_schedule": {"0": {"start": ...}}}),
    "24:00": (body(program=[window(end="24:00")]), {"program_schedule": {"0": {"end": ...}}}),
    "seconds": (body(program=[window(end="21:00:00")]),
                {"program_schedule": {"0": {"end": ...}}}),
    "single-digit hour": (body(work=[window(start="9:00")]),
                          {"work_schedule": {"0": {"start": ...}}}),
    "not a string": (body(work=[window(start=900)]), {"work_schedule": {"0": {"start": ...}}}),
    "unknown top-level field": (body(employee="E-1"), {"employee": ...}),
    "unknown window field": (body(program=[window(note="group")]),
                             {"program_schedule": {"0": {"note": ...}}}),
    "too many windows": (body(work=[window(start="09:00", end="10:00")] * 51),
                         {"work_schedule": ...}),
    "travel 500": (body(travel_minutes=500), {"travel_minutes": ...}),
    "travel negative": (body(travel_minutes=-5), {"travel_minutes": ...}),
    "travel as a string": (body(travel_minutes="30"), {"travel_minutes": ...}),
    "travel fractional": (body(travel_minutes=7.5), {"travel_minutes": ...}),
    "missing lists": ({"travel_minutes": 30}, {"work_schedule": ..., "program_schedule": ...}),
    "overlapping program windows": (
        body(program=[window(), window("tue"), window(start="20:00", end="22:00")]),
        {"program_schedule": {"2": ...}}),
}


def matches(errors, expected):
    """Every expected field path has messages, and no other field is named."""
    assert set(errors) == set(expected), errors
    for key, inner in expected.items():
        if inner is ...:
            assert errors[key], errors
        else:
            matches(errors[key], inner)


@pytest.mark.parametrize("case", list(BAD_BODIES), ids=list(BAD_BODIES))
def test_bad_input_is_a_422_problem_naming_the_field(api, case):
    bad, expected = BAD_BODIES[case]
    r = api.post(bad)
    assert r.status_code == 422, r.json
    assert r.mimetype == PROBLEM and r.json["status"] == 422
    matches(r.json["errors"], expected)


def test_windows_may_touch_and_fifty_is_allowed(api):
    program = [window(start="18:00", end="19:00"), window(start="19:00", end="20:00")]
    work = [window(day, f"{hour:02d}:00", f"{hour:02d}:30")
            for day in ("tue", "wed", "thu", "fri", "sat") for hour in range(10)]
    assert len(work) == 50
    r = api.post(body(work=work, program=program))
    assert r.status_code == 200, r.json
    assert r.json["conflicts"] == []


def test_documented_in_openapi(api):
    spec = api.client.get("/openapi.json").json
    post = spec["paths"][URL]["post"]
    assert post["summary"].startswith("Find every conflict between work shifts")
    assert post["x-roles"] == ["hr", "specialist", "manager"]
