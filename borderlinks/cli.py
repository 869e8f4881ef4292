"""The ``borderlinks`` command: a thin client over the library.

Each command is a few lines calling one library function. Errors are
formatted once, in :func:`main`: ``Error: <what>. <what to do>``, exit 1;
usage errors exit 2; a traceback only with ``-v``.
"""

from __future__ import annotations

import sys
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
