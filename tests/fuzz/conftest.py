"""The schemathesis tests' tally: requests sent per service and the statuses seen per
operation, printed in the terminal summary (the figures the closing note of issue 7 asks
for). Statuses an operation answered that its OpenAPI document covers only by `default`
are listed too: schema-conformant, but worth documenting explicitly."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    without_credentials: Counter[str] = field(default_factory=Counter)
    statuses: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)
    documented: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    operations_run: dict[str, set[str]] = field(default_factory=dict)


TALLY_KEY = pytest.StashKey[Tally]()


@pytest.fixture(scope="session")
def fuzz_tally(pytestconfig: pytest.Config) -> Tally:
    return pytestconfig.stash.setdefault(TALLY_KEY, Tally())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY_KEY, None)
    if tally is None or not tally.cases:
        return
    write = terminalreporter.write_line
    terminalreporter.section("schemathesis (tests/fuzz)")
    for service, count in tally.cases.items():
        operations = sorted(label for s, label in tally.statuses if s == service)
        write(f"{service}: {count} generated requests over {len(operations)} operations "
              f"({tally.without_credentials[service]} of them sent without the bearer token "
              "by schemathesis' negative mode)")
        for label in operations:
            seen = tally.statuses[(service, label)]
            documented = tally.documented.get((service, label), set())
            by_default = sorted(s for s in seen if str(s) not in documented
                                and f"{str(s)[0]}XX" not in documented)
            line = f"  {label}: " + ", ".join(f"{s}x{n}" for s, n in sorted(seen.items()))
            if by_default:
                line += f"  (only under `default`: {', '.join(map(str, by_default))})"
            write(line)
