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
        from .classify import classify_jsonl

        for line in classify_jsonl(sys.stdin, classifier):
            click.echo(line)
        return
    if explain_id is not None:
        from .classify import explain

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
@click.option("--fetch", "fetch_first", is_flag=True, help="Fetch and classify first.")
@click.option("--allow-empty", is_flag=True, help="Build a short 'no news today' edition when there is nothing.")
@click.option("--draft", is_flag=True, help="Preview an edition that needs approval from its unapproved review file.")
@pass_context
def build(obj: Context, edition_slug: str | None, day_text: str | None, fetch_first: bool, allow_empty: bool, draft: bool) -> None:
    """Render editions into out/: HTML and text email, the web archive, feeds, JSON.

    Uses the approved review file if there is one, else the automatic
    selection where the edition allows it.

    \b
    Example:
        borderlinks build --edition daily-border-links --date 2025-03-21
    """
    from .workflow import build as build_editions
    from .workflow import parse_day

    results = build_editions(
        obj.home, edition_slug=edition_slug, day=parse_day(day_text), fetch_first=fetch_first,
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
