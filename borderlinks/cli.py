"""The ``borderlinks`` command: a thin client over the library.

Each command is a few lines calling one library function. Errors are
formatted once, in :func:`main`: ``Error: <what>. <what to do>``, exit 1;
usage errors exit 2; a traceback only with ``-v``.
"""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

import click

from . import __version__
from .config import Home
from .errors import BorderlinksError


class Context:
    def __init__(self, home: Home, verbose: bool) -> None:
        self.home = home
        self.verbose = verbose


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home", "home_dir", type=click.Path(file_okay=False, path_type=Path), envvar="BORDERLINKS_HOME",
    help="The digest site's home folder (default: the current folder; env BORDERLINKS_HOME).",
)
@click.option("--db", "db_url", metavar="URL", help="A SQLAlchemy database URL (default: sqlite in HOME/var/).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug output.")
@click.version_option(__version__, prog_name="borderlinks")
@click.pass_context
def cli(ctx: click.Context, home_dir: Path | None, db_url: str | None, verbose: bool) -> None:
    """A daily border-and-migration news digest generator.

    \b
    Example:
        borderlinks --home mysite fetch
    """
    ctx.obj = Context(Home.resolve(home_dir, db_url), verbose)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Copy the packaged content folders into a new home folder to edit.

    \b
    Example:
        borderlinks init mysite && borderlinks --home mysite fetch
    """
    from .home import init_home

    written = init_home(directory, force=force)
    click.echo(f"Created {directory} with {len(written)} files: sources/, classifiers/, templates/, scheduler/.")
    click.echo(f"Next: edit {directory}/sources/*.toml, then run: borderlinks --home {directory} fetch")


@cli.command("fetch")
@click.option("--source", "source_ids", multiple=True, metavar="ID", help="Fetch only this source (repeatable); ignores 'every'.")
@click.option("--force", is_flag=True, help="Fetch every enabled source even if it is not due.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per source instead of a table.")
@pass_context
def fetch_command(obj: Context, source_ids: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Fetch every due source, store new items and report each source.

    Exits with 1 only when every source failed.

    \b
    Example:
        borderlinks fetch --json
    """
    from .report import fetch_with_report

    results = fetch_with_report(obj.home, source_ids=source_ids or None, force=force, as_json=as_json)
    tried = [r for r in results if r.status != "skipped"]
    if tried and all(r.status == "error" for r in tried):
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_context
def status(obj: Context, as_json: bool) -> None:
    """Show every source's health: last success, items in 7 days, failures.

    \b
    Example:
        borderlinks status --json
    """
    from .report import print_status

    print_status(obj.home, as_json=as_json)


@cli.command()
@click.argument("directory", required=False, default="demo", type=click.Path(file_okay=False, path_type=Path))
@pass_context
def demo(obj: Context, directory: Path) -> None:
    """Run the whole pipeline offline on bundled sample sources.

    \b
    Example:
        borderlinks demo ./demo
    """
    from .demo import run_demo

    run_demo(directory, echo=click.echo)


@cli.command("classify")
@click.option("--all", "retag", is_flag=True, help="Re-tag every stored item (after a theme file changed).")
@click.option("--explain", "explain_id", is_flag=False, flag_value="-", default=None, metavar="[ITEM_ID]",
              help="Explain the tags of a stored item, or of text on standard input (first line: title).")
@click.option("--jsonl", "jsonl", is_flag=True, help="Classify JSON lines from standard input; needs no store.")
@pass_context
def classify_command(obj: Context, retag: bool, explain_id: str | None, jsonl: bool) -> None:
    """Tag items with themes and countries, and say why.

    \b
    Examples:
        borderlinks classify --all
        borderlinks classify --explain 3f2a9c0d1e2b4a5c
        echo "Migrantes cruzan el Tapón del Darién" | borderlinks classify --explain
        borderlinks classify --jsonl < items.jsonl > tags.jsonl
    """
    from .tagging import make_classifier

    if sum((retag, explain_id is not None, jsonl)) != 1:
        raise click.UsageError("give exactly one of --all, --explain or --jsonl")
    classifier = make_classifier(obj.home)
    if jsonl:
        from .explain import classify_jsonl

        for line in classify_jsonl(sys.stdin, classifier):
            click.echo(line)
        return
    if explain_id is not None:
        from .explain import explain

        if explain_id == "-":
            text = sys.stdin.read()
            title, _, summary = text.strip().partition("\n")
            when = None
        else:
            from .store import Store

            with Store(obj.home.database_url) as store:
                found = store.get_items(ids=[explain_id])
            if not found:
                raise click.ClickException(f"no stored item with id {explain_id!r}; ids are shown by 'borderlinks review' and in the review files")
            item = found[0]
            title, summary, when = item.title, item.summary, item.published.date()
            click.echo(f"{item.title}\n{item.url}\n")
        result = classifier.classify(title, summary, when=when)
        click.echo(explain(result, title, summary, classifier, when))
        return
    from .store import Store
    from .tagging import retag_all

    with Store(obj.home.database_url) as store:
        done = retag_all(store, classifier)
    click.echo(f"Re-tagged {done} stored items with {len(classifier.themes)} themes.")


