"""Run leases: at most one process runs (or resumes) a given run at a time.

A lease is a row in the store: the run, an owner token, the holder's host and pid, and an expiry.
The holder renews it while it works. A holder that is killed stops renewing: on its own host the
next ``resume`` sees that its pid is gone and proceeds at once; from another host, once the lease
expires. Wall-clock time is shared by all processes on one machine (and, roughly, by machines
sharing a store), so expiry is stored as a Unix time.

Example::

    with LeaseKeeper(store, run.id, ttl=30):     # raises LeaseHeld if another process has it
        ...                                        # renewed every ttl/3 in a background thread
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from typing import Any

from plait.checkpoints.protocol import Lease
from plait.errors import LeaseHeld

DEFAULT_TTL = 30.0


def lease_held(lease: Lease, *, now: float | None = None, lost: bool = False) -> LeaseHeld:
    """The error naming the holder, its expiry and what to do."""
    now = time.time() if now is None else now
    expires = f"{_utc(lease.expires_at)} (in {max(0.0, lease.expires_at - now):.0f} s)"
    holder = f"pid {lease.pid} on {lease.host}"
    found = f"a lease held by {holder} until {expires}"
    if lost:
        error = LeaseHeld(
            f"this process lost run {lease.run_id} to another process: {holder}, since {_utc(lease.acquired_at)}",
            expected="this process to hold the run's lease", found=found,
            fix="nothing recorded is lost: the other process continues the run; this one stops. It lost the "
                "lease by not renewing it in time (was it suspended?); a longer ttl avoids that")
    else:
        error = LeaseHeld(
            f"run {lease.run_id} is being run by another process: {holder}, since {_utc(lease.acquired_at)}",
            expected="no other process running this run", found=found,
            fix=f"wait for that process to finish; if it died, retry after its lease expires at {expires}")
    error.lease, error.lost = lease, lost
    return error


def is_active(lease: Lease | None, now: float | None = None) -> bool:
    """Whether the lease still keeps others out: not expired, and its holder not known dead."""
    return lease is not None and lease.live(time.time() if now is None else now) and not holder_died(lease)


def holder_died(lease: Lease) -> bool:
    """Whether the lease's holder is known dead: it ran on this host and its pid is gone (or a
    zombie). A holder on another host is alive until its lease expires."""
    if lease.host != this_host():
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:
        with open(f"/proc/{lease.pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] in ("Z", "X")  # killed, not yet reaped
    except OSError:  # no /proc (macOS): the pid exists
        return False


def new_owner() -> str:
    """An owner token unique to this process and call: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def this_host() -> str:
    return socket.gethostname()


class LeaseKeeper:
    """Holds a run's lease for the duration of a ``with`` block, renewing it in a daemon thread.

    If a renewal fails (the store became unusable, or the lease lapsed and another process took
    it), the error is kept in ``lost`` and :meth:`check` raises it; the executor may call ``check``
    between nodes, and passes ``owner`` to ``store.record`` so that a process that lost the lease
    records nothing more. Release happens on exit, also after an exception.
    """

    def __init__(self, store: Any, run_id: str, *, ttl: float = DEFAULT_TTL, owner: str | None = None) -> None:
        self.store, self.run_id, self.ttl = store, run_id, ttl
        self.owner = owner or new_owner()
        self.lost: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        self.store.acquire_lease(self.run_id, self.owner, self.ttl)
        self._thread = threading.Thread(target=self._renew, name=f"plait-lease-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.store.release_lease(self.run_id, self.owner)

    def check(self) -> None:
        if self.lost is not None:
            raise self.lost

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.store.renew_lease(self.run_id, self.owner, self.ttl)
            except Exception as exc:  # kept for check(); the run decides what to do
                self.lost = exc
                return


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
