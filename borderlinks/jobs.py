"""What the scheduled jobs do: fetch, draft a review file, build and send an edition.

Each job is a plain function of the home folder, so it runs the same under
``borderlinks run`` (:mod:`borderlinks.schedule`) and called directly in a
test with a fixed clock. :func:`execute` runs one, records the run in the
store and logs it; a job never raises, its failure is a recorded outcome.

The approval flow is :func:`decide`, without side effects: approved, send;
not yet, wait and look again until the deadline; then send the automatic
selection or skip, as the edition says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from .config import Home
from .editions import Edition, ScheduleSettings, load_schedule_settings, parse_clock
from .errors import BorderlinksError, ConfigError
from .lock import hold_lock
from .logs import log_event, logger
from .model import JobRun
from .status import record_run
from .store import Store


@dataclass(frozen=True)
class Decision:
    """What to do with an edition that needs approval, and why (it is logged)."""

    action: str  # "send", "wait", "send-automatic", "skip" or "missed"
    reason: str
    next_check: datetime | None = None


def approval_deadline(edition: Edition, day: date) -> datetime:
    """When an unapproved edition stops waiting: its ``approval_deadline`` on its day, else the day's end."""
    tz = ZoneInfo(edition.timezone)
    parsed = parse_clock(edition.approval_deadline) if edition.approval_deadline else None
    if parsed is None:
        return datetime.combine(day + timedelta(days=1), clock(0, 0), tzinfo=tz)
    return datetime.combine(day, clock(*parsed), tzinfo=tz)


def decide(
    edition: Edition, day: date, *, approved: bool, now: datetime, check_every: timedelta, grace: timedelta,
    late_check: bool = False,
) -> Decision:
    """The approval flow, without side effects.

    Approved: send. Not yet: wait and look again, until the deadline; then
    send the automatic selection or skip, as the edition says. A look made
    more than ``grace`` after the deadline (the scheduler was down) sends
    nothing: it is reported as missed. The first look, at the edition's
    time, is kept on time by the scheduler's own grace.
    """
    deadline = approval_deadline(edition, day)
    shown = f"{deadline:%H:%M %Z}" if edition.approval_deadline else f"the end of {day.isoformat()}"
    if late_check and now > deadline + grace:
        late = int((now - deadline).total_seconds() // 60)
        return Decision("missed", f"{late} min past the approval deadline ({shown}), more than the {_minutes(grace)} min grace; not sent late")
    if approved:
        return Decision("send", "the review file is approved")
    if now < deadline:
        again = min(now + check_every, deadline)
        return Decision("wait", f"not approved yet; looking again at {again.astimezone(deadline.tzinfo):%H:%M %Z}, until {shown}", again)
    if edition.without_approval == "send-automatic":
        return Decision("send-automatic", f"no approval by {shown}: sending the automatic selection, as the edition says")
    return Decision("skip", f"no approval by {shown}: not sent, as the edition says (without_approval = \"skip\")")


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g}"


@dataclass(frozen=True)
class _Outcome:
    outcome: str
    message: str
    next_check: datetime | None = None
    day: date | None = None


_running: list[str] = []  # the jobs running in this process
_running_changed = threading.Condition()


@contextmanager
def _active(job_id: str) -> Iterator[None]:
    with _running_changed:
        _running.append(job_id)
    try:
        yield
    finally:
        with _running_changed:
            _running.remove(job_id)
            _running_changed.notify_all()


def running() -> list[str]:
    """The ids of the jobs running in this process."""
    with _running_changed:
        return sorted(_running)


def wait_idle(settle: float = 0.5) -> None:
    """Wait for the running jobs, and for one submitted just before a pause to start and finish."""
    with _running_changed:
        while True:
            _running_changed.wait_for(lambda: not _running)
            if not _running_changed.wait_for(lambda: bool(_running), timeout=settle):
                return


def execute(home: Home, job_id: str, *, day: date | None = None, now: datetime | None = None) -> JobRun:
    """Run one job now, record its run and log it; never raises. ``now`` fixes the clock of decisions (tests).

    A run that waits for approval says when to look again (``next_check``);
    the scheduler turns that into an ``approval:SLUG`` job.
    """
    started = datetime.now(UTC)
    clock_start = time.perf_counter()
    log_event("job.started", job=job_id, day=day)
    with _active(job_id):
        try:
            result = _dispatch(home, job_id, day, now or started)
        except BorderlinksError as e:
            result = _Outcome("failed", str(e))
        except Exception as e:  # a bug in one job must not stop the others: logged with its traceback
            logger.exception("job.crashed", extra={"fields": {"job": job_id}})
            result = _Outcome("failed", f"{type(e).__name__}: {e}")
    finished = started + timedelta(seconds=time.perf_counter() - clock_start)
    run = JobRun(job_id, started, finished, result.outcome, result.message, result.next_check, result.day)
    record(home, run)
    level = logging.WARNING if run.outcome in ("failed", "missed") else logging.INFO
    log_event("job.finished", level, job=job_id, outcome=run.outcome, seconds=round(run.seconds, 3), message=run.message)
    return run


def record(home: Home, run: JobRun) -> None:
    """Keep a run for `borderlinks status`; a store that cannot take it costs a log line, not the job."""
    try:
        with Store(home.database_url) as store:
            record_run(store, run)
    except BorderlinksError as e:
        log_event("job.unrecorded", logging.WARNING, job=run.job_id, error=str(e))