@cli.group()
def themes() -> None:
    """List the themes and try an edited theme file before trusting it.

    \b
    Example:
        borderlinks themes test darien --days 30
    """


@themes.command("list")
@pass_context
def themes_list(obj: Context) -> None:
    """List the themes in use, with their number of terms and threshold.

    \b
    Example:
        borderlinks themes list
    """
    from .themes import load_themes

    folder = obj.home.content("classifiers")
    for theme in load_themes(folder):
        click.echo(f"{theme.slug:<22} {len(theme.terms):>4} terms  threshold {theme.threshold:g}  {theme.title}")
    click.echo(f"(from {folder})")


@themes.command("test")
@click.argument("slug")
@click.option("--file", "theme_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The edited theme file (default: classifiers/SLUG.toml in the home folder).")
@click.option("--days", default=7, show_default=True, help="Try it on the items of the past N days.")
@click.option("--limit", default=20, show_default=True, help="Show at most this many items gained and lost.")
@pass_context
def themes_test(obj: Context, slug: str, theme_file: Path | None, days: int, limit: int) -> None:
    """Show the stored items an edited theme would gain and lose. Changes nothing.

    Compares the tags stored now with what the edited file would give.

    \b
    Example:
        borderlinks themes test darien --file my-darien.toml --days 30
    """
    from datetime import datetime, timedelta

    from .store import Store
    from .tagging import classify_item, edited_classifier

    path = theme_file or obj.home.content("classifiers") / f"{slug}.toml"
    edited = edited_classifier(obj.home, path)
    if slug not in {t.slug for t in edited.themes}:
        raise click.ClickException(f"{path} defines no theme '{slug}'")
    since = datetime.now(UTC) - timedelta(days=days)
    with Store(obj.home.database_url) as store:
        found = store.get_items(since=since)
        stored = store.get_tags(i.id for i in found)
    gained, lost = [], []
    for item in found:
        before = slug in (stored[item.id].theme_slugs if item.id in stored else [])
        after = slug in classify_item(edited, item).theme_slugs
        if after and not before:
            gained.append(item)
        elif before and not after:
            lost.append(item)
    click.echo(f"{len(found)} items of the past {days} days; with {path.name}, '{slug}' would gain {len(gained)} and lose {len(lost)}.")
    for label, group in (("Gained", gained), ("Lost", lost)):
        if group:
            click.echo(f"\n{label}:")
            for item in group[:limit]:
                click.echo(f"  + {item.title}  [{item.source_id}, {item.id}]" if label == "Gained" else f"  - {item.title}  [{item.source_id}, {item.id}]")
            if len(group) > limit:
                click.echo(f"  ... and {len(group) - limit} more")


