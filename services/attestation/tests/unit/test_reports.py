from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestation.domain.reports import (
    KINDS,
    OUTCOMES,
    CrossTable,
    ReferralOutcome,
    Sum,
    exposed_cells,
    protect,
    utilization_report,
)


def table(rows, name="t"):
    """Hand-made table: rows of counts, labelled r0.. and c0.."""
    row_labels = tuple(f"r{i}" for i in range(len(rows)))
    column_labels = tuple(f"c{j}" for j in range(len(rows[0])))
    counts = {(row_labels[i], column_labels[j]): value
              for i, row in enumerate(rows) for j, value in enumerate(row)}
    return CrossTable(name, row_labels, column_labels, counts)


def grid(rendered):
    """The rendered table as a matrix with the row totals last and the column totals last:
    None where suppressed."""
    columns = rendered["columns"]
    out = [[row["cells"][c]["count"] for c in columns] + [row["total"]["count"]]
           for row in rendered["rows"]]
    totals = rendered["totals"]
    out.append([totals["cells"][c]["count"] for c in columns] + [totals["total"]["count"]])
    return out


def hidden_positions(rendered):
    return {(i, j) for i, line in enumerate(grid(rendered))
            for j, value in enumerate(line) if value is None}


def extended(rows):
    """The true table with totals, in the same layout as `grid`."""
    out = [[*row, sum(row)] for row in rows]
    out.append([sum(col) for col in zip(*out)])
    return out


def single_line_leaks(published):
    """Cells recoverable by subtracting visible cells from a visible total of their line."""
    lines = [list(line) for line in published] + [list(col) for col in zip(*published)]
    leaks = []
    for line in lines:
        if sum(v is None for v in line) == 1:
            leaks.append(line)
    return leaks


def rank(rows):
    matrix = [list(map(Fraction, row)) for row in rows]
    r = 0
    for col in range(len(matrix[0]) if matrix else 0):
        pivot = next((i for i in range(r, len(matrix)) if matrix[i][col]), None)
        if pivot is None:
            continue
        matrix[r], matrix[pivot] = matrix[pivot], matrix[r]
        for i in range(len(matrix)):
            if i != r and matrix[i][col]:
                f = matrix[i][col] / matrix[r][col]
                matrix[i] = [a - f * b for a, b in zip(matrix[i], matrix[r])]
        r += 1
    return r


def derivable(published):
    """Independent oracle: the hidden positions whose value every solution of the published
    equations shares (a unit vector in the row space: adding it does not raise the rank)."""
    n_rows, n_cols = len(published), len(published[0])
    unknowns = [(i, j) for i in range(n_rows) for j in range(n_cols) if published[i][j] is None]
    equations = []
    for i in range(n_rows):
        equations.append({(i, j): (1 if j < n_cols - 1 else -1) for j in range(n_cols)})
    for j in range(n_cols):
        equations.append({(i, j): (1 if i < n_rows - 1 else -1) for i in range(n_rows)})
    matrix = [[eq.get(p, 0) for p in unknowns] for eq in equations]
    base = rank(matrix)
    found = set()
    for p in unknowns:
        unit = [1 if q == p else 0 for q in unknowns]
        if rank([*matrix, unit]) == base:
            found.add(p)
    return found


def check_protected(rows, rendered, min_cell=10):
    truth, published = extended(rows), grid(rendered)
    for i, line in enumerate(truth):
        for j, value in enumerate(line):
            if 0 < value < min_cell:
                assert published[i][j] is None, (i, j)
            elif published[i][j] is not None:
                assert published[i][j] == value
    assert single_line_leaks(published) == []
    primary = {(i, j) for i, line in enumerate(truth) for j, v in enumerate(line)
               if 0 < v < min_cell}
    assert not derivable(published) & primary


def test_nothing_small_nothing_hidden():
    rows = [[12, 30], [40, 0]]
    rendered = protect([table(rows)])[0]
    assert grid(rendered) == extended(rows)
    assert rendered["rows"][1]["cells"]["c1"] == {"count": 0, "suppressed": False}


def test_naive_suppression_leaks_and_complements_stop_it():
    rows = [[5, 20, 30], [40, 50, 60], [70, 80, 90]]
    naive = extended(rows)
    naive[0][0] = None
    assert single_line_leaks(naive)            # 55 - 20 - 30 = 5: the naive table leaks
    assert derivable(naive) == {(0, 0)}
    rendered = protect([table(rows)])[0]
    assert rendered["rows"][0]["cells"]["c0"] == {"count": None, "suppressed": True}
    # the row's smallest (20) hides; that leaves column c1 with one hidden cell, so its
    # smallest visible (50) hides, and column c0 likewise hides 40: a closed 2x2 block
    assert hidden_positions(rendered) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert rendered["rows"][0]["total"]["count"] == 55      # totals stay visible
    check_protected(rows, rendered)


