"""Where a bench script's table goes besides stdout: `bench/results/<name>.md`, headed by
when and where it was measured (these machines are shared, so the context matters).

Quick (smoke) runs do not write: their tiny sizes would overwrite the real figures.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # Other work on a shared machine moves every figure; this says how busy it was.
        "load average (1, 5, 15 min) when written": ", ".join(
            f"{load:.2f}" for load in os.getloadavg()),
    }


def write_results(name: str, title: str, settings: dict[str, object], table: list[str],
                  notes: list[str] | None = None, path: Path | None = None) -> Path:
    """Write `table` (lines, as printed) with the machine and `settings` to a Markdown file."""
    target = path or RESULTS / f"{name}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    context = {**machine(), **{key: str(value) for key, value in settings.items()}}
    lines = [f"# {title}", "", f"`{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}`", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += ["", *table]
    if notes:
        lines += ["", *notes]
    target.write_text("\n".join(lines) + "\n")
    return target