@cli.command()
@click.option("--edition", "edition_slug", metavar="SLUG", help="Only this edition (default: every edition).")
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="The edition's date (default: today in its time zone).")
@click.option("--check", is_flag=True, help="Validate the review file and report each problem with its line; change nothing.")
@pass_context
def review(obj: Context, edition_slug: str | None, day_text: str | None, check: bool) -> None:
    """Write or refresh the review file an editor edits: review/EDITION/DATE.md.

    Running it again after a fetch adds the new candidates, marked new, and
    keeps every edit. Write "status: approved" at the top to approve.

    \b
    Examples:
        borderlinks review --edition daily-border-links --date 2025-03-21
        borderlinks review --edition daily-border-links --date 2025-03-21 --check
    """
    from .store import Store
    from .workflow import check_review_file, edition_date, load_context, parse_day, pick_editions, update_review

    context = load_context(obj.home)
    day = parse_day(day_text)
    problems_found = False
    with Store(obj.home.database_url) as store:
        for edition in pick_editions(context, edition_slug):
            when = edition_date(edition, day)
            if check:
                path, problems = check_review_file(context, store, edition, when)
                for problem in problems:
                    click.echo(f"{path}:{problem.line}: {problem.message}" + (f". {problem.fix}" if problem.fix else ""))
                if problems:
                    problems_found = True
                else:
                    click.echo(f"{path}: no problems")
                continue
            update = update_review(context, store, edition, when)
            total = sum(len(s.entries) for s in update.review.sections)
            ticked = sum(1 for s in update.review.sections for e in s.entries if e.checked)
            click.echo(f"{update.path}: {total} candidates, {ticked} ticked, {update.new} new, status {update.review.status}")
    if problems_found:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--edition", "edition_slug", metavar="SLUG", help="Only this edition (default: every edition).")
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="The edition's date (default: today in its time zone).")
@click.option(
    "--until", "until_text", metavar="YYYY-MM-DD",
    help="Build every date from --date to this one (daily editions each day, monthly ones once a month).",
)
@click.option("--fetch", "fetch_first", is_flag=True, help="Fetch and classify first.")
@click.option("--allow-empty", is_flag=True, help="Build a short 'no news today' edition when there is nothing.")
@click.option("--draft", is_flag=True, help="Preview an edition that needs approval from its unapproved review file.")
@pass_context
def build(
    obj: Context, edition_slug: str | None, day_text: str | None, until_text: str | None, fetch_first: bool, allow_empty: bool,
    draft: bool,
) -> None:
    """Render editions into out/: HTML and text email, the web archive, feeds, JSON.

    Uses the approved review file if there is one, else the automatic
    selection where the edition allows it.

    \b
    Example:
        borderlinks build --edition daily-border-links --date 2025-03-21
        borderlinks build --date 2025-03-01 --until 2025-03-31
    """
    from .workflow import build as build_editions
    from .workflow import parse_day

    results = build_editions(
        obj.home, edition_slug=edition_slug, day=parse_day(day_text), until=parse_day(until_text), fetch_first=fetch_first,
        allow_empty=allow_empty, draft=draft,
    )
    for result in results:
        if result.skipped:
            click.echo(f"{result.edition.slug} {result.day}: not built: {result.skipped}")
            continue
        items = sum(len(d.items) for d in result.digests)
        click.echo(f"{result.edition.slug} {result.day}: {len(result.digests)} post(s), {items} items, from the {result.origin.replace('-', ' ')} selection")
        for path in result.written:
            if path.suffix in (".html", ".txt") and "email" in path.parts:
                click.echo(f"  wrote {path}")
        site = [p for p in result.written if "site" in p.parts]
        if site:
            click.echo(f"  wrote {len(site)} web archive files under {site[0].parents[len(site[0].relative_to(obj.home.root / 'out' / 'site').parts) - 1]}")
    if results and all(r.skipped for r in results):
        raise click.exceptions.Exit(1)


@cli.command("send")
@click.option("--edition", "edition_slug", metavar="SLUG", help="Only this edition (default: every edition).")
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="The edition's date (default: today in its time zone).")
@click.option("--dry-run", is_flag=True, help="Write each message as a .eml file under out/outbox/ instead; record nothing.")
@click.option("--force", is_flag=True, help="Send an edition that needs approval without an approved review file (warns).")
@click.option("--retry-failed", is_flag=True, help="Try again the addresses the server refused for good in an earlier run.")
@pass_context
def send_command(obj: Context, edition_slug: str | None, day_text: str | None, dry_run: bool, force: bool, retry_failed: bool) -> None:
    """Mail each edition's posts to its active subscribers, exactly once.

    The server comes from [mail] in borderlinks.toml and the environment:
    BORDERLINKS_SMTP_HOST, _PORT, _USER, _PASSWORD, _TLS (none, starttls,
    ssl) and BORDERLINKS_MAIL_FROM. A second run sends only what did not go
    out. Exits with 1 when a message failed or was deferred, or an edition
    was held for approval.

    \b
    Examples:
        borderlinks send --edition security-news --date 2025-03-21
        borderlinks send --edition daily-border-links --dry-run
    """
    from .deliver import describe, send
    from .store import Store
    from .workflow import parse_day

    with Store(obj.home.database_url) as store:
        results = send(
            obj.home, store, edition=edition_slug, day=parse_day(day_text), dry_run=dry_run, force=force,
            retry_failed=retry_failed, warn=lambda message: click.echo(message, err=True),
        )
    for result in results:
        click.echo(describe(result, dry_run=dry_run))
    if any(r.failed or r.deferred or r.status in ("held", "stopped") for r in results):
        raise click.exceptions.Exit(1)


@cli.command("unsubscribe")
@click.argument("token")
@pass_context
def unsubscribe_command(obj: Context, token: str) -> None:
    """Unsubscribe the reader whose unsubscribe link carries TOKEN.

    \b
    Example:
        borderlinks unsubscribe 3q2-7wAbc9XyZ0123456789abcdefghi
    """
    from .store import Store
    from .subscribers import unsubscribe

    with Store(obj.home.database_url) as store:
        found = unsubscribe(store, token)
    if found is None:
        raise click.ClickException("no subscriber has that token; copy it whole from the link (after 'token=')")
    click.echo(f"Unsubscribed {found.email}: they get nothing more.")


@cli.group()
def subscribers() -> None:
    """Keep the mailing list: import subscribers.csv, add, remove, list.

    \b
    Example:
        borderlinks subscribers import
    """


