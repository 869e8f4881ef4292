"""The scheduler: ``borderlinks run`` fetches, drafts review files, builds and sends on time.

Built on APScheduler 3 with its job store in our database (the table
``apscheduler_jobs``), so the jobs and their next run times survive a restart.
The jobs come from ``scheduler/`` (the editions and ``schedule.toml``)::

    fetch            every `fetch_every` minutes; each source still waits its own `every`
    review:SLUG      at `review_at` on the edition's days, in its time zone: draft the review file
                     (editions that need approval)
    edition:SLUG     at the edition's `schedule` (cron) in its `timezone`: build, then send
    approval:SLUG    while an edition waits for its editor: look again every `approval_check_every`
                     minutes until its `approval_deadline`, then send the automatic selection or skip

Under trouble: every job coalesces its missed runs into one (a scheduler down
for the night fetches once, not twelve times) and runs one instance at a time;
an edition that would start more than `send_grace` minutes late is reported as
missed, never sent late by surprise; builds and sends hold the build-send lock
(:mod:`borderlinks.lock`), so a manual one and a scheduled one never overlap;
SIGINT and SIGTERM stop the scheduler once the running jobs have finished.

What each job does is in :mod:`borderlinks.jobs`. Every run of a job is
recorded (``job_runs``, shown by ``borderlinks status``) and every event is
logged on one line (:mod:`borderlinks.logs`), as JSON with ``--log-json``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED, BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Home
from .editions import Edition, ScheduleSettings, load_editions, load_schedule_settings, parse_clock
from .errors import ConfigError, ConfigErrors
from .jobs import execute, record, running, wait_idle
from .lock import SCHEDULER, hold_lock, refresh
from .logs import configure_logging, log_event, remove_logging
from .model import JobRun
from .store import Store

JOB_FUNCTION = "borderlinks.schedule:run_job"
JOBS_TABLE = "apscheduler_jobs"
LOCK_REFRESH = 60.0  # seconds between refreshes of the scheduler's lock row
LOCK_TTL = timedelta(minutes=5)  # a scheduler on another host that stopped refreshing is gone after this

_current: BaseScheduler | None = None  # the scheduler of `borderlinks run` in this process, for approval checks


# -- triggers: cron in a named time zone ----------------------------------------------------------

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class EditionTrigger(CronTrigger):
    """A cron trigger that fires once per wall-clock time.

    When clocks go back, 01:30 happens twice; APScheduler would fire at both.
    A time skipped when clocks go forward (02:30) fires once, an hour later by
    the clock (03:30). Pickled into the job store by reference: keep its name.
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        found = super().get_next_fire_time(previous_fire_time, now)
        if found is not None and previous_fire_time is not None and _wall(found, self.timezone) == _wall(previous_fire_time, self.timezone):
            after = found.astimezone(UTC) + timedelta(microseconds=1)  # wall-clock arithmetic would lose the fold
            found = super().get_next_fire_time(found, after)
        return found


def _wall(moment: datetime, zone: Any) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def cron_trigger(expression: str, timezone: str) -> EditionTrigger:
    """A classic five-field cron expression (minute hour day month weekday) in a zoneinfo time zone.

    Weekdays are classic cron's: 0 and 7 are Sunday (APScheduler 3 alone
    would count 0 as Monday). Raises ``ValueError`` saying what is wrong.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday), not {len(fields)}")
    minute, hour, day, month, weekday = fields
    return EditionTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=cron_weekdays(weekday), timezone=zone(timezone)
    )


def cron_weekdays(text: str) -> str:
    """Classic cron's weekday field as APScheduler reads it: ``"1-5"`` → ``"mon,tue,wed,thu,fri"``."""
    text = text.strip().lower()
    if text in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"weekday step {step_text!r} is not a positive number")
        step = int(step_text) if step_text else 1
        if body == "*":
            low, high = 0, 6
        elif "-" in body:
            first, _, last = body.partition("-")
            low, high = _weekday(first), _weekday(last)
            if high < low:
                raise ValueError(f"weekday range {body!r} runs backwards")
        else:
            low = _weekday(body)
            high = 6 if step_text else low
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def _weekday(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token[:3] in _DAYS and len(token) == 3:
        return _DAYS.index(token[:3])
    raise ValueError(f"{token!r} is not a weekday (0-7, 0 and 7 being Sunday, or sun, mon, ... sat)")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"no time zone {name!r}; use a name such as America/New_York or UTC") from e


# -- planning: the jobs the configuration asks for ---------------------------------------------------


@dataclass(frozen=True)
class PlannedJob:
    """A job as the configuration asks for it. ``name`` says what it does and when; a stored job
    with the same name and arguments is unchanged, and keeps its next run time."""

    id: str
    name: str
    trigger: BaseTrigger
    args: tuple[str | None, ...]
    timezone: str
    misfire_grace_time: int | None = None  # None: run however late (once, coalesced)
    run_at_start: bool = False  # a new job runs at once instead of waiting for its first time


