"""Terminal output for operators: progress bars, tables and JSON summaries.

The library returns data; this module is the only one that prints it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.console import Console

from .config import Home
from .model import FetchResult, JobRun, Source
from .sources import fetch
from .status import last_runs, source_health
from .store import Store

if TYPE_CHECKING:
    from .schedule import JobListing


def fetch_with_report(
    home: Home, *, source_ids: Iterable[str] | None = None, force: bool = False, as_json: bool = False
) -> list[FetchResult]:
    """Run :func:`fetch` with a progress bar on a terminal, then print a summary."""
    console = Console(stderr=True)
    sources = home.sources()  # validate before drawing anything
    names = {s.id: s.name for s in sources}
    show_progress = console.is_terminal and not as_json
    if show_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]fetching"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=console, transient=True,
        ) as progress:
            task = progress.add_task("", total=len(source_ids or sources) if source_ids else len(sources))

            def advance(source: Source, result: FetchResult) -> None:
                progress.update(task, advance=1, description=source.id)

            results = fetch(home, source_ids=source_ids, force=force, on_result=advance, sources=sources)
    else:
        results = fetch(home, source_ids=source_ids, force=force, sources=sources)
    if as_json:
        for r in results:
            print(json.dumps(
                {"source": r.source_id, "status": r.status, "http_status": r.http_status, "entries": r.entries,
                 "new_items": r.new_items, "updated_items": r.updated_items, "error": r.error, "seconds": r.seconds},
                ensure_ascii=False,
            ))
        return results
    _print_fetch_summary(results, names)
    return results


def _print_fetch_summary(results: list[FetchResult], names: dict[str, str]) -> None:
    from rich.table import Table

    out = Console()
    failed = [r for r in results if r.status == "error"]
    table = Table(title="Fetch", show_lines=False)
    for column in ("source", "status", "HTTP", "new", "updated", "seconds", "error"):
        table.add_column(column, overflow="fold")
    order = sorted(results, key=lambda r: (r.status != "error", r.source_id))
    for r in order:
        colour = {"error": "red", "ok": "green", "not-modified": "cyan"}.get(r.status, "dim")
        table.add_row(
            r.source_id, f"[{colour}]{r.status}[/]", str(r.http_status or ""), str(r.new_items or ""),
            str(r.updated_items or ""), f"{r.seconds:.2f}" if r.seconds else "", r.error or "",
        )
    out.print(table)
    new = sum(r.new_items for r in results)
    ok = sum(1 for r in results if r.status in ("ok", "not-modified"))
    out.print(f"{ok} of {len(results)} sources fetched, {len(failed)} failed, {new} new items.")


def print_status(home: Home, *, as_json: bool = False) -> None:
    sources = home.sources()
    settings = home.settings()
    with Store(home.database_url) as store:
        rows = source_health(sources, store, dead_after_days=settings.fetch.dead_after_days)
        runs = last_runs(store)
    if as_json:
        json.dump([r.as_dict() for r in rows], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    from rich.table import Table

    table = Table(title=f"Sources in {home.content('sources')}")
    for column in ("source", "last success", "items 7d", "failures", "last error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        state = r.state
        name = r.source.id + (" [red bold]DEAD[/]" if r.dead else "") + ("" if r.source.enabled else " [dim](disabled)[/]")
        table.add_row(
            name,
            state.last_success_at.strftime("%Y-%m-%d %H:%M") if state and state.last_success_at else "never",
            str(r.items_7d),
            f"[red]{state.consecutive_failures}[/]" if state and state.consecutive_failures else "0",
            (state.last_error or "") if state and state.consecutive_failures else "",
        )
    Console().print(table)
    if runs:
        _print_runs(runs)


def _print_runs(runs: list[JobRun]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Scheduled jobs: last runs (borderlinks run)")
    for column in ("job", "last run (UTC)", "outcome", "seconds", "message"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "waiting": "cyan", "skipped": "yellow", "missed": "red", "failed": "red bold"}
    for run in runs:
        table.add_row(
            run.job_id, f"{run.started:%Y-%m-%d %H:%M:%S}", f"[{colours.get(run.outcome, 'dim')}]{run.outcome}[/]",
            f"{run.seconds:.1f}", escape(run.message),
        )
    Console().print(table)


_LISTING_STATES = {"new": "new: not stored yet", "changed": "changed: replaced at the next start", "removed": "removed at the next start"}


def print_jobs(listings: Iterable[JobListing]) -> None:
    """``borderlinks run --list``: one line per job, its next run in its own time zone."""
    listings = list(listings)
    width = max((len(j.id) for j in listings), default=0)
    for job in listings:
        when = job.next_run.astimezone(ZoneInfo(job.timezone)).strftime("%a %Y-%m-%d %H:%M %Z") if job.next_run else "paused"
        state = f"  ({_LISTING_STATES[job.state]})" if job.state in _LISTING_STATES else ""
        print(f"{job.id:<{width}}  {when:<26}  {job.name}{state}")
