"""Benchmark: `borderlinks send` to a local SMTP server, one reused connection against one per message.

The demo's security-news edition for 2025-03-21 (15 items under 12 themes)
goes to 2,000 subscribers: half take every theme, half one to three themes,
so most copies are filtered and several dozen distinct copies are rendered.
The server is aiosmtpd in its own process on 127.0.0.1, counting what it
accepts; it offers PIPELINING and 8BITMIME, as Postfix, Exim and the large
providers do (aiosmtpd reads commands strictly in order, which is all RFC 2920
asks of a server; it just does not say so unless told).

By default the server is set up as the submission server an operator sends
through (port 587): STARTTLS required, with a self-signed certificate the
client is told to trust, and a login (AUTH PLAIN) required. ``--tls none``
and ``--no-auth`` measure a bare server instead, which costs little to
connect to and so shows the least a reused connection can gain. Printed, all
measured in this run through the same code path:

- one SMTP connection for the whole run (the default);
- a new connection for every message (``per_connection = 1`` in [mail]),
  as a naive sender does: a TLS handshake and a login every time;
- with ``--plain-server`` too: both again against a server that offers no
  PIPELINING, where each message waits for the answer to the one before.

Targets: at least 200 messages a second, and at least 5 times the
one-connection-per-message figure.

Usage: python benchmarks/send.py [--subscribers 2000] [--tls starttls|none] [--no-auth] [--plain-server]
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
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from borderlinks.config import Home
from borderlinks.deliver import send
from borderlinks.demo import run_demo
from borderlinks.store import Store, sends
from borderlinks.subscribers import import_subscribers

EDITION, DAY = "security-news", date(2025, 3, 21)

SERVER = r"""
import asyncio, logging, socket, ssl, sys, time
from aiosmtpd.controller import Controller

# aiosmtpd logs a deprecation of its own at every login (Session.login_data): not the server's work, so not measured.
logging.getLogger("mail.log").setLevel(logging.ERROR)

class Counter:
    accepted = 0
    pipelining = sys.argv[4] == "pipelining"
    logins = 0
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses
    async def handle_DATA(self, server, session, envelope):
        Counter.accepted += 1
        return "250 2.0.0 OK"

def check_login(server, session, envelope, mechanism, auth_data):
    # What a submission server does per login: look the user up and compare the password in constant time.
    from aiosmtpd.smtp import AuthResult
    import hmac
    Counter.logins += 1
    ok = auth_data.login == b"mailer" and hmac.compare_digest(auth_data.password, b"s3cret-for-the-benchmark")
    return AuthResult(success=ok, handled=False)

port, cert, key, auth = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[5] == "auth"
options = {}
if cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    options = {"tls_context": context, "require_starttls": True}
if auth:
    options.update(authenticator=check_login, auth_required=True, auth_require_tls=bool(cert))
controller = Controller(Counter(), hostname="127.0.0.1", port=port, **options)
controller.start()
print("ready", flush=True)
for line in sys.stdin:
    print(Counter.accepted, time.process_time(), Counter.logins, flush=True)
controller.stop()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_subscribers(path: Path, count: int, themes: list[str], rng: random.Random) -> None:
    lines = ["email,name,editions,themes,language,status"]
    for n in range(count):
        chosen = "" if n % 2 == 0 else ";".join(rng.sample(themes, rng.randint(1, 3)))
        lines.append(f"reader{n:05d}@example.org,Reader {n},{EDITION},{chosen},en,active")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def run(home: Home, per_connection: int, environ: dict[str, str]) -> tuple[int, float, float]:
    """One send of the whole list from scratch: (messages sent, wall seconds, the sender's CPU seconds)."""
    (home.root / "borderlinks.toml").write_text(
        f'site_url = "https://links.example.org/"\n[mail]\nper_connection = {per_connection}\nretries = 0\n', encoding="utf-8"
    )
    with Store(home.database_url) as store:
        with store.engine.begin() as conn:
            conn.execute(sends.delete())
        started, cpu = time.perf_counter(), time.process_time()
        results = send(home, store, edition=EDITION, day=DAY, environ=environ)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    problems = [r for r in results if r.failed or r.deferred or r.status != "done"]
    if problems:
        raise SystemExit(f"send failed: {problems}")
    return sum(r.sent for r in results), seconds, cpu


def empty_copies(home: Home) -> int:
    """Subscribers whose themes leave nothing of the post: recorded, not sent."""
    with Store(home.database_url) as store, store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sends).where(sends.c.state == "empty")).scalar() or 0


