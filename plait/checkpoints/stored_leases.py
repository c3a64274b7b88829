"""A run's lease as the SQL stores keep it: one row per run in ``leases`` (lease.py says what a lease
is for), taken, renewed and released under the store's lock on that run and judged by the store's
clock. Mixed into SQLStore (sql_store.py), which provides ``_transact``, ``_one``, ``_lock_run``
and ``_clock``.
"""

from __future__ import annotations

import os
from typing import Any

from plait.checkpoints.lease import is_active, lease_held, this_host
from plait.checkpoints.protocol import Lease
from plait.errors import StoreError

LEASE_COLUMNS = "run_id, owner, host, pid, acquired_at, expires_at"
PUT_LEASE = """INSERT INTO leases (run_id, owner, host, pid, acquired_at, expires_at) VALUES (?,?,?,?,?,?)
ON CONFLICT (run_id) DO UPDATE SET owner=excluded.owner, host=excluded.host, pid=excluded.pid,
    acquired_at=excluded.acquired_at, expires_at=excluded.expires_at"""


class StoredLeases:
    """The leases table's methods (see the module docstring for what the store provides)."""

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> None:
        """Take the run's lease for ``ttl`` seconds: refused (LeaseHeld) while another owner's lease
        is live; one that expired, or whose holder on this host is dead, is taken over."""
        def work(tx: Any) -> None:
            self._lock_run(tx, run_id)
            now, held = self._clock(tx), lease_row(tx, run_id)
            if held is not None and held.owner != owner and is_active(held, now):
                raise lease_held(held, now=now)
            since = held.acquired_at if held is not None and held.owner == owner else now
            tx.execute(PUT_LEASE, (run_id, owner, this_host(), os.getpid(), since, now + ttl))

        self._transact(work)

    def renew_lease(self, run_id: str, owner: str, ttl: float) -> None:
        """Extend our lease to ``ttl`` seconds from now. Raises LeaseHeld(lost=True) if another
        process took it over (ours had expired), StoreError if it is gone."""
        def work(tx: Any) -> None:
            self._check_holder(tx, run_id, owner)
            tx.execute("UPDATE leases SET expires_at=? WHERE run_id=?", (self._clock(tx) + ttl, run_id))

        self._transact(work)

    def release_lease(self, run_id: str, owner: str) -> None:
        def work(tx: Any) -> None:
            self._lock_run(tx, run_id)
            tx.execute("DELETE FROM leases WHERE run_id=? AND owner=?", (run_id, owner))

        self._transact(work)

    def lease(self, run_id: str) -> Lease | None:
        row = self._one(f"SELECT {LEASE_COLUMNS} FROM leases WHERE run_id=?", (run_id,))
        return Lease(*row) if row else None

    def _check_holder(self, tx: Any, run_id: str, owner: str) -> None:
        self._lock_run(tx, run_id)
        held = lease_row(tx, run_id)
        if held is None:
            raise StoreError(f"this process no longer holds run {run_id}: its lease is gone",
                             found="no lease row (released by another process, or deleted by `plait gc`)",
                             fix="stop here and resume the run again; recorded nodes are kept")
        if held.owner != owner:
            raise lease_held(held, lost=True)


def lease_row(tx: Any, run_id: str) -> Lease | None:
    """The run's lease as ``tx`` sees it, None if nobody holds it."""
    row = tx.execute(f"SELECT {LEASE_COLUMNS} FROM leases WHERE run_id=?", (run_id,)).fetchone()
    return Lease(*row) if row else None