def plan(editions: Sequence[Edition], settings: ScheduleSettings, home: Home) -> list[PlannedJob]:
    """The jobs for these editions and settings; raises :class:`ConfigError` naming the file and line."""
    args = (str(home.root), home.db_url)
    every = settings.fetch_every
    jobs = [
        PlannedJob(
            "fetch", f"fetch due sources every {every:g} min", IntervalTrigger(seconds=every * 60, timezone=UTC),
            (*args, "fetch"), "UTC", run_at_start=True,
        )
    ]
    errors: list[ConfigError] = []
    hour, minute = parse_clock(settings.review_at) or (7, 0)
    grace = max(1, round(settings.send_grace * 60))
    for edition in editions:
        if not edition.schedule:
            continue
        try:
            trigger = cron_trigger(edition.schedule, edition.timezone)
        except ValueError as e:
            key = "timezone" if "time zone" in str(e) else "schedule"
            errors.append(ConfigError(f"'{key}' of edition '{edition.slug}': {e}", edition.path, edition.line, key))
            continue
        where = f"{edition.schedule} {edition.timezone}"
        if edition.needs_approval:
            review = " ".join([str(minute), str(hour), *edition.schedule.split()[2:]])
            jobs.append(PlannedJob(
                f"review:{edition.slug}", f"draft the review file at {review} {edition.timezone}",
                cron_trigger(review, edition.timezone), (*args, f"review:{edition.slug}"), edition.timezone,
            ))
        jobs.append(PlannedJob(
            f"edition:{edition.slug}", f"build and send at {where}", trigger, (*args, f"edition:{edition.slug}"),
            edition.timezone, misfire_grace_time=grace,
        ))
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    return jobs


def plan_jobs(home: Home) -> tuple[ScheduleSettings, list[PlannedJob]]:
    folder = home.content("scheduler")
    settings = load_schedule_settings(folder)
    return settings, plan(load_editions(folder), settings, home)


class Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler, processing jobs only while running.

    Its loop runs one more round after ``shutdown()`` even when paused; that
    round "submits" the due jobs to the stopped executors and moves their next
    run times on, so a run due at that moment would be lost without a word.
    """

    def _process_jobs(self) -> float | None:
        if self.state != STATE_RUNNING:
            return None
        return super()._process_jobs()


def make_scheduler(store: Store) -> Scheduler:
    """A scheduler whose job store is a table of our database; jobs coalesce and never overlap themselves."""
    return Scheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(8)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )


def sync_jobs(scheduler: BaseScheduler, planned: Sequence[PlannedJob], now: datetime | None = None) -> dict[str, str]:
    """Make the stored jobs what the configuration asks for: ``{job id: "kept" | "added" | "changed" | "removed"}``.

    An unchanged job keeps its stored next run time, so a run missed while
    the scheduler was down still happens (once) or is reported as missed.
    """
    now = now or datetime.now(UTC)
    changes: dict[str, str] = {}
    for job in planned:
        stored = scheduler.get_job(job.id)
        options = {"misfire_grace_time": job.misfire_grace_time, "coalesce": True, "max_instances": 1}
        if stored is not None and _unchanged(stored, job):
            if any(getattr(stored, key) != value for key, value in options.items()):
                stored.modify(**options)
            changes[job.id] = "kept"
            continue
        extra = {"next_run_time": now} if job.run_at_start else {}
        scheduler.add_job(
            JOB_FUNCTION, trigger=job.trigger, args=job.args, id=job.id, name=job.name, replace_existing=True,
            **options, **extra,
        )
        changes[job.id] = "changed" if stored is not None else "added"
    waiting = {f"approval:{j.id.split(':', 1)[1]}" for j in planned if j.id.startswith("review:")}
    for stored in scheduler.get_jobs():
        if stored.id in changes:
            continue
        if stored.id in waiting and tuple(stored.args[:2]) == planned[0].args[:2]:
            changes[stored.id] = "kept"
        else:
            stored.remove()
            changes[stored.id] = "removed"
    return changes


def _unchanged(stored: Any, job: PlannedJob) -> bool:
    return stored.func_ref == JOB_FUNCTION and stored.name == job.name and tuple(stored.args) == job.args


@dataclass(frozen=True)
class JobListing:
    """A line of ``borderlinks run --list``."""

    id: str
    name: str
    next_run: datetime | None
    timezone: str
    state: str  # "stored", "new" (not stored yet), "changed" (replaced at the next start), "removed" (at the next start)


def list_jobs(home: Home, now: datetime | None = None) -> list[JobListing]:
    """``borderlinks run --list``: the jobs and their next run times, as the next start would keep them. Changes nothing."""
    now = now or datetime.now(UTC)
    _settings, planned = plan_jobs(home)
    with Store(home.database_url) as store:
        jobstore = SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE)
        jobstore.start(make_scheduler(store), "default")  # the scheduler is never started: nothing runs
        stored = {job.id: job for job in jobstore.get_all_jobs()}
    listings = []
    for job in planned:
        found = stored.pop(job.id, None)
        if found is not None and _unchanged(found, job):
            listings.append(JobListing(job.id, job.name, found.next_run_time, job.timezone, "stored"))
            continue
        first = now if job.run_at_start else job.trigger.get_next_fire_time(None, now)
        listings.append(JobListing(job.id, job.name, first, job.timezone, "changed" if found else "new"))
    waiting = {f"approval:{j.id.split(':', 1)[1]}": j.timezone for j in planned if j.id.startswith("review:")}
    for found in stored.values():
        state = "stored" if found.id in waiting else "removed"
        listings.append(JobListing(found.id, found.name, found.next_run_time, waiting.get(found.id, "UTC"), state))
    return listings


# -- the jobs ------------------------------------------------------------------------------------------


def run_job(root: str, db_url: str | None, job_id: str, day: str | None = None) -> JobRun:
    """What the scheduler calls, by reference from its job store: one job (:func:`borderlinks.jobs.execute`).

    Never raises. An edition waiting for approval gets its next look as an
    ``approval:SLUG`` job.
    """
    home = Home(Path(root), db_url)
    run = execute(home, job_id, day=date.fromisoformat(day) if day else None)
    if run.next_check is not None and run.day is not None:
        schedule_check(home, job_id.split(":", 1)[1], run.day, run.next_check)
    return run


def schedule_check(home: Home, slug: str, day: date, when: datetime) -> None:
    """Look at an edition's review file again at ``when``: a one-off job, kept in the job store."""
    scheduler = _current
    if scheduler is None or scheduler.state == STATE_STOPPED:
        log_event("approval.unscheduled", logging.WARNING, edition=slug, day=day, reason="no scheduler running in this process")
        return
    scheduler.add_job(
        JOB_FUNCTION, trigger=DateTrigger(when, timezone=UTC), id=f"approval:{slug}", name=f"look again at the review file of {slug} {day}",
        args=(str(home.root), home.db_url, f"approval:{slug}", day.isoformat()), replace_existing=True,
        misfire_grace_time=None, coalesce=True, max_instances=1,
    )


