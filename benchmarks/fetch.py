"""Benchmark: `borderlinks fetch` against a sequential loop and rss2email.

A local server on 127.0.0.1 to 127.0.0.30 (so per-host limits apply as on
the web) serves 300 feeds of 50 items (~60 KB each, news prose recombined from the
demo's sample feeds) with 200 ms latency per response. Printed, all
measured in this run:

- borderlinks fetch as a whole process: wall time, CPU time, peak memory;
- a plain sequential loop (one request after another, then feedparser), as rss2email does;
- rss2email 3.14 itself (`r2e run --no-send`) in its own venv, where it installs;
- a second borderlinks pass, where every feed answers 304.

Usage: python benchmarks/fetch.py [--feeds 300] [--items 50] [--latency 0.2] [--rounds 3] [--no-rss2email] [--keyword-salad]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
WORDS = (
    "frontera migrantes asilo Border Patrol Darién Panamá Colombia ELN cartel Sinaloa deportación vuelos "
    "Texas Eagle Pass buoys Ciudad Juárez albergue CBP One Guardia Nacional Ecuador Venezuela Tren de Aragua "
    "Congress executive order Honduras Guatemala Tapachula caravana Haití corrupción fiscal militares"
).split()


def demo_prose() -> list[tuple[str, str]]:
    """Titles and summaries of the demo's sample feeds: news prose in English, Spanish and Portuguese."""
    import feedparser

    found = []
    for path in sorted((HERE.parent / "borderlinks" / "demo_data" / "feeds").iterdir()):
        for entry in feedparser.parse(path.read_bytes()).entries:
            if entry.get("title") and entry.get("summary"):
                found.append((entry.title, " ".join(entry.summary.split())))
    return found


def make_feed(n: int, items: int, rng: random.Random, prose: list[tuple[str, str]] | None) -> str:
    """A feed of ``items`` entries of about 1,200 bytes (60 KB a feed): demo prose recombined, or keyword salad."""
    now = datetime(2025, 3, 20, 12, tzinfo=UTC)
    entries = []
    for i in range(items):
        if prose:
            title = f"{rng.choice(prose)[0]} ({n}-{i})"
            body = ""
            while len(body) < 600:
                body += " " + rng.choice(prose)[1]
        else:
            title = " ".join(rng.choice(WORDS) for _ in range(9)).capitalize()
            body = " ".join(rng.choice(WORDS) for _ in range(150))
        when = format_datetime(now - timedelta(minutes=17 * i + n))
        entries.append(
            f"<item><title>{escape(title)}</title><link>https://outlet{n}.example/{i}/story-{n}-{i}</link>"
            f"<guid isPermaLink=\"false\">outlet{n}-{i}</guid><pubDate>{when}</pubDate>"
            f"<description>{escape('<p>' + body + '</p>')}</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Outlet {n}</title>'
        f"<link>https://outlet{n}.example/</link><description>Benchmark feed</description>{''.join(entries)}</channel></rss>\n"
    )


