"""The scheduler: cron in time zones, a job store that survives restarts, misfires, the lock, approvals, a real run."""

from __future__ import annotations

import email.policy
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from apscheduler.events import EVENT_JOB_MISSED
from pytest_httpserver import HTTPServer

from borderlinks.cli import main
from borderlinks.config import Home
from borderlinks.editions import Edition, ScheduleSettings, load_schedule_settings
from borderlinks.errors import ConfigError, LockError
from borderlinks.jobs import decide, due_day, execute
from borderlinks.lock import BUILD_SEND, current_holder, hold_lock, take
from borderlinks.schedule import (
    cron_trigger,
    cron_weekdays,
    list_jobs,
    make_scheduler,
    plan,
    plan_jobs,
    run,
    sync_jobs,
    trouble_listener,
)
from borderlinks.sources import fetch
from borderlinks.status import last_runs
from borderlinks.store import Store
from borderlinks.subscribers import add_subscriber
from borderlinks.workflow import review_path
from conftest import SiteHome, unused_port

NEW_YORK = "America/New_York"


def fire_times(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times, as a running scheduler computes them one after the other."""
    trigger = cron_trigger(expression, timezone)
    found: list[datetime] = []
    previous = None
    now = after
    for _ in range(count):
        moment = trigger.get_next_fire_time(previous, now)
        assert moment is not None
        found.append(moment.astimezone(UTC))
        previous = now = moment
    return found


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# -- cron in a named time zone ----------------------------------------------------------------------


def test_weekday_nine_oclock_stays_nine_oclock_across_the_spring_change():
    # Clocks went forward in New York on Sunday 9 March 2025: 09:00 is 14:00 UTC before, 13:00 UTC after.
    assert fire_times("0 9 * * mon-fri", NEW_YORK, utc(2025, 3, 6, 12), 4) == [
        utc(2025, 3, 6, 14), utc(2025, 3, 7, 14), utc(2025, 3, 10, 13), utc(2025, 3, 11, 13),
    ]


def test_the_hour_repeated_when_clocks_go_back_fires_once():
    # 01:30 happened twice in New York on 2 November 2025 (EDT, then EST): one run, at the first.
    assert fire_times("30 1 * * *", NEW_YORK, utc(2025, 11, 1, 0), 3) == [
        utc(2025, 11, 1, 5, 30), utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30),
    ]


def test_a_time_skipped_when_clocks_go_forward_fires_once_an_hour_later():
    # 02:30 did not exist in New York on 9 March 2025: the run happens at 03:30 EDT (07:30 UTC).
    assert fire_times("30 2 * * *", NEW_YORK, utc(2025, 3, 8, 12), 2) == [utc(2025, 3, 9, 7, 30), utc(2025, 3, 10, 6, 30)]


def test_a_monthly_edition_runs_on_its_day_of_the_month_in_either_season():
    assert fire_times("0 8 1 * *", NEW_YORK, utc(2025, 1, 15), 3) == [utc(2025, 2, 1, 13), utc(2025, 3, 1, 13), utc(2025, 4, 1, 12)]


def test_weekday_numbers_are_classic_crons_with_sunday_as_zero():
    assert cron_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert cron_weekdays("0") == cron_weekdays("7") == "sun"
    assert cron_weekdays("6-7") == "sat,sun"
    assert cron_weekdays("*/2") == "tue,thu,sat,sun"
    assert fire_times("0 8 * * 0", "UTC", utc(2025, 3, 19), 1) == [utc(2025, 3, 23, 8)]  # a Sunday


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('schedule = "0 9 * *"', "'schedule' of edition 'daily': a cron expression has 5 fields"),
        ('schedule = "0 25 * * *"', "'schedule' of edition 'daily'"),
        ('schedule = "0 9 * * 8"', "'8' is not a weekday"),
        ('schedule = "0 9 * * *"\ntimezone = "Mars/Olympus"', "'timezone' of edition 'daily': no time zone 'Mars/Olympus'"),
    ],
)
def test_a_bad_schedule_names_the_edition_file_and_line(site: SiteHome, line: str, message: str):
    write_edition(site, line)
    with pytest.raises(ConfigError) as caught:
        plan_jobs(site.home)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{site.root / 'scheduler' / 'editions.toml'}:1: ")


def test_schedule_settings_mistakes_name_the_file_line_and_key(site: SiteHome):
    folder = site.root / "scheduler"
    folder.mkdir()
    (folder / "schedule.toml").write_text('fetch_every = 10\nreview_at = "7 am"\nfetch_evry = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_schedule_settings(folder)
    text = str(caught.value)
    assert "schedule.toml:2: 'review_at' must be a time" in text
    assert "schedule.toml:3: unknown key 'fetch_evry'. Did you mean 'fetch_every'?" in text


def test_the_jobs_come_from_the_editions_and_the_settings(site: SiteHome):
    editions = [
        Edition("daily", "Daily", schedule="0 9 * * mon-fri", needs_approval=True),
        Edition("monthly", "Monthly", schedule="0 8 1 * *"),
        Edition("unscheduled", "Never"),
    ]
    jobs = plan(editions, ScheduleSettings(fetch_every=15, review_at="06:45", send_grace=20), site.home)
    assert [(j.id, j.name, j.misfire_grace_time) for j in jobs] == [
        ("fetch", "fetch due sources every 15 min", None),
        ("review:daily", "draft the review file at 45 6 * * mon-fri America/New_York", None),
        ("edition:daily", "build and send at 0 9 * * mon-fri America/New_York", 1200),
        ("edition:monthly", "build and send at 0 8 1 * * America/New_York", 1200),
    ]


# -- the job store ------------------------------------------------------------------------------------


def write_edition(site: SiteHome, extra: str, slug: str = "daily", sections: bool = False) -> None:
    folder = site.root / "scheduler"
    folder.mkdir(exist_ok=True)
    text = f'[[edition]]\nslug = "{slug}"\ntitle = "Links: {{date:%B %-d, %Y}}"\n{extra}\n'
    if sections:
        text += '\n[[edition.section]]\nheading = "News"\n'
    (folder / "editions.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def scheduled(site: SiteHome) -> SiteHome:
    """A home with one scheduled edition and no sources: nothing goes out to the network."""
    write_edition(site, 'schedule = "0 9 * * mon-fri"\ntimezone = "America/New_York"', sections=True)
    return site


def synced(home: Home, now: datetime | None = None) -> tuple[dict[str, str], dict[str, datetime]]:
    """Start a scheduler on the home's job store without running anything, sync its jobs, stop it."""
    _settings, planned = plan_jobs(home)
    with Store(home.database_url) as store:
        scheduler = make_scheduler(store)
        scheduler.start(paused=True)
        try:
            changes = sync_jobs(scheduler, planned, now)
            times = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        finally:
            scheduler.shutdown()
    return changes, times


def test_a_restart_keeps_the_jobs_and_their_next_run_times(scheduled: SiteHome):
    first, before = synced(scheduled.home, utc(2025, 3, 21, 12))
    assert first == {"fetch": "added", "edition:daily": "added"}
    second, after = synced(scheduled.home)
    assert second == {"fetch": "kept", "edition:daily": "kept"}
    assert after == before
    assert after["fetch"] == utc(2025, 3, 21, 12)  # a new fetch job runs at once; a kept one keeps its time


def test_a_changed_schedule_replaces_its_job_and_a_removed_edition_its_job(scheduled: SiteHome):
    synced(scheduled.home)
    write_edition(scheduled, 'schedule = "0 10 * * *"\ntimezone = "UTC"', slug="other")
    changes, times = synced(scheduled.home)
    assert changes == {"fetch": "kept", "edition:other": "added", "edition:daily": "removed"}
    assert times["edition:other"].hour == 10


def test_run_list_shows_each_job_and_its_next_run_in_its_time_zone(scheduled: SiteHome, capsys):
    listed = {j.id: j for j in list_jobs(scheduled.home, now=utc(2025, 3, 21, 12))}
    assert listed["edition:daily"].state == "new"
    assert listed["edition:daily"].next_run == utc(2025, 3, 21, 13)
    synced(scheduled.home)
    assert main(["--home", str(scheduled.root), "run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("fetch ")
    assert "build and send at 0 9 * * mon-fri America/New_York" in lines[1]
    assert ":00 ED" in lines[1] or ":00 ES" in lines[1]  # 09:00 EST or EDT, New York time
    assert "(new" not in "\n".join(lines)


def test_a_misfired_fetch_after_downtime_runs_once(scheduled: SiteHome):
    # Down for two hours with a fetch every 10 minutes: twelve runs missed, one made.
    (scheduled.root / "scheduler" / "schedule.toml").write_text("fetch_every = 10\n", encoding="utf-8")
    synced(scheduled.home, now=datetime.now(UTC) - timedelta(hours=2))
    with Store(scheduled.home.database_url) as store:
        scheduler = make_scheduler(store)
        scheduler.start()
        try:
            wait_for(lambda: len(runs_of(scheduled.home, "fetch")) >= 1)
            time.sleep(0.5)  # room for a second run, were there one
            next_fetch = scheduler.get_job("fetch").next_run_time
        finally:
            scheduler.shutdown()
    assert len(runs_of(scheduled.home, "fetch")) == 1
    assert datetime.now(UTC) < next_fetch <= datetime.now(UTC) + timedelta(minutes=10)


def test_an_edition_missed_by_more_than_the_grace_is_reported_not_sent(scheduled: SiteHome):
    _settings, planned = plan_jobs(scheduled.home)
    with Store(scheduled.home.database_url) as store:
        scheduler = make_scheduler(store)
        scheduler.add_listener(trouble_listener(scheduled.home, ScheduleSettings()), EVENT_JOB_MISSED)
        scheduler.start(paused=True)
        sync_jobs(scheduler, planned)
        scheduler.modify_job("edition:daily", next_run_time=datetime.now(UTC) - timedelta(hours=3))
        scheduler.resume()
        try:
            wait_for(lambda: any(r.outcome == "missed" for r in runs_of(scheduled.home, "edition:daily")))
        finally:
            scheduler.shutdown()
    # Near 9 a.m. in New York the coalesced run of today's slot may follow, within its grace: only the missed one matters here.
    run = next(r for r in runs_of(scheduled.home, "edition:daily") if r.outcome == "missed")
    assert "more than the 30 min grace" in run.message and "not run late" in run.message
    assert not (scheduled.root / "out").exists()


def runs_of(home: Home, job_id: str) -> list:
    with Store(home.database_url) as store:
        from borderlinks.status import job_runs

        with store.engine.connect() as conn:
            rows = conn.execute(job_runs.select().where(job_runs.c.job_id == job_id)).mappings().all()
    from borderlinks.model import JobRun

    return [JobRun(r["job_id"], utc(2000, 1, 1), utc(2000, 1, 1), r["outcome"], r["message"]) for r in rows]


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


# -- the lock ---------------------------------------------------------------------------------------------


def hold_in_another_process(home: Home) -> subprocess.Popen[str]:
    code = (
        "import sys, time\n"
        "from borderlinks.lock import hold_lock\n"
        f"with hold_lock({home.database_url!r}, owner='scheduler edition:daily'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_the_lock_stops_an_overlapping_manual_send_and_build(scheduled: SiteHome, capsys, monkeypatch):
    monkeypatch.setattr("borderlinks.lock.MANUAL_WAIT", 0.3)
    monkeypatch.setenv("BORDERLINKS_MAIL_FROM", "Links <links@example.org>")
    child = hold_in_another_process(scheduled.home)
    try:
        for command in (["send", "--edition", "daily"], ["build", "--edition", "daily", "--allow-empty"]):
            code = main(["--home", str(scheduled.root), *command])
            err = capsys.readouterr().err
            assert code == 1
            assert f"Error: another build or send is running (pid {child.pid} since " in err
            assert "scheduler edition:daily); try again when it ends" in err
    finally:
        child.kill()
        child.wait()
    # The holder is gone: its row is stale and the next build takes it over.
    assert main(["--home", str(scheduled.root), "build", "--edition", "daily", "--allow-empty"]) == 0


def test_the_lock_is_reentrant_in_a_thread_and_waits_in_another(site: SiteHome):
    with Store(site.home.database_url) as store:
        with hold_lock(store, owner="outer") as outer, hold_lock(store, owner="inner") as inner:
            assert inner == outer
            caught: list[BaseException] = []

            def other() -> None:
                try:
                    with hold_lock(store, owner="other thread", wait=0.2):
                        pass
                except LockError as e:
                    caught.append(e)

            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
            assert "another build or send is running" in str(caught[0])
        assert current_holder(store) is None


def test_a_lock_left_by_a_dead_process_or_out_of_time_is_taken_over(site: SiteHome):
    with Store(site.home.database_url) as store:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        from borderlinks.store import locks, utc_text

        with store.engine.begin() as conn:
            conn.execute(locks.insert().values(
                name=BUILD_SEND, owner="crashed send", host=os.uname().nodename, pid=dead.pid,
                acquired_at=utc_text(datetime.now(UTC)), expires_at=utc_text(datetime.now(UTC) + timedelta(hours=1)),
            ))
            conn.execute(locks.insert().values(
                name="elsewhere", owner="a build on another host", host="far-away", pid=1,
                acquired_at="2025-03-21T09:00:00Z", expires_at="2025-03-21T15:00:00Z",
            ))
        mine = take(store, BUILD_SEND, "borderlinks build")
        assert mine is not None and mine.pid == os.getpid()
        assert take(store, "elsewhere", "borderlinks build") is not None


# -- approval -----------------------------------------------------------------------------------------------


DAILY = Edition(
    "daily", "Daily", schedule="0 9 * * mon-fri", timezone=NEW_YORK, needs_approval=True, approval_deadline="11:00",
    without_approval="send-automatic",
)
FRIDAY = date(2025, 3, 21)  # 09:00 in New York is 13:00 UTC, the deadline 11:00 is 15:00 UTC


def decision(edition: Edition = DAILY, *, approved: bool = False, now: datetime, late_check: bool = False):  # type: ignore[no-untyped-def]
    return decide(edition, FRIDAY, approved=approved, now=now, check_every=timedelta(minutes=5), grace=timedelta(minutes=30), late_check=late_check)


def test_an_approved_edition_is_sent_at_its_time():
    assert decision(approved=True, now=utc(2025, 3, 21, 13)).action == "send"


def test_an_unapproved_edition_waits_and_looks_again_in_a_few_minutes_until_its_deadline():
    first = decision(now=utc(2025, 3, 21, 13))
    assert (first.action, first.next_check) == ("wait", utc(2025, 3, 21, 13, 5))
    assert "looking again at 09:05 EDT, until 11:00 EDT" in first.reason
    assert decision(now=utc(2025, 3, 21, 14, 58), late_check=True).next_check == utc(2025, 3, 21, 15)


def test_at_the_deadline_the_edition_sends_the_automatic_selection_or_skips_as_it_says():
    assert decision(now=utc(2025, 3, 21, 15), late_check=True).action == "send-automatic"
    skip = decision(Edition("daily", "Daily", timezone=NEW_YORK, needs_approval=True, approval_deadline="11:00"), now=utc(2025, 3, 21, 15), late_check=True)
    assert skip.action == "skip"
    assert 'no approval by 11:00 EDT: not sent, as the edition says (without_approval = "skip")' == skip.reason


def test_a_look_long_after_the_deadline_sends_nothing_late_by_surprise():
    late = decision(approved=True, now=utc(2025, 3, 21, 17), late_check=True)
    assert late.action == "missed"
    assert "120 min past the approval deadline (11:00 EDT), more than the 30 min grace" in late.reason


def test_without_a_deadline_an_edition_waits_until_the_end_of_its_day():
    open_ended = Edition("daily", "Daily", timezone=NEW_YORK, needs_approval=True)
    assert decision(open_ended, now=utc(2025, 3, 22, 3, 30)).action == "wait"  # 23:30 in New York
    assert decision(open_ended, now=utc(2025, 3, 22, 4), late_check=True).action == "skip"


@pytest.fixture
def needs_approval(site: SiteHome) -> SiteHome:
    write_edition(
        site, 'schedule = "0 9 * * *"\ntimezone = "America/New_York"\nneeds_approval = true\n'
        'approval_deadline = "11:00"\nwithout_approval = "skip"', sections=True,
    )
    return site


def test_an_edition_job_without_an_approved_review_drafts_one_waits_then_skips(needs_approval: SiteHome):
    home = needs_approval.home
    waiting = execute(home, "edition:daily", now=utc(2025, 3, 21, 13))
    assert (waiting.outcome, waiting.next_check) == ("waiting", utc(2025, 3, 21, 13, 5))
    edition = Edition("daily", "Links", timezone=NEW_YORK)
    assert review_path(home, edition, FRIDAY).exists()  # drafted for the editor
    skipped = execute(home, "approval:daily", day=FRIDAY, now=utc(2025, 3, 21, 15, 1))
    assert skipped.outcome == "skipped"
    assert not (needs_approval.root / "out").exists()
    with Store(home.database_url) as store:
        assert {r.job_id: r.outcome for r in last_runs(store)} == {"edition:daily": "waiting", "approval:daily": "skipped"}


def test_status_shows_the_last_run_of_each_job_and_json_stays_a_list_of_sources(needs_approval: SiteHome, capsys):
    execute(needs_approval.home, "edition:daily", now=utc(2025, 3, 21, 13))
    assert main(["--home", str(needs_approval.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "edition:daily" in out and "waiting" in out
    assert main(["--home", str(needs_approval.root), "status", "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)


# -- a real run ----------------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = unused_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def rss(day: date) -> bytes:
    stamp = f"{day:%a, %d %b %Y} 12:00:00 +0000"
    items = "".join(
        f"<item><title>{title}</title><link>https://news.example/{n}</link><guid>https://news.example/{n}</guid>"
        f"<description>{title}, the border agency said on the day.</description><pubDate>{stamp}</pubDate></item>"
        for n, title in enumerate(["Asylum requests rise at the southern border", "Migrants cross the Darién Gap in record numbers"])
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title><link>https://news.example/</link>{items}</channel></rss>'.encode()


class Log:
    """The scheduler's JSON log lines, read as they come."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self.lines.put(json.loads(line) if line.startswith("{") else {"event": "text", "line": line})

    def wait(self, timeout: float = 30.0, **fields: object) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no log event {fields} in {timeout} s; saw {self.seen}") from None
            self.seen.append(event)
            if all(event.get(k) == v for k, v in fields.items()):
                return event


def test_a_short_real_run_fetches_sends_once_and_stops_cleanly_on_sigterm(site: SiteHome, httpserver: HTTPServer, smtp):
    inbox, port = smtp
    today = datetime.now(UTC).date()
    httpserver.expect_request("/feed.xml").respond_with_data(rss(today - timedelta(days=1)), content_type="application/rss+xml")
    site.add_feed("news", httpserver.url_for("/feed.xml"))
    # Due at midnight UTC: whatever the hour of the test, the run made due below is today's edition.
    write_edition(site, 'schedule = "0 0 * * *"\ntimezone = "UTC"', slug="daily", sections=True)
    (site.root / "scheduler" / "schedule.toml").write_text("fetch_every = 0.02  # about a second\n", encoding="utf-8")
    with Store(site.home.database_url) as store:
        add_subscriber(site.home, store, "reader@example.org", editions=["daily"])
    env = {**os.environ, **mail_environment(port)}
    child = subprocess.Popen(
        [sys.executable, "-m", "borderlinks", "--home", str(site.root), "run", "--log-json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        log = Log(child.stderr)
        log.wait(event="scheduler.started")
        fetched = log.wait(event="job.finished", job="fetch")
        assert (fetched["outcome"], fetched["message"]) == ("ok", "1 of 1 sources due, 0 failed, 2 new items")
        # Make the edition due now, as its cron time would: the running scheduler picks it up from the store.
        due_now(site.home, "edition:daily")
        sent = log.wait(event="job.finished", job="edition:daily")
        assert sent["outcome"] == "ok", sent
        assert "sent 1 of 1 subscribers" in sent["message"]
        log.wait(event="job.finished", job="fetch")  # it goes on: sources not due yet are skipped
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
        stopped = log.wait(event="scheduler.stopped")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert stopped["message"] == "stopped cleanly"
    assert any(e["event"] == "scheduler.stopping" and e["signal"] == "SIGTERM" for e in log.seen)
    assert len(inbox.messages) == 1
    sender, recipients, content = inbox.messages[0]
    assert recipients == ["reader@example.org"]
    text = message_from_bytes(content, policy=email.policy.default).get_body(preferencelist=("plain",)).get_content()
    assert "Migrants cross the Darién Gap in record numbers" in text
    with Store(site.home.database_url) as store:
        assert current_holder(store, "scheduler") is None  # the scheduler's lock went with it


def due_now(home: Home, job_id: str) -> None:
    with Store(home.database_url) as store:
        scheduler = make_scheduler(store)
        scheduler.start(paused=True)
        try:
            scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
        finally:
            scheduler.shutdown()


def test_after_the_deadline_an_edition_sends_the_automatic_selection_once(site: SiteHome, httpserver: HTTPServer, smtp, monkeypatch):
    inbox, port = smtp
    today = datetime.now(UTC).date()
    httpserver.expect_request("/feed.xml").respond_with_data(rss(today - timedelta(days=1)), content_type="application/rss+xml")
    site.add_feed("news", httpserver.url_for("/feed.xml"))
    write_edition(
        site, 'schedule = "0 9 * * *"\ntimezone = "UTC"\nneeds_approval = true\napproval_deadline = "11:00"\n'
        'without_approval = "send-automatic"', sections=True,
    )
    for name, value in mail_environment(port).items():
        monkeypatch.setenv(name, value)
    fetch(site.home)
    with Store(site.home.database_url) as store:
        add_subscriber(site.home, store, "reader@example.org")
    past_deadline = datetime.combine(today, dtime(11, 1), tzinfo=UTC)
    first = execute(site.home, "approval:daily", day=today, now=past_deadline)
    assert first.outcome == "ok", first.message
    assert "sent 1 of 1 subscribers" in first.message
    assert (site.root / "out" / "site" / "index.html").exists()  # built, then sent
    again = execute(site.home, "approval:daily", day=today, now=past_deadline)
    assert "1 already sent" in again.message
    assert len(inbox.messages) == 1


def mail_environment(port: int) -> dict[str, str]:
    return {
        "BORDERLINKS_SMTP_HOST": "127.0.0.1", "BORDERLINKS_SMTP_PORT": str(port), "BORDERLINKS_SMTP_TLS": "none",
        "BORDERLINKS_MAIL_FROM": "Border Links <links@example.org>",
    }


def morning_zone() -> str:
    """A fixed-offset zone where it is now between 9 and 10 a.m., so a 9:00 edition with an 11:00 deadline is waiting."""
    offset = (9 - datetime.now(UTC).hour + 12) % 24 - 12  # -12 to +11 hours from UTC
    return f"Etc/GMT{-offset:+d}"  # Etc/GMT signs are inverted: Etc/GMT-5 is five hours ahead of UTC


@pytest.fixture
def running(needs_approval: SiteHome) -> Iterator[SiteHome]:
    """`borderlinks run` in a thread of this process, waking every second or so; stopped by its event.

    The edition runs in a zone where it is morning now, whatever the hour CI runs at.
    """
    write_edition(
        needs_approval, f'schedule = "0 9 * * *"\ntimezone = "{morning_zone()}"\nneeds_approval = true\n'
        'approval_deadline = "11:00"\nwithout_approval = "skip"', sections=True,
    )
    (needs_approval.root / "scheduler" / "schedule.toml").write_text("fetch_every = 0.02\n", encoding="utf-8")
    needs_approval.store().close()  # create the database first: the test reads it while the scheduler starts
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(run(needs_approval.home, stop=stop)))
    thread.start()
    try:
        wait_for(lambda: runs_of(needs_approval.home, "fetch"))
        yield needs_approval
    finally:
        stop.set()
        thread.join(timeout=30)
    assert codes == [0]


def test_a_wait_for_approval_is_a_job_in_the_store(running: SiteHome):
    due_now(running.home, "edition:daily")
    wait_for(lambda: runs_of(running.home, "edition:daily"))
    assert runs_of(running.home, "edition:daily")[0].outcome == "waiting"
    wait_for(lambda: any(j.id == "approval:daily" for j in list_jobs(running.home)))
    [check] = [j for j in list_jobs(running.home) if j.id == "approval:daily"]
    assert check.state == "stored"
    assert timedelta(minutes=4) < check.next_run - datetime.now(UTC) <= timedelta(minutes=5)


def test_a_second_scheduler_on_the_same_database_stops_at_once(running: SiteHome, capsys):
    assert main(["--home", str(running.root), "run"]) == 1
    err = capsys.readouterr().err
    assert f"Error: another scheduler is running on this database (pid {os.getpid()} since " in err
    assert "borderlinks run); stop it first" in err


def test_an_edition_that_starts_after_midnight_is_still_the_day_it_was_due():
    late = Edition("late", "Late", schedule="50 23 * * *", timezone="America/New_York")
    new_york = ZoneInfo("America/New_York")
    assert due_day(late, datetime(2025, 3, 21, 0, 5, tzinfo=new_york)) == date(2025, 3, 20)
    assert due_day(late, datetime(2025, 3, 20, 23, 55, tzinfo=new_york)) == date(2025, 3, 20)
    # Weekdays only: on a Saturday afternoon no run is due; the caller falls back to today.
    weekdays = Edition("daily", "Daily", schedule="0 9 * * mon-fri", timezone="America/New_York")
    assert due_day(weekdays, datetime(2025, 3, 22, 15, 0, tzinfo=new_york)) is None
    assert due_day(Edition("manual", "Manual"), datetime(2025, 3, 22, tzinfo=UTC)) is None
