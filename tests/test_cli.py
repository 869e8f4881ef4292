"""The command line: thin, documented, and clear about mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from pytest_httpserver import HTTPServer

from borderlinks.cli import cli, main
from borderlinks.store import SourceState
from conftest import REPO, SiteHome, read_data, unused_port


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def all_commands(group: click.Group = cli, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        names.append(full)
        if isinstance(command, click.Group):
            names.extend(all_commands(command, full + " "))
    return names


@pytest.mark.parametrize("command", all_commands())
def test_every_command_has_help_with_an_example_and_is_in_the_readme(capsys, command):
    code, out, _ = run(capsys, *command.split(), "--help")
    assert code == 0
    assert "Example" in out
    assert f"borderlinks {command}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_fetch_json_prints_one_line_per_source(site: SiteHome, httpserver: HTTPServer, capsys):
    httpserver.expect_request("/feed").respond_with_data(read_data("feeds/border-rss2.xml"), content_type="application/rss+xml")
    site.add_feed("good", httpserver.url_for("/feed"))
    site.add_feed("gone", httpserver.url_for("/missing"))
    code, out, _ = run(capsys, "--home", str(site.root), "fetch", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert {line["source"]: (line["status"], line["new_items"]) for line in lines} == {"good": ("ok", 3), "gone": ("error", 0)}
    assert lines[1]["http_status"] == 500 or lines[1]["error"]


def test_fetch_exits_non_zero_only_when_every_source_failed(site: SiteHome, capsys):
    site.write_settings("[fetch]\nretries = 0\n")
    site.add_feed("dead", f"http://127.0.0.1:{unused_port()}/feed")
    code, out, _ = run(capsys, "--home", str(site.root), "fetch")
    assert code == 1
    assert "connection refused" in out


def test_configuration_mistake_is_one_clear_line_and_exit_1(site: SiteHome, capsys):
    site.write_sources('[[source]]\nid = "x"\nname = "X"\nurl = "https://x.example/feed"\nlean = "far-right"\n')
    code, _, err = run(capsys, "--home", str(site.root), "fetch")
    assert code == 1
    assert err.startswith("Error: ")
    assert "test.toml:5: 'lean' is 'far-right'. Use one of: left, center, right" in err
    assert "Traceback" not in err


def test_usage_error_exits_2(capsys):
    code, _, err = run(capsys, "fetch", "--no-such-option")
    assert code == 2
    assert "No such option" in err


def test_status_lists_failing_sources_first_and_flags_dead_ones(site: SiteHome, capsys):
    site.add_feed("alpha", "https://alpha.example/feed")
    site.add_feed("zulu", "https://zulu.example/feed")
    now = datetime.now(UTC)
    with site.store() as store:
        store.save_source_state(SourceState("alpha", last_success_at=now, last_status="ok"))
        store.save_source_state(
            SourceState("zulu", last_status="error", last_error="HTTP 410 Gone", consecutive_failures=30, failing_since=now - timedelta(days=8))
        )
    code, out, _ = run(capsys, "--home", str(site.root), "status", "--json")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["zulu", "alpha"]
    assert rows[0]["dead"] is True and rows[0]["last_error"] == "HTTP 410 Gone"
    assert rows[1]["dead"] is False
    code, out, _ = run(capsys, "--home", str(site.root), "status")
    assert "DEAD" in out


def test_init_copies_the_packaged_content_folders(tmp_path: Path, capsys):
    code, out, _ = run(capsys, "init", str(tmp_path / "site"))
    assert code == 0
    assert (tmp_path / "site" / "sources").is_dir()
    assert list((tmp_path / "site" / "sources").glob("*.toml"))
    assert (tmp_path / "site" / "templates" / "items.html").is_file()


def test_init_keeps_files_the_user_already_edited(tmp_path: Path, capsys):
    run(capsys, "init", str(tmp_path / "site"))
    edited = next((tmp_path / "site" / "sources").glob("*.toml"))
    edited.write_text("# mine\n", encoding="utf-8")
    run(capsys, "init", str(tmp_path / "site"))
    assert edited.read_text(encoding="utf-8") == "# mine\n"


def test_console_script_runs_as_a_process(tmp_path: Path):
    env = {**os.environ, "BORDERLINKS_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "borderlinks", "--version"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("borderlinks, version")
