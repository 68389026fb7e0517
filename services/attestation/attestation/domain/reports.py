"""Utilization reports: counts of referrals by kind and outcome, and by month and outcome,
with small-cell suppression.

The rule, on every published number (cells, row and column totals, the grand total):

1. Primary suppression: a count from 1 to `min_cell - 1` is hidden (zeros are shown).
2. Complementary suppression: every published sum (a row with its total, a column with
   its total, the totals with the grand total) relates its members linearly, so a sum
   with exactly one hidden member gives it away. Such a sum hides one more member: the
   smallest non-zero cell, else its total, else a zero. Repeated to a fixed point, since
   each new hidden member may leave a crossing sum with a single hidden member.
3. A single sum is not the only attack: sums combine (two hidden blocks joined by one
   hidden cell give that cell away through the totals of either block). So the fixed
   point is checked by linear algebra: a primary cell is exposed when its value is the
   same in every solution of the published equations (its column of the reduced system
   has a pivot and nothing free). An exposed cell hides one more neighbour, and the
   whole is repeated. Hiding everything protects every non-zero cell, so this ends.

Totals are therefore shown unless they are small themselves or needed as a complement,
and then only when no hidden cell can be derived from them. The two tables of a report
share their outcome totals and grand total, so they are protected together. What remains
is bounds inference (counts are non-negative), which exact suppression does not address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

KINDS = ("supervisory", "formal", "return_to_work")
OUTCOMES = ("invited", "engaged", "completed", "discontinued")
TOTAL = "total"
MIN_CELL = 10

Key = tuple[str, str, str]  # (table, row label or TOTAL, column label or TOTAL)


@dataclass(frozen=True)
class ReferralOutcome:
    """One employer referral in the reporting window (self-referrals are never passed)."""

    kind: str
    outcome: str
    month: str  # "2027-01"
    count: int = 1  # how many such referrals (the repository counts them in SQL)


@dataclass(frozen=True)
class CrossTable:
    """Counts of one population by row category and column category. Tables protected
    together must count the same population over the same columns."""

    name: str
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    counts: Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class Sum:
    parts: tuple[Key, ...]
    total: Key

    @property
    def members(self) -> tuple[Key, ...]:
        return (*self.parts, self.total)


def utilization_report(rows: Iterable[ReferralOutcome], *,
                       min_cell: int = MIN_CELL) -> dict[str, Any]:
    facts = list(rows)
    for fact in facts:
        if fact.kind not in KINDS or fact.outcome not in OUTCOMES:
            raise ValueError(f"unknown kind or outcome: {fact.kind}, {fact.outcome}")
    months = tuple(sorted({fact.month for fact in facts}))
    by_kind = CrossTable("by_kind", KINDS, OUTCOMES,
                         _count(((f.kind, f.outcome), f.count) for f in facts))
    by_month = CrossTable("by_month", months, OUTCOMES,
                          _count(((f.month, f.outcome), f.count) for f in facts))
    rendered = protect([by_kind, by_month], min_cell=min_cell)
    return {"min_cell": min_cell, "by_kind": rendered[0], "by_month": rendered[1]}


def protect(tables: Sequence[CrossTable], *, min_cell: int = MIN_CELL) -> list[dict[str, Any]]:
    """Each table with its totals, small cells and their complements hidden."""
    values, sums = _equations(tables)
    hidden = suppress(values, sums, min_cell=min_cell)
    return [_render(table, values, hidden) for table in tables]


def suppress(values: Mapping[Key, int], sums: Sequence[Sum], *,
             min_cell: int = MIN_CELL) -> frozenset[Key]:
    """The members to hide so that no primary cell can be derived (module doc)."""
    primary = {key for key, value in values.items() if 0 < value < min_cell}
    hidden = set(primary)
    while True:
        _close_single_hidden(values, sums, hidden)
        exposed = exposed_cells(primary, sums, hidden)
        if not exposed:
            return frozenset(hidden)
        hidden.add(_complement(min(exposed), values, sums, hidden))


def exposed_cells(targets: Iterable[Key], sums: Sequence[Sum],
                  hidden: set[Key]) -> set[Key]:
    """The targets whose value the published sums fix, whatever the hidden values."""
    unknowns = sorted(hidden)
    column = {key: index for index, key in enumerate(unknowns)}
    matrix = []
    for equation in sums:
        row = [Fraction(0)] * len(unknowns)
        for key in equation.parts:
            if key in column:
                row[column[key]] += 1
        if equation.total in column:
            row[column[equation.total]] -= 1
        if any(row):
            matrix.append(row)
    pivots = _reduce(matrix, len(unknowns))
    fixed = {unknowns[col] for col, row in pivots.items()
             if all(value == 0 for index, value in enumerate(matrix[row])
                    if index != col and index not in pivots)}
    return {key for key in targets if key in fixed}


def _close_single_hidden(values: Mapping[Key, int], sums: Sequence[Sum],
                         hidden: set[Key]) -> None:
    changed = True
    while changed:
        changed = False
        for equation in sums:
            if sum(key in hidden for key in equation.members) == 1:
                hidden.add(_pick([k for k in equation.members if k not in hidden], values))
                changed = True


def _complement(key: Key, values: Mapping[Key, int], sums: Sequence[Sum],
                hidden: set[Key]) -> Key:
    near = [k for equation in sums if key in equation.members
            for k in equation.members if k not in hidden]
    return _pick(near or [k for k in values if k not in hidden], values)


def _pick(candidates: list[Key], values: Mapping[Key, int]) -> Key:
    """Prefer a non-zero cell, then a total, then a zero; the smallest; then by name."""
    def cost(key: Key) -> tuple[bool, bool, int, Key]:
        return (values[key] == 0, TOTAL in key[1:], values[key], key)
    return min(candidates, key=cost)


def _reduce(matrix: list[list[Fraction]], width: int) -> dict[int, int]:
    """Reduced row echelon form in place; returns pivot column -> row."""
    pivots: dict[int, int] = {}
    row = 0
    for col in range(width):
        found = next((r for r in range(row, len(matrix)) if matrix[r][col] != 0), None)
        if found is None:
            continue
        matrix[row], matrix[found] = matrix[found], matrix[row]
        lead = matrix[row][col]
        matrix[row] = [value / lead for value in matrix[row]]
        for other in range(len(matrix)):
            if other != row and matrix[other][col] != 0:
                factor = matrix[other][col]
                matrix[other] = [a - factor * b for a, b in zip(matrix[other], matrix[row],
                                                                strict=True)]
        pivots[col] = row
        row += 1
    return pivots


def _equations(tables: Sequence[CrossTable]) -> tuple[dict[Key, int], list[Sum]]:
    """Every published number and every sum relating them. Column totals and the grand
    total are shared by all tables (same population, same columns)."""
    columns = tables[0].column_labels
    values: dict[Key, int] = {}
    sums: list[Sum] = []
    grand: Key = ("", TOTAL, TOTAL)
    for table in tables:
        if table.column_labels != columns:
            raise ValueError("tables protected together need the same columns")
        for label in table.row_labels:
            cells = tuple((table.name, label, column) for column in columns)
            for key in cells:
                values[key] = table.counts.get(key[1:], 0)
            values[(table.name, label, TOTAL)] = sum(values[key] for key in cells)
            sums.append(Sum(cells, (table.name, label, TOTAL)))
        for column in columns:
            parts = tuple((table.name, label, column) for label in table.row_labels)
            sums.append(Sum(parts, ("", TOTAL, column)))
        sums.append(Sum(tuple((table.name, label, TOTAL) for label in table.row_labels), grand))
    for column in columns:
        values[("", TOTAL, column)] = sum(values[(tables[0].name, label, column)]
                                          for label in tables[0].row_labels)
    values[grand] = sum(values[("", TOTAL, column)] for column in columns)
    sums.append(Sum(tuple(("", TOTAL, column) for column in columns), grand))
    for table in tables[1:]:
        if sum(table.counts.values()) != values[grand]:
            raise ValueError("tables protected together must count the same population")
    return values, sums


def _render(table: CrossTable, values: Mapping[Key, int],
            hidden: frozenset[Key]) -> dict[str, Any]:
    def cell(key: Key) -> dict[str, Any]:
        if key in hidden:
            return {"count": None, "suppressed": True}
        return {"count": values[key], "suppressed": False}

    return {
        "columns": list(table.column_labels),
        "rows": [{"label": label,
                  "cells": {column: cell((table.name, label, column))
                            for column in table.column_labels},
                  "total": cell((table.name, label, TOTAL))} for label in table.row_labels],
        "totals": {"cells": {column: cell(("", TOTAL, column))
                             for column in table.column_labels},
                   "total": cell(("", TOTAL, TOTAL))},
    }


def _count(pairs: Iterable[tuple[tuple[str, str], int]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for pair, n in pairs:
        counts[pair] = counts.get(pair, 0) + n
    return counts