def measure(home: Home, options: argparse.Namespace, kind: str, cert: str, key: str) -> dict[int, float]:
    """Messages a second, reused connection (0) and one per message (1), against a server of this kind."""
    port = free_port()
    environ = {
        "BORDERLINKS_SMTP_HOST": "127.0.0.1", "BORDERLINKS_SMTP_PORT": str(port),
        "BORDERLINKS_SMTP_TLS": options.tls, "BORDERLINKS_MAIL_FROM": "Border Links <links@example.org>",
    }
    if options.auth:
        environ.update(BORDERLINKS_SMTP_USER="mailer", BORDERLINKS_SMTP_PASSWORD="s3cret-for-the-benchmark")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), cert, key, kind, "auth" if options.auth else "none"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        assert server.stdout.readline().strip() == "ready"

        def accepted() -> tuple[int, float, int]:
            """The server's count of accepted messages, its CPU seconds and its logins so far."""
            server.stdin.write("count\n")
            server.stdin.flush()
            count, cpu, logins = server.stdout.readline().split()
            return int(count), float(cpu), int(logins)

        measured: dict[int, list[tuple[int, float, float, float, int]]] = {0: [], 1: []}
        for round_ in range(options.rounds):
            for per_connection in ((0, 1) if round_ % 2 == 0 else (1, 0)):  # alternate, so load changes hit both
                count, server_cpu, logins = accepted()
                sent, seconds, cpu = run(home, per_connection, environ)
                count_after, server_cpu_after, logins_after = accepted()
                assert count_after - count == sent == options.subscribers - empty_copies(home), "the server's count differs"
                measured[per_connection].append((sent, seconds, cpu, server_cpu_after - server_cpu, logins_after - logins))
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=10)
    print(f"server offering {'PIPELINING and 8BITMIME' if kind == 'pipelining' else '8BITMIME, no PIPELINING'}:")
    rates = {}
    for per_connection, label in ((0, "one reused connection:    "), (1, "a connection per message: ")):
        sent, seconds, cpu, server_cpu, logins = sorted(measured[per_connection], key=lambda m: m[0] / m[1])[len(measured[per_connection]) // 2]
        rates[per_connection] = sent / seconds
        every = ", ".join(f"{m[0] / m[1]:.0f}" for m in measured[per_connection])
        print(f"  {label} {sent:5d} messages in {seconds:6.2f} s = {sent / seconds:5.0f} messages/s"
              f"  (CPU a message: sender {cpu / sent * 1000:.2f} ms, server {server_cpu / sent * 1000:.2f} ms; {logins} logins; rounds: {every})")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="measure each way this many times, alternating; print the median")
    parser.add_argument("--plain-server", action="store_true", help="also measure against a server offering no PIPELINING")
    parser.add_argument("--tls", choices=("none", "starttls"), default="starttls",
                        help="starttls: the server asks for STARTTLS with a self-signed certificate (needs openssl)")
    parser.add_argument("--no-auth", dest="auth", action="store_false",
                        help="the server requires no login (by default it requires AUTH PLAIN, as a submission server does)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="borderlinks-send-bench-"))
    try:
        run_demo(work / "home", echo=lambda _line: None)
        home = Home(work / "home")
        rng = random.Random(7)
        themes = ["organized-crime", "corruption", "civil-military", "arms-transfers", "human-rights", "drugs",
                  "colombia-peace", "migration-flows", "darien", "deportation", "border-enforcement", "us-politics"]
        write_subscribers(home.root / "subscribers.csv", options.subscribers, themes, rng)
        with Store(home.database_url) as store:
            started = time.perf_counter()
            imported = import_subscribers(home, store)
            import_seconds = time.perf_counter() - started
        assert imported.added == options.subscribers and not imported.errors, imported

        cert = key = ""
        if options.tls == "starttls":
            cert_path, key_path = self_signed(work)
            cert, key = str(cert_path), str(key_path)
            os.environ["SSL_CERT_FILE"] = cert  # the client trusts the self-signed certificate
        print(f"{options.subscribers} subscribers of {EDITION} {DAY} (imported in {import_seconds:.2f} s); "
              f"aiosmtpd in its own process on 127.0.0.1, tls {options.tls}, {'login required' if options.auth else 'no login'}; median of {options.rounds} rounds")
        servers = ["pipelining", "plain"] if options.plain_server else ["pipelining"]
        for kind in servers:
            rates = measure(home, options, kind, cert, key)
            ratio = rates[0] / rates[1]
            print(f"  ratio: {ratio:.1f}x  (targets: >= 200 messages/s: {'met' if rates[0] >= 200 else 'NOT met'}; "
                  f">= 5x: {'met' if ratio >= 5 else 'NOT met'})")
        print("  (each figure is the whole `send`: selection, rendering, records and SMTP)")
        print(f"  load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
