"""Schedule conflicts: travel, overnight shifts, the week wrap, and the smallest change."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accommodation.domain.conflicts import (
    DAY,
    WEEK,
    WEEKDAYS,
    Session,
    Shift,
    find_conflicts,
)


def hm(text: str) -> time:
    return time.fromisoformat(text)


def shift(weekday: str, start: str, end: str) -> Shift:
    return Shift(weekday, hm(start), hm(end))


def session(weekday: str, start: str, end: str) -> Session:
    return Session(weekday, hm(start), hm(end))


def summary(report):
    """Conflicts and changes as plain tuples, so expected values read like the schedule."""
    conflicts = [(c.shift.weekday, c.session.weekday, c.kind.value, c.minutes_short)
                 for c in report.conflicts]
    changes = [(c.shift.weekday,
                c.start_at and c.start_at.strftime("%H:%M"),
                c.leave_at and c.leave_at.strftime("%H:%M"),
                c.off, c.minutes_lost) for c in report.suggestion.changes]
    return conflicts, changes


def test_no_conflict_at_all():
    report = find_conflicts([shift("mon", "09:00", "17:00"), shift("tue", "09:00", "17:00")],
                            [session("mon", "18:00", "21:00"), session("wed", "09:00", "12:00")],
                            travel_minutes=60)
    assert report.conflicts == []
    assert report.suggestion.changes == []
    assert report.suggestion.minutes_lost_per_week == 0
    assert report.suggestion.text == "No change needed."


def test_the_design_example_leave_at_17_15_on_mon_wed_and_thu():
    # Sessions start at 18:00; 45 minutes of travel means leaving by 17:15. The 17:30 end
    # is 15 minutes short on each session day; Tue and Fri have no session. The sessions
    # end at 21:00 + 45 = 21:45, long before the next 09:00 start.
    work = [shift(day, "09:00", "17:30") for day in ("mon", "tue", "wed", "thu", "fri")]
    program = [session(day, "18:00", "21:00") for day in ("mon", "wed", "thu")]
    report = find_conflicts(work, program, travel_minutes=45)
    assert summary(report) == (
        [("mon", "mon", "travel", 15), ("wed", "wed", "travel", 15),
         ("thu", "thu", "travel", 15)],
        [("mon", None, "17:15", False, 15), ("wed", None, "17:15", False, 15),
         ("thu", None, "17:15", False, 15)],
    )
    assert report.suggestion.minutes_lost_per_week == 45
    assert report.suggestion.text == "Leave at 17:15 on Mon, Wed and Thu."
    assert report.suggestion.changes[0].new_shift == shift("mon", "09:00", "17:15")


def test_a_session_spanning_the_shift_end_is_an_overlap():
    # 16:00-19:00 session, 30 min travel: blocked from 15:30; the shift ends at 17:00.
    report = find_conflicts([shift("tue", "08:00", "17:00")], [session("tue", "16:00", "19:00")],
                            travel_minutes=30)
    assert summary(report) == ([("tue", "tue", "overlap", 90)],
                               [("tue", None, "15:30", False, 90)])
    assert report.suggestion.text == "Leave at 15:30 on Tue."


def test_a_session_spanning_the_shift_start_means_starting_later():
    report = find_conflicts([shift("wed", "12:00", "20:00")], [session("wed", "10:00", "13:00")],
                            travel_minutes=15)
    assert summary(report) == ([("wed", "wed", "overlap", 75)],
                               [("wed", "13:15", None, False, 75)])
    assert report.suggestion.text == "Start at 13:15 on Wed."


def test_overnight_shift_against_an_early_saturday_session():
    # Fri 22:00 -> Sat 06:00 against Sat 05:00-07:00: leave at 05:00, on Saturday.
    report = find_conflicts([shift("fri", "22:00", "06:00")], [session("sat", "05:00", "07:00")])
    assert summary(report) == ([("fri", "sat", "overlap", 60)],
                               [("fri", None, "05:00", False, 60)])
    assert report.suggestion.changes[0].new_shift == shift("fri", "22:00", "05:00")
    assert report.suggestion.text == "Leave at 05:00 on Sat."


def test_overnight_shift_across_the_week_wrap():
    # Sun 22:00 -> Mon 06:00 against Mon 05:30-08:00 with 30 min travel: blocked from 05:00.
    report = find_conflicts([shift("sun", "22:00", "06:00")], [session("mon", "05:30", "08:00")],
                            travel_minutes=30)
    assert summary(report) == ([("sun", "mon", "overlap", 60)],
                               [("sun", None, "05:00", False, 60)])
    assert report.suggestion.text == "Leave at 05:00 on Mon."


def test_a_sunday_evening_session_delays_a_monday_night_shift_across_the_wrap():
    # Sun 21:00-23:30 plus 45 min travel blocks until Mon 00:15.
    report = find_conflicts([shift("mon", "00:00", "08:00")], [session("sun", "21:00", "23:30")],
                            travel_minutes=45)
    assert summary(report) == ([("mon", "sun", "travel", 15)],
                               [("mon", "00:15", None, False, 15)])
    assert report.suggestion.text == "Start at 00:15 on Mon."


def test_the_travel_buffer_turns_a_gap_into_a_conflict():
    work, program = [shift("thu", "09:00", "17:30")], [session("thu", "18:00", "21:00")]
    assert find_conflicts(work, program, travel_minutes=30).conflicts == []
    report = find_conflicts(work, program, travel_minutes=31)
    assert summary(report) == ([("thu", "thu", "travel", 1)], [("thu", None, "17:29", False, 1)])


def test_a_shift_entirely_inside_a_session_is_taken_off():
    report = find_conflicts([shift("tue", "18:30", "20:00"), shift("thu", "18:30", "20:00")],
                            [session("tue", "18:00", "21:00"), session("thu", "18:00", "21:00")])
    assert summary(report) == (
        [("tue", "tue", "overlap", 90), ("thu", "thu", "overlap", 90)],
        [("tue", None, None, True, 90), ("thu", None, None, True, 90)],
    )
    assert report.suggestion.changes[0].new_shift is None
    assert report.suggestion.minutes_lost_per_week == 180
    assert report.suggestion.text == "Take the 18:30-20:00 shift off on Tue and Thu."


def test_a_late_session_then_an_early_next_day_shift_starts_later_the_next_day():
    # The minimum rest is the travel time: Mon 20:00-23:00 plus 60 min is Tue 00:00, and
    # the Tue shift starting 06:00 is fine; with a session ending 23:30 and a night shift
    # starting Tue 00:00 the shift must wait until 00:30.
    program = [session("mon", "20:00", "23:30")]
    assert find_conflicts([shift("tue", "06:00", "14:00")], program, 60).conflicts == []
    report = find_conflicts([shift("tue", "00:00", "08:00")], program, travel_minutes=60)
    assert summary(report) == ([("tue", "mon", "travel", 30)],
                               [("tue", "00:30", None, False, 30)])
    assert report.suggestion.changes[0].new_shift == shift("tue", "00:30", "08:00")


def test_an_overnight_shift_moved_past_midnight_starts_on_the_next_weekday():
    # Fri 20:00-23:00 session, 60 min travel: the Fri 22:00 -> Sat 08:00 shift starts Sat 00:00.
    report = find_conflicts([shift("fri", "22:00", "08:00")], [session("fri", "20:00", "23:00")],
                            travel_minutes=60)
    assert summary(report) == ([("fri", "fri", "overlap", 120)],
                               [("fri", "00:00", None, False, 120)])
    assert report.suggestion.changes[0].new_shift == shift("sat", "00:00", "08:00")
    assert report.suggestion.text == "Start at 00:00 on Sat."


def test_a_session_in_the_middle_keeps_the_longer_end_and_is_never_split():
    # Blocked 11:30-13:30: leaving at 11:30 loses 330 min, starting at 13:30 loses 270.
    report = find_conflicts([shift("mon", "09:00", "17:00")], [session("mon", "12:00", "13:00")],
                            travel_minutes=30)
    assert summary(report)[1] == [("mon", "13:30", None, False, 270)]


def test_a_tie_prefers_leaving_early():
    # 09:00-12:30 and 13:30-17:00 are both 210 minutes clear.
    report = find_conflicts([shift("mon", "09:00", "17:00")], [session("mon", "12:30", "13:30")])
    assert summary(report)[1] == [("mon", None, "12:30", False, 270)]


def test_a_tie_prefers_the_change_touching_one_end_over_both():
    # 09:00-12:00 (start later and leave early) and 13:00-16:00 (start later) are both 180.
    report = find_conflicts([shift("fri", "08:00", "16:00")],
                            [session("fri", "07:00", "09:00"), session("fri", "12:00", "13:00")])
    assert summary(report)[1] == [("fri", "13:00", None, False, 300)]


def test_multiple_sessions_touching_one_shift():
    # Sessions cut into both ends: keep the clear middle, starting later and leaving early.
    report = find_conflicts([shift("tue", "12:00", "20:00")],
                            [session("tue", "19:00", "21:00"), session("tue", "11:00", "13:00")],
                            travel_minutes=15)
    assert summary(report) == (
        [("tue", "tue", "overlap", 75), ("tue", "tue", "overlap", 75)],
        [("tue", "13:15", "18:45", False, 150)],
    )
    assert [c.session.start for c in report.conflicts] == [hm("11:00"), hm("19:00")]
    assert report.suggestion.changes[0].new_shift == shift("tue", "13:15", "18:45")
    assert report.suggestion.text == "Start at 13:15 and leave at 18:45 on Tue."


def test_two_sessions_near_one_end_count_separately_and_cut_once():
    report = find_conflicts([shift("wed", "08:00", "18:00")],
                            [session("wed", "16:00", "16:30"), session("wed", "17:00", "19:00")],
                            travel_minutes=20)
    assert summary(report) == (
        [("wed", "wed", "overlap", 70), ("wed", "wed", "overlap", 80)],
        [("wed", None, "15:40", False, 140)],
    )


def test_output_order_is_by_weekday_then_time_whatever_the_input_order():
    work = [shift("fri", "09:00", "17:30"), shift("mon", "13:00", "17:30"),
            shift("mon", "06:00", "09:00"), shift("wed", "09:00", "17:30")]
    program = [session("fri", "17:00", "19:00"), session("wed", "17:00", "19:00"),
               session("mon", "08:00", "09:00"), session("mon", "17:00", "19:00")]
    report = find_conflicts(work, program)
    assert [(c.shift.weekday, c.shift.start, c.session.start) for c in report.conflicts] == [
        ("mon", hm("06:00"), hm("08:00")), ("mon", hm("13:00"), hm("17:00")),
        ("wed", hm("09:00"), hm("17:00")), ("fri", hm("09:00"), hm("17:00"))]
    assert find_conflicts(list(reversed(work)), list(reversed(program))) == report
    assert report.suggestion.text == "Leave at 08:00 on Mon. Leave at 17:00 on Mon, Wed and Fri."


@pytest.mark.parametrize("travel", [-1, 241])
def test_travel_is_bounded(travel):
    with pytest.raises(ValueError):
        find_conflicts([], [], travel)


def test_a_session_ends_after_it_starts_and_weekdays_are_known():
    with pytest.raises(ValueError):
        session("mon", "18:00", "18:00")
    with pytest.raises(ValueError):
        shift("monday", "09:00", "17:00")


# -- properties ---------------------------------------------------------------------------
# Quarter hours make touching and one-minute-apart edges common; any minute stays possible.
minute_of_day = st.one_of(st.integers(0, 95).map(lambda q: q * 15), st.integers(0, DAY - 1))
clock = minute_of_day.map(lambda m: time(m // 60, m % 60))
shifts = st.builds(Shift, st.sampled_from(WEEKDAYS), clock, clock)


@st.composite
def a_session(draw):
    start = draw(minute_of_day.filter(lambda m: m < DAY - 1))
    end = draw(st.one_of(st.integers(1, 24).map(lambda q: start + q * 15),
                         st.integers(start + 1, DAY - 1)).filter(lambda m: m < DAY))
    return Session(draw(st.sampled_from(WEEKDAYS)), time(start // 60, start % 60),
                   time(end // 60, end % 60))


schedules = dict(work=st.lists(shifts, max_size=8), program=st.lists(a_session(), max_size=6),
                 travel=st.one_of(st.sampled_from([0, 1, 15, 30, 45, 60, 240]),
                                  st.integers(0, 240)))


def adjusted(report, work):
    changed = {id(c.shift): c for c in report.suggestion.changes}
    return [s if id(s) not in changed else changed[id(s)].new_shift for s in work
            if id(s) not in changed or not changed[id(s)].off]


@settings(max_examples=300, deadline=None)
@given(**schedules)
def test_applying_the_suggestion_removes_every_conflict_and_adds_no_work(work, program, travel):
    report = find_conflicts(work, program, travel)
    after = adjusted(report, work)
    assert find_conflicts(after, program, travel).conflicts == []
    lost = sum(s.minutes for s in work) - sum(s.minutes for s in after)
    assert lost == report.suggestion.minutes_lost_per_week >= 0
    assert {id(c.shift) for c in report.conflicts} == {id(c.shift)
                                                        for c in report.suggestion.changes}


def blocked_minutes(program, travel):
    return {m % WEEK for s in program for m in range(s.begins - travel, s.ends + travel)}


@settings(max_examples=200, deadline=None)
@given(**schedules)
def test_each_change_keeps_the_longest_clear_stretch_minute_by_minute(work, program, travel):
    """An independent oracle: walk the shift minute by minute."""
    blocked = blocked_minutes(program, travel)
    report = find_conflicts(work, program, travel)
    changes = {id(c.shift): c for c in report.suggestion.changes}
    for s in work:
        minutes = [(s.begins + i) % WEEK in blocked for i in range(s.minutes)]
        assert (id(s) in changes) == any(minutes)
        if id(s) not in changes:
            continue
        longest, run = 0, 0
        for is_blocked in minutes:
            run = 0 if is_blocked else run + 1
            longest = max(longest, run)
        assert changes[id(s)].minutes_lost == s.minutes - longest
        assert changes[id(s)].off == (longest == 0)
