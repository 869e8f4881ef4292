"""The inter-process lock: one build or send at a time, one scheduler per database.

A lock is a row of the store's ``locks`` table, taken with an INSERT that fails
while a row of the same name exists, so it holds across processes (and, with a
server database, across machines). A row is stale, and taken over, when its
process is gone (same host, no such pid) or its time ran out.

Within a process the lock is re-entrant per thread: the scheduler's edition
job holds it and calls :func:`borderlinks.workflow.build` and
:func:`borderlinks.deliver.send`, which take it again. Another thread of the
same process waits as another process would.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from .errors import LockError
from .store import Store, from_utc_text, locks, utc_text

BUILD_SEND = "build-send"  # held by `borderlinks build`, `borderlinks send` and the scheduler's edition jobs
SCHEDULER = "scheduler"  # held by `borderlinks run` for as long as it runs
TTL = timedelta(hours=6)  # no build or send takes this long; a longer holder refreshes its row
MANUAL_WAIT = 10.0  # seconds a manual build or send waits for one in progress before giving up
_POLL = 0.2


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its row says."""

    name: str
    owner: str
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where} since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC, {self.owner}"


def current_holder(store: Store, name: str = BUILD_SEND) -> Holder | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(locks).where(locks.c.name == name)).mappings().first()
    return _holder(row) if row else None


def is_stale(holder: Holder, now: datetime | None = None) -> bool:
    """A lock whose time ran out, or whose process on this host is gone."""
    now = now or datetime.now(UTC)
    if holder.expires_at <= now:
        return True
    return holder.host == socket.gethostname() and not _alive(holder.pid)


class _Local:
    """This process's hold on one lock: which thread, how deep."""

    def __init__(self) -> None:
        self.rlock = threading.RLock()
        self.depth = 0
        self.holder: Holder | None = None


_locals: dict[tuple[str, str], _Local] = {}
_locals_guard = threading.Lock()


def _local(url: str, name: str) -> _Local:
    with _locals_guard:
        return _locals.setdefault((url, name), _Local())


@contextmanager
def hold_lock(
    database: Store | str, *, owner: str, name: str = BUILD_SEND, wait: float | None = None, ttl: timedelta = TTL
) -> Iterator[Holder]:
    """Hold a lock for the block; wait up to ``wait`` seconds for its holder, then raise :class:`LockError`.

    ``database`` is a store or a database URL (a store is opened for the block).
    ``wait`` defaults to :data:`MANUAL_WAIT`.
    """
    wait = MANUAL_WAIT if wait is None else wait
    if isinstance(database, str):
        with Store(database) as store, hold_lock(store, owner=owner, name=name, wait=wait, ttl=ttl) as holder:
            yield holder
        return
    store = database
    local = _local(store.url, name)
    deadline = time.monotonic() + wait
    if not local.rlock.acquire(timeout=max(wait, 0.0)):
        raise _lock_error(name, local.holder)
    try:
        if local.depth == 0:
            local.holder = _acquire(store, name, owner, ttl, deadline)
        local.depth += 1
        try:
            yield local.holder  # type: ignore[misc]
        finally:
            local.depth -= 1
            if local.depth == 0 and local.holder is not None:
                release(store, local.holder)
                local.holder = None
    finally:
        local.rlock.release()


def take(store: Store, name: str, owner: str, *, ttl: timedelta = TTL, now: datetime | None = None) -> Holder | None:
    """One attempt: our new row, or None if a live holder has the lock (stale rows are taken over)."""
    for _ in range(3):  # a stale row deleted, or the holder gone between our INSERT and our look
        now = now or datetime.now(UTC)
        mine = Holder(name, owner, socket.gethostname(), os.getpid(), now.replace(microsecond=0), (now + ttl).replace(microsecond=0))
        try:
            with store.engine.begin() as conn:
                conn.execute(locks.insert().values(_row(mine)))
            return mine
        except sa.exc.IntegrityError:
            found = current_holder(store, name)
            if found is None:
                continue
            if not is_stale(found, now) and not (found.pid == os.getpid() and found.host == mine.host):
                return None
            # Our own pid can only be a leftover here: this thread holds the in-process lock.
            with store.engine.begin() as conn:
                conn.execute(locks.delete().where(*_same(found)))
        now = None
    return None


def release(store: Store, holder: Holder) -> None:
    """Delete our row, and only ours: a row taken over as stale belongs to its new holder."""
    with store.engine.begin() as conn:
        conn.execute(locks.delete().where(*_same(holder)))


def refresh(store: Store, holder: Holder, ttl: timedelta = TTL) -> Holder:
    """Push a long holder's expiry forward; raises :class:`LockError` if the row is no longer ours."""
    expires = (datetime.now(UTC) + ttl).replace(microsecond=0)
    with store.engine.begin() as conn:
        done = conn.execute(locks.update().where(*_same(holder)).values(expires_at=utc_text(expires))).rowcount
    if not done:
        raise _lock_error(holder.name, current_holder(store, holder.name), lost=True)
    return Holder(holder.name, holder.owner, holder.host, holder.pid, holder.acquired_at, expires)


def _acquire(store: Store, name: str, owner: str, ttl: timedelta, deadline: float) -> Holder:
    while True:
        mine = take(store, name, owner, ttl=ttl)
        if mine is not None:
            return mine
        if time.monotonic() >= deadline:
            raise _lock_error(name, current_holder(store, name))
        time.sleep(_POLL)


def _lock_error(name: str, holder: Holder | None, lost: bool = False) -> LockError:
    where = f" ({holder.describe()})" if holder else ""
    if lost:
        return LockError(f"the {name} lock was taken over{where}; is the clock right, or was the lock removed by hand?", holder)
    if name == SCHEDULER:
        return LockError(f"another scheduler is running on this database{where}; stop it first (one 'borderlinks run' per database)", holder)
    return LockError(f"another build or send is running{where}; try again when it ends", holder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _same(holder: Holder) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        locks.c.name == holder.name, locks.c.host == holder.host, locks.c.pid == holder.pid,
        locks.c.acquired_at == utc_text(holder.acquired_at),
    )


def _row(holder: Holder) -> dict[str, object]:
    return {
        "name": holder.name, "owner": holder.owner, "host": holder.host, "pid": holder.pid,
        "acquired_at": utc_text(holder.acquired_at), "expires_at": utc_text(holder.expires_at),
    }


def _holder(row: sa.RowMapping) -> Holder:
    return Holder(
        row["name"], row["owner"], row["host"], row["pid"],
        from_utc_text(row["acquired_at"]) or datetime.now(UTC), from_utc_text(row["expires_at"]) or datetime.now(UTC),
    )