@subscribers.command("import")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), help="The CSV (default: HOME/subscribers.csv).")
@pass_context
def subscribers_import(obj: Context, path: Path | None) -> None:
    """Add and update the list from subscribers.csv; a bad row is reported by line.

    Columns: email,name,editions,themes,language,status. Exits with 1 when a
    row was bad (the good ones are imported).

    \b
    Example:
        borderlinks subscribers import --file ~/Downloads/subscribers.csv
    """
    from .store import Store
    from .subscribers import import_subscribers

    with Store(obj.home.database_url) as store:
        result = import_subscribers(obj.home, store, path)
    for error in result.errors:
        click.echo(f"{error}", err=True)
    for email in result.kept_unsubscribed:
        click.echo(f"{email}: kept unsubscribed (they used their unsubscribe link); 'subscribers add' to take them back")
    click.echo(f"{result.path}: {result.added} added, {result.updated} updated, {result.unchanged} unchanged, {len(result.errors)} problems")
    if result.errors:
        raise click.exceptions.Exit(1)


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="The name shown in To.")
@click.option("--edition", "editions", multiple=True, metavar="SLUG", help="Only this edition (repeatable; default: all).")
@click.option("--theme", "themes", multiple=True, metavar="SLUG", help="Only items about this theme (repeatable; default: all).")
@click.option("--language", default="", help="The reader's language (en, es, pt).")
@pass_context
def subscribers_add(obj: Context, email: str, name: str, editions: tuple[str, ...], themes: tuple[str, ...], language: str) -> None:
    """Add an address, or replace its name, editions and themes and make it active.

    \b
    Example:
        borderlinks subscribers add ana@example.org --name "Ana Pérez" --edition security-news --theme darien
    """
    from .store import Store
    from .subscribers import add_subscriber

    with Store(obj.home.database_url) as store:
        subscriber, what = add_subscriber(obj.home, store, email, name=name, editions=editions, themes=themes, language=language)
    click.echo(f"{what.capitalize()} {subscriber.email}.")


@subscribers.command("remove")
@click.argument("email")
@pass_context
def subscribers_remove(obj: Context, email: str) -> None:
    """Take an address off the list (and out of subscribers.csv, or an import adds it back).

    \b
    Example:
        borderlinks subscribers remove ana@example.org
    """
    from .store import Store
    from .subscribers import remove_subscriber

    with Store(obj.home.database_url) as store:
        found = remove_subscriber(store, email)
    if found is None:
        raise click.ClickException(f"{email} is not on the list")
    click.echo(f"Removed {found.email}.")


@subscribers.command("list")
@click.option("--status", type=click.Choice(["active", "unsubscribed"]), help="Only this status.")
@click.option("--csv", "as_csv", is_flag=True, help="Print subscribers.csv, to refresh the spreadsheet from the list.")
@pass_context
def subscribers_list(obj: Context, status: str | None, as_csv: bool) -> None:
    """List the subscribers with their editions, themes and status.

    \b
    Examples:
        borderlinks subscribers list --status active
        borderlinks subscribers list --csv > subscribers.csv
    """
    from .store import Store
    from .subscribers import list_subscribers, subscribers_csv

    with Store(obj.home.database_url) as store:
        found = list_subscribers(store, status=status)
    if as_csv:
        click.echo(subscribers_csv(found), nl=False)
        return
    for s in found:
        click.echo(f"{s.email:<36} {s.status:<13} editions: {';'.join(s.editions) or 'all'}  themes: {';'.join(s.themes) or 'all'}  {s.name}")
    click.echo(f"({len(found)} subscribers)")


@cli.command("run")
@click.option("--list", "list_only", is_flag=True, help="Print the jobs and their next run times, and exit; the jobs are not changed.")
@click.option("--log-json", is_flag=True, help="Log one JSON object per line instead of text.")
@pass_context
def run_command(obj: Context, list_only: bool, log_json: bool) -> None:
    """Run the scheduler: fetch, draft review files, build and send editions on time.

    Jobs come from scheduler/ (each edition's schedule, and schedule.toml)
    and are kept in the database with their next run times. Logs go to
    standard error, one line per event. Ctrl-C or SIGTERM stops it once the
    running jobs finish.

    \b
    Examples:
        borderlinks run --list
        borderlinks --home mysite run --log-json
    """
    from .report import print_jobs
    from .schedule import list_jobs, run

    if list_only:
        print_jobs(list_jobs(obj.home))
        return
    raise click.exceptions.Exit(run(obj.home, log_json=log_json))


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and formats our errors the click way."""
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="borderlinks", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except BorderlinksError as e:
        if verbose:
            import traceback

            traceback.print_exc()
        click.echo(f"Error: {e}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