def measured(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float, float, str]:
    """Wall, CPU and peak RSS of one child process, measured with wait4."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    output = process.stdout.read() if process.stdout else b""
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output.decode(errors="replace")


def sequential_loop(urls: list[str]) -> tuple[float, float, int]:
    """One request after another, each parsed with feedparser: the rss2email way."""
    import feedparser
    import httpx

    started, cpu = time.perf_counter(), time.process_time()
    entries = 0
    with httpx.Client(timeout=30) as client:
        for url in urls:
            response = client.get(url)
            entries += len(feedparser.parse(response.content).entries)
    return time.perf_counter() - started, time.process_time() - cpu, entries


def rss2email_venv(work: Path) -> Path | None:
    venv = work / "r2e-venv"
    done = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True)
    if done.returncode:
        return None
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "rss2email==3.14"], capture_output=True, text=True)
    if done.returncode:
        print(f"  rss2email 3.14 did not install: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return venv / "bin" / "r2e"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--no-rss2email", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each borderlinks command; the median is printed")
    parser.add_argument(
        "--keyword-salad", action="store_true",
        help="Fill items with topic keywords only (every word a match): a worst case for classification, not real news.",
    )
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="borderlinks-bench-"))
    feeds = work / "feeds"
    feeds.mkdir()
    rng = random.Random(7)
    prose = None if options.keyword_salad else demo_prose()
    sizes = []
    for n in range(options.feeds):
        text = make_feed(n, options.items, rng, prose)
        (feeds / f"feed{n}.xml").write_text(text, encoding="utf-8")
        sizes.append(len(text.encode()))
    hosts = [f"127.0.0.{h + 1}" for h in range(options.hosts)]
    urls = [f"http://{hosts[n % len(hosts)]}:{options.port}/feed{n}.xml" for n in range(options.feeds)]
    home = work / "home"
    (home / "sources").mkdir(parents=True)
    (home / "sources" / "bench.toml").write_text(
        "".join(f'[[source]]\nid = "feed-{n}"\nname = "Outlet {n}"\nurl = "{url}"\n\n' for n, url in enumerate(urls)), encoding="utf-8"
    )
    server = subprocess.Popen(
        [sys.executable, str(HERE / "feedserver.py"), str(feeds), str(options.port), str(options.latency), *hosts],
        stdout=subprocess.PIPE, text=True,
    )
    # An installed tool runs from bytecode (pip compiles it at install; an editable install writes it at its
    # first run) unless PYTHONDONTWRITEBYTECODE is set, as it is on some machines: compile it here, so that
    # every run measures the tool, not the compiler (the dependencies and rss2email have theirs from pip).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "borderlinks")], check=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        total_items = options.feeds * options.items
        print(f"{options.feeds} feeds x {options.items} items ({sum(sizes) / len(sizes) / 1024:.0f} KB each) on {len(hosts)} "
              f"loopback hosts, {options.latency * 1000:.0f} ms latency per response")
        # Each borderlinks run is a whole process on a fresh home, measured --rounds times (the median is
        # printed): one run of two seconds moves by a tenth or two with whatever else the machine does.
        runs: dict[str, list[tuple[float, float, float, str]]] = {"bare": [], "first": [], "again": []}
        for round_ in range(options.rounds):
            # Fetch and store only: a home whose classifiers folder is empty, so nothing is tagged.
            bare = work / f"bare{round_}"
            (bare / "sources").mkdir(parents=True)
            (bare / "classifiers").mkdir()
            shutil.copy(home / "sources" / "bench.toml", bare / "sources" / "bench.toml")
            runs["bare"].append(measured([sys.executable, "-m", "borderlinks", "--home", str(bare), "fetch", "--json"]))
            themed = work / f"home{round_}"
            shutil.copytree(home, themed)
            command = [sys.executable, "-m", "borderlinks", "--home", str(themed), "fetch", "--json"]
            runs["first"].append(measured(command))
            runs["again"].append(measured(command))

        def median(kind: str) -> tuple[float, float, float, str]:
            return sorted(runs[kind], key=lambda run: run[0])[len(runs[kind]) // 2]

        wall0, cpu0, rss0, _ = median("bare")
        wall1, cpu1, rss1, out1 = median("first")
        wall2, cpu2, rss2, out2 = median("again")
        new1 = sum(int(line.split('"new_items": ')[1].split(",")[0]) for line in out1.splitlines() if '"new_items"' in line)
        errors1 = out1.count('"status": "error"')
        new2 = sum(int(line.split('"new_items": ')[1].split(",")[0]) for line in out2.splitlines() if '"new_items"' in line)
        not_modified = out2.count('"not-modified"')
        seq_wall, seq_cpu, seq_entries = sequential_loop(urls)

        r2e = None
        if not options.no_rss2email:
            r2e = rss2email_venv(work)
        r2e_figures = None
        if r2e is not None:
            r2e_home = work / "r2e"
            r2e_home.mkdir()
            env = {**os.environ, "XDG_CONFIG_HOME": str(r2e_home / "config"), "XDG_DATA_HOME": str(r2e_home / "data")}
            subprocess.run([str(r2e), "new", "bench@example.org"], env=env, capture_output=True, check=True)
            for n, url in enumerate(urls):
                subprocess.run([str(r2e), "add", f"feed{n}", url], env=env, capture_output=True, check=True)
            r2e_figures = measured([str(r2e), "run", "--no-send"], env=env)

        print()
        print(f"{'run (median of ' + str(options.rounds) + ')':<36}{'wall s':>9}{'CPU s':>9}{'peak MB':>9}   notes")
        for kind, label in (("bare", "no themes"), ("first", "first pass"), ("again", "all 304")):
            print(f"  rounds, {label}: " + ", ".join(f"{run[0]:.2f}" for run in runs[kind]) + " s wall")
        print(f"{'borderlinks fetch, no themes':<36}{wall0:>9.2f}{cpu0:>9.2f}{rss0:>9.0f}   fetch, parse, store only")
        print(f"{'borderlinks fetch (first pass)':<36}{wall1:>9.2f}{cpu1:>9.2f}{rss1:>9.0f}   {new1} new items of {total_items}, {errors1} errors, classified")
        print(f"{'borderlinks fetch (all 304)':<36}{wall2:>9.2f}{cpu2:>9.2f}{rss2:>9.0f}   {not_modified} not modified, {new2} new items")
        print(f"{'sequential loop (httpx+feedparser)':<36}{seq_wall:>9.2f}{seq_cpu:>9.2f}{'':>9}   {seq_entries} entries parsed")
        if r2e_figures:
            print(f"{'rss2email 3.14 r2e run --no-send':<36}{r2e_figures[0]:>9.2f}{r2e_figures[1]:>9.2f}{r2e_figures[2]:>9.0f}")
        else:
            print(f"{'rss2email 3.14':<36}{'not measured (did not install or --no-rss2email)':>40}")
        print()
        print(f"speed-up vs sequential loop: {seq_wall / wall0:.1f}x fetch and store, {seq_wall / wall1:.1f}x with classification (target >= 35x)")
        if r2e_figures:
            print(f"speed-up vs rss2email:       {r2e_figures[0] / wall0:.1f}x fetch and store, {r2e_figures[0] / wall1:.1f}x with classification (target >= 35x)")
        print(f"second pass CPU / first:     {cpu2 / cpu1:.2f} (stores nothing: {new2 == 0})")
        print(f"latency floor (3 rounds):    {3 * options.latency:.2f} s plus start-up")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
