"""Shared fixtures: a home folder to write sources into, local servers for real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from borderlinks.config import Home
from borderlinks.store import Store

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


class SiteHome:
    """A temporary home folder; tests add sources to it as TOML."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "sources").mkdir(parents=True, exist_ok=True)
        self.home = Home(root)

    def write_sources(self, text: str, name: str = "test.toml") -> Path:
        path = self.root / "sources" / name
        path.write_text(text, encoding="utf-8")
        return path

    def add_feed(self, source_id: str, url: str, **extra: object) -> None:
        lines = [f'[[source]]\nid = "{source_id}"\nname = "{source_id.title()}"\nurl = "{url}"']
        for key, value in extra.items():
            rendered = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
            lines.append(f"{key} = {rendered}")
        path = self.root / "sources" / "test.toml"
        previous = path.read_text(encoding="utf-8") if path.exists() else ""
        path.write_text(previous + "\n".join(lines) + "\n\n", encoding="utf-8")

    def store(self) -> Store:
        return Store(self.home.database_url)

    def write_settings(self, text: str) -> None:
        (self.root / "borderlinks.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> SiteHome:
    return SiteHome(tmp_path / "home")


@pytest.fixture
def fast_settings(site: SiteHome) -> SiteHome:
    """Short timeouts and backoff, so failure tests take a second, not a minute."""
    site.write_settings(
        "[fetch]\nconnect_timeout = 1.0\nread_timeout = 1.0\ndeadline = 3.0\nbackoff = 0.05\nretries = 2\nmax_bytes = 1000000\n"
    )
    return site


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def read_data(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture
def drip_server() -> Iterator[str]:
    """A server that sends headers, then one byte every half second, forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n<rss")
                while not stop.is_set():
                    conn.sendall(b" ")
                    time.sleep(0.5)
            except OSError:
                pass

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/feed"
    stop.set()
    listener.close()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