def test_complement_that_creates_a_crossing_single_suppression_is_followed_up():
    # r0 has one small cell; its complement (c2 = 11) is the only hidden cell of column c2,
    # whose next complement (r1, c2 = 12) leaves row r1 with one hidden cell, and so on.
    rows = [[50, 60, 11, 7], [70, 80, 12, 90], [13, 95, 99, 98]]
    rendered = protect([table(rows)])[0]
    check_protected(rows, rendered)
    published = grid(rendered)
    assert all(sum(v is None for v in line) != 1 for line in published)
    assert len(hidden_positions(rendered)) >= 4


def test_two_hidden_blocks_joined_by_one_cell_leak_through_combined_totals():
    rows = [[5, 5, 100, 100], [5, 5, 3, 100], [100, 100, 5, 5], [100, 100, 5, 5]]
    naive = extended(rows)
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)]:
        naive[i][j] = None
    assert single_line_leaks(naive) == []      # every line has 0 or at least 2 hidden
    assert derivable(naive) == {(1, 2)}        # yet r0 + r1 - c0 - c1 + ... gives 3
    rendered = protect([table(rows)])[0]
    check_protected(rows, rendered)


def test_small_totals_are_hidden_and_protected_too():
    rows = [[3, 4], [30, 40]]                  # r0's total is 7
    rendered = protect([table(rows)])[0]
    assert rendered["rows"][0]["total"]["suppressed"] is True
    check_protected(rows, rendered)


def test_a_table_of_only_small_counts_hides_every_non_zero_number():
    rows = [[1, 2], [0, 3]]
    rendered = protect([table(rows)])[0]
    published = grid(rendered)
    assert all(v is None for line in published for v in line if v != 0)
    check_protected(rows, rendered)


def test_exposed_cells_sees_through_a_single_sum():
    key = ("t", "r0", "c0")
    sums = [Sum((key, ("t", "r0", "c1")), ("t", "r0", "total"))]
    assert exposed_cells({key}, sums, {key}) == {key}
    assert exposed_cells({key}, sums, {key, ("t", "r0", "c1")}) == set()


def facts(kind_outcome_month_counts):
    return [ReferralOutcome(kind, outcome, month)
            for (kind, outcome, month), n in kind_outcome_month_counts.items() for _ in range(n)]


def test_report_shape_and_linked_tables():
    rows = facts({("formal", "invited", "2027-01"): 30, ("formal", "engaged", "2027-01"): 25,
                  ("supervisory", "invited", "2027-02"): 40,
                  ("supervisory", "completed", "2027-02"): 20,
                  ("return_to_work", "discontinued", "2027-02"): 4,
                  ("formal", "discontinued", "2027-01"): 11})
    report = utilization_report(rows)
    assert report["min_cell"] == 10
    by_kind, by_month = report["by_kind"], report["by_month"]
    assert by_kind["columns"] == list(OUTCOMES)
    assert [r["label"] for r in by_kind["rows"]] == list(KINDS)
    assert [r["label"] for r in by_month["rows"]] == ["2027-01", "2027-02"]
    # the 4 hides in by_kind; by_month shows discontinued per month (11 and 4), so the
    # shared column total and February's 4 must not let it out there either
    rtw = next(r for r in by_kind["rows"] if r["label"] == "return_to_work")
    assert rtw["cells"]["discontinued"]["suppressed"] is True
    feb = next(r for r in by_month["rows"] if r["label"] == "2027-02")
    assert feb["cells"]["discontinued"]["suppressed"] is True
    assert by_kind["totals"] == by_month["totals"]         # one set of shared totals
    for rendered in (by_kind, by_month):
        assert single_line_leaks(grid(rendered)) == []
        assert all(c["count"] is None or c["count"] == 0 or c["count"] >= 10
                   for c in _all_cells(rendered))


def _all_cells(rendered):
    for row in rendered["rows"]:
        yield from row["cells"].values()
        yield row["total"]
    yield from rendered["totals"]["cells"].values()
    yield rendered["totals"]["total"]


def test_report_refuses_unknown_categories():
    with pytest.raises(ValueError):
        utilization_report([ReferralOutcome("self", "invited", "2027-01")])


def test_empty_report():
    report = utilization_report([])
    assert report["by_month"]["rows"] == []
    assert report["by_kind"]["totals"]["total"] == {"count": 0, "suppressed": False}


small_heavy = st.one_of(st.integers(0, 12), st.integers(0, 60))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5).flatmap(
    lambda width: st.lists(st.lists(small_heavy, min_size=width, max_size=width),
                           min_size=1, max_size=5)))
def test_no_suppressed_cell_can_be_recovered(rows):
    rendered = protect([table(rows)])[0]
    check_protected(rows, rendered)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from(KINDS), st.sampled_from(OUTCOMES),
                                 st.sampled_from(["2027-01", "2027-02", "2027-03"])),
                       st.integers(0, 25), max_size=20))
def test_report_tables_never_leak_through_one_line(counts):
    report = utilization_report(facts(counts))
    for rendered in (report["by_kind"], report["by_month"]):
        published = grid(rendered)
        assert single_line_leaks(published) == []
        assert not any(v is not None and 0 < v < 10 for line in published for v in line)
