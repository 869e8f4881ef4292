"""Health: which sources work, which fail, which look dead; how the scheduled jobs last ran."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from .model import JobRun, Source
from .store import SourceState, Store, from_utc_text, job_runs, utc_text


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


JOB_RUNS_KEPT = timedelta(days=90)


def record_run(store: Store, run: JobRun) -> None:
    """Keep one run of a scheduled job; runs older than :data:`JOB_RUNS_KEPT` go."""
    with store.engine.begin() as conn:
        conn.execute(job_runs.insert().values(
            job_id=run.job_id, started_at=utc_text(run.started), finished_at=utc_text(run.finished),
            outcome=run.outcome, seconds=round(run.seconds, 3), message=run.message,
        ))
        conn.execute(job_runs.delete().where(
            job_runs.c.job_id == run.job_id, job_runs.c.started_at < utc_text(run.started - JOB_RUNS_KEPT)
        ))


def last_runs(store: Store) -> list[JobRun]:
    """The last run of every job that has run, by job id."""
    latest = sa.select(sa.func.max(job_runs.c.id)).group_by(job_runs.c.job_id)
    query = sa.select(job_runs).where(job_runs.c.id.in_(latest)).order_by(job_runs.c.job_id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    runs = []
    for row in rows:
        started = from_utc_text(row["started_at"]) or datetime.now(UTC)
        # The stored times have second precision; the duration is kept exactly.
        runs.append(JobRun(row["job_id"], started, started + timedelta(seconds=row["seconds"]), row["outcome"], row["message"]))
    return runs
