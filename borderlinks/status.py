"""Source health: which sources work, which fail, which look dead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .model import Source
from .store import SourceState, Store


@dataclass(frozen=True)
class SourceHealth:
    """One line of ``borderlinks status``."""

    source: Source
    state: SourceState | None
    items_7d: int
    dead: bool

    @property
    def failing(self) -> bool:
        return bool(self.state and self.state.consecutive_failures)

    def as_dict(self) -> dict[str, object]:
        state = self.state
        return {
            "id": self.source.id,
            "name": self.source.name,
            "enabled": self.source.enabled,
            "last_status": state.last_status if state else None,
            "last_success": state.last_success_at.isoformat() if state and state.last_success_at else None,
            "items_7d": self.items_7d,
            "consecutive_failures": state.consecutive_failures if state else 0,
            "failing_since": state.failing_since.isoformat() if state and state.failing_since else None,
            "last_error": state.last_error if state and state.consecutive_failures else None,
            "dead": self.dead,
        }


def source_health(
    sources: list[Source], store: Store, *, now: datetime | None = None, dead_after_days: int = 7
) -> list[SourceHealth]:
    """Every source's health, the failing ones first (longest failing at the top)."""
    now = now or datetime.now(UTC)
    states = store.source_states()
    counts = store.count_items(since=now - timedelta(days=7))
    rows = []
    for source in sources:
        state = states.get(source.id)
        dead = bool(
            state
            and state.consecutive_failures
            and state.failing_since
            and now - state.failing_since >= timedelta(days=dead_after_days)
        )
        rows.append(SourceHealth(source, state, counts.get(source.id, 0), dead))
    epoch = datetime.max.replace(tzinfo=UTC)
    rows.sort(key=lambda h: (not h.failing, (h.state.failing_since or epoch) if h.failing and h.state else epoch, h.source.id))
    return rows