def _dispatch(home: Home, job_id: str, day: date | None, now: datetime) -> _Outcome:
    kind, _, slug = job_id.partition(":")
    if kind == "fetch":
        return _fetch(home)
    if kind == "review":
        return _review(home, slug, now)
    if kind in ("edition", "approval"):
        return _edition(home, slug, job_id, day, now, late_check=kind == "approval")
    raise ConfigError(f"unknown job {job_id!r}", fix="Restart 'borderlinks run' to rebuild the jobs from scheduler/")


def _fetch(home: Home) -> _Outcome:
    from .sources import fetch

    results = fetch(home)
    tried = [r for r in results if r.status != "skipped"]
    failed = [r for r in tried if r.status == "error"]
    for result in failed:
        log_event("fetch.failed", logging.WARNING, source=result.source_id, error=result.error)
    new = sum(r.new_items for r in results)
    message = f"{len(tried)} of {len(results)} sources due, {len(failed)} failed, {new} new items"
    return _Outcome("failed" if tried and len(failed) == len(tried) else "ok", message)


def _review(home: Home, slug: str, now: datetime, day: date | None = None) -> _Outcome:
    from .review import read_review_file
    from .workflow import edition_date, load_context, pick_editions, review_path, update_review

    context = load_context(home)
    edition = pick_editions(context, slug)[0]
    day = day or due_day(edition, now) or edition_date(edition, None, now)
    path = review_path(home, edition, day)
    if path.exists() and read_review_file(path).approved:
        return _Outcome("ok", f"{path} is approved already; left as it is")
    with Store(home.database_url) as store:
        update = update_review(context, store, edition, day)
    total = sum(len(s.entries) for s in update.review.sections)
    return _Outcome("ok", f"{update.path}: {total} candidates, {update.new} new")


def _approval_state(home: Home, edition: Edition, day: date) -> tuple[bool, str]:
    """(approved, what the review file says); a missing or broken file is not approved."""
    from .errors import ReviewFileError
    from .review import read_review_file
    from .workflow import review_path

    path = review_path(home, edition, day)
    if not path.exists():
        return False, f"no review file {path}"
    try:
        review = read_review_file(path)
    except ReviewFileError as e:
        return False, f"the review file has a mistake: {e}"
    return review.approved, f"{path}: status {review.status}"


def due_day(edition: Edition, now: datetime) -> date | None:
    """The date of the run now due: that of the schedule's latest time in the past day, in the edition's zone.

    A 23:50 edition that starts at 00:05 (the scheduler was busy or down) is
    still the previous day's. None when the edition has no schedule.
    """
    from .schedule import cron_trigger

    if not edition.schedule:
        return None
    trigger = cron_trigger(edition.schedule, edition.timezone)
    latest, moment = None, now - timedelta(days=1)
    while (found := trigger.get_next_fire_time(latest, moment)) is not None and found <= now:
        latest, moment = found, found + timedelta(microseconds=1)
    return latest.astimezone(ZoneInfo(edition.timezone)).date() if latest else None


def _edition(home: Home, slug: str, job_id: str, day: date | None, now: datetime, *, late_check: bool) -> _Outcome:
    from .workflow import edition_date, load_context, pick_editions

    settings = load_schedule_settings(home.content("scheduler"))
    context = load_context(home)
    edition = pick_editions(context, slug)[0]
    day = day or due_day(edition, now) or edition_date(edition, None, now)
    automatic = False
    if edition.needs_approval:
        approved, state = _approval_state(home, edition, day)
        decision = decide(
            edition, day, approved=approved, now=now, check_every=timedelta(minutes=settings.approval_check_every),
            grace=timedelta(minutes=settings.send_grace), late_check=late_check,
        )
        log_event("edition.decision", job=job_id, edition=slug, day=day, review=state, decision=decision.action, reason=decision.reason)
        if decision.action == "wait":
            if state.startswith("no review file"):
                drafted = _review(home, slug, now, day)  # the editor needs something to approve
                log_event("review.drafted", job=job_id, edition=slug, day=day, message=drafted.message)
            return _Outcome("waiting", decision.reason, decision.next_check, day)
        if decision.action in ("skip", "missed"):
            return _Outcome("skipped" if decision.action == "skip" else "missed", decision.reason)
        automatic = decision.action == "send-automatic"
    return _build_and_send(home, edition, day, job_id, automatic, settings)


def _build_and_send(home: Home, edition: Edition, day: date, job_id: str, automatic: bool, settings: ScheduleSettings) -> _Outcome:
    from .deliver import describe, send
    from .workflow import build

    def warn(text: str) -> None:
        log_event("send.warning", logging.WARNING, job=job_id, message=text)

    with Store(home.database_url) as store, hold_lock(store, owner=f"scheduler {job_id}", wait=settings.lock_wait):
        built = build(home, edition_slug=edition.slug, day=day, force=automatic, store=store)
        skipped = next((b.skipped for b in built if b.skipped), "")
        if skipped:
            return _Outcome("skipped", f"{edition.slug} {day}: not built: {skipped}")
        log_event("edition.built", job=job_id, edition=edition.slug, day=day, files=sum(len(b.written) for b in built))
        results = send(home, store, edition=edition.slug, day=day, force=automatic, warn=warn)
    message = "; ".join(describe(r).replace("\n", "; ") for r in results) or f"{edition.slug} {day}: nothing to send"
    if any(r.status == "stopped" for r in results):
        return _Outcome("failed", message)
    if results and all(r.status in ("nothing", "held") for r in results):
        return _Outcome("skipped", message)
    return _Outcome("ok", message)
