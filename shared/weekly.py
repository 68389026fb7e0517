"""Weekly time windows, the one schedule shape every service and event uses:
`{"weekday": "mon", "start": "18:00", "end": "21:00"}` (same day, end after start)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    """A weekly time window: `Window("tue", time(16), time(20, 30))`."""

    weekday: str
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.weekday not in WEEKDAYS:
            raise ValueError(f"weekday must be one of {', '.join(WEEKDAYS)}")
        if self.end <= self.start:
            raise ValueError("a window ends after it starts")

    def to_dict(self) -> dict[str, str]:
        return {"weekday": self.weekday, "start": self.start.strftime("%H:%M"),
                "end": self.end.strftime("%H:%M")}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Window:
        return cls(data["weekday"], time.fromisoformat(data["start"]),
                   time.fromisoformat(data["end"]))