# -- running ---------------------------------------------------------------------------------------------


def run(home: Home, *, log_json: bool = False, stop: threading.Event | None = None) -> int:
    """``borderlinks run``: schedule the jobs and run them until SIGINT or SIGTERM (or ``stop``); 0 on a clean stop.

    One scheduler per database: a second one fails with :class:`LockError`.
    A first signal lets the running jobs finish; a second one exits at once.
    """
    settings, planned = plan_jobs(home)  # configuration mistakes stop us before anything starts
    stop = stop or threading.Event()
    reason: list[str] = []
    handler = configure_logging(log_json)
    try:
        _run(home, settings, planned, stop, reason)
    finally:
        remove_logging(handler)
    return 0


def _run(home: Home, settings: ScheduleSettings, planned: list[PlannedJob], stop: threading.Event, reason: list[str]) -> None:
    global _current
    with Store(home.database_url) as store, hold_lock(store, name=SCHEDULER, owner="borderlinks run", wait=0, ttl=LOCK_TTL) as holder:
        scheduler = make_scheduler(store)
        scheduler.add_listener(trouble_listener(home, settings), EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
        scheduler.start(paused=True)
        previous = _install_signals(stop, reason)
        _current = scheduler
        try:
            for job_id, change in sync_jobs(scheduler, planned).items():
                log_event(f"job.{change}", job=job_id)
            for job in scheduler.get_jobs():
                log_event("job.scheduled", job=job.id, next_run=job.next_run_time, what=job.name)
            scheduler.resume()
            log_event("scheduler.started", pid=os.getpid(), jobs=len(scheduler.get_jobs()), home=home.root)
            while not stop.wait(LOCK_REFRESH):
                holder = refresh(store, holder, LOCK_TTL)
            log_event("scheduler.stopping", signal=reason[0] if reason else None, waiting_for=",".join(running()) or None)
            scheduler.pause()
            wait_idle()
            scheduler.shutdown(wait=True)
        finally:
            _current = None
            _restore_signals(previous)
            if scheduler.state != STATE_STOPPED:
                scheduler.shutdown(wait=False)
    log_event("scheduler.stopped", message="stopped cleanly")


def trouble_listener(home: Home, settings: ScheduleSettings) -> Callable[[JobExecutionEvent], None]:
    """Report a run too late to make, one skipped because the last is still running, or a job that raised."""

    def listener(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            now = datetime.now(UTC)
            late = int((now - event.scheduled_run_time).total_seconds() // 60)
            message = (
                f"its run at {event.scheduled_run_time:%Y-%m-%d %H:%M %Z} was missed by {late} min, more than the "
                f"{settings.send_grace:g} min grace (send_grace in scheduler/schedule.toml); not run late"
            )
            record(home, JobRun(event.job_id, now, now, "missed", message))
            log_event("job.missed", logging.WARNING, job=event.job_id, scheduled=event.scheduled_run_time, message=message)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log_event("job.busy", logging.WARNING, job=event.job_id, message="still running from its last time; this run is skipped")
        else:
            log_event("job.error", logging.ERROR, job=event.job_id, error=repr(event.exception))

    return listener


def _install_signals(stop: threading.Event, reason: list[str]) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log_event("scheduler.killed", logging.WARNING, signal=name, message="second signal: exiting without waiting for the running jobs")
            os._exit(1)
        reason.append(name)
        stop.set()

    return {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)

