"""A real PostgreSQL server for the tests: one per test session, a fresh database per test.

The server is Debian's (``postgresql``, which ``scripts/bootstrap.sh test`` installs when missing),
initialized into a temporary directory and listening only on a Unix socket in it: no TCP port,
nothing shared with the machine. fsync is off: a crash of the machine is not what these tests
test, a crash of a client is. It is stopped at the end of the session, also after a failure.

initdb refuses to run as root: as root the server runs as ``nobody``. Without the binaries (or
psycopg) the PostgreSQL tests skip and say why; with ``$CI`` set they fail instead.

``$PLAIT_PG_BIN`` names the folder of initdb and pg_ctl when they are elsewhere.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SUPERUSER = "plait"
_names = itertools.count()


def find_bindir() -> Path | None:
    """The folder with initdb, pg_ctl and postgres: $PLAIT_PG_BIN, Debian's newest, or $PATH."""
    candidates = [os.environ.get("PLAIT_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    on_path = shutil.which("initdb")
    candidates.append(os.path.dirname(on_path) if on_path else "")
    for folder in filter(None, candidates):
        if all(os.access(Path(folder) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _version(folder: str) -> float:
    try:
        return float(Path(folder).parent.name)
    except ValueError:
        return 0.0


def unavailable() -> str | None:
    """Why no server can be started here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install -e '.[postgres]' (make test does)"
    if find_bindir() is None:
        return ("no PostgreSQL server binaries (initdb, pg_ctl): run `make test`, which installs Debian's "
                "postgresql package as root, or apt-get install postgresql, or set $PLAIT_PG_BIN")
    return None


class Server:
    """One PostgreSQL server in ``root`` (data, log and socket), run as ``user``."""

    def __init__(self, bindir: Path, root: Path, user: str | None) -> None:
        self.bindir, self.root, self.user = bindir, root, user
        self.data, self.log = root / "data", root / "server.log"

    def _run(self, tool: str, *args: str, check: bool = True) -> int:
        account = pwd.getpwnam(self.user) if self.user else None
        result = subprocess.run([str(self.bindir / tool), *args], cwd=self.root, capture_output=True, text=True,
                                user=account.pw_uid if account else None, group=account.pw_gid if account else None,
                                extra_groups=[] if account else None, timeout=120)
        if check and result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{result.stdout}{result.stderr}\n{log[-3000:]}")
        return result.returncode

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
                  "--no-instructions")
        with open(self.data / "postgresql.conf", "a") as conf:  # socket only, and fast: no fsync
            conf.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.root}'\nfsync = off\n"
                       "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False) == 0

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", "60", "restart")

    def url(self, database: str, password: str | None = None) -> str:
        user = f"{SUPERUSER}:{password}" if password else SUPERUSER
        return f"postgresql://{user}@/{database}?host={self.root}"

    def admin(self, sql: str, *args: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            cursor = conn.execute(sql, args)
            return cursor.fetchall() if cursor.description else []

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(_names)}"
        self.admin(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')  # faster than WAL_LOG without fsync
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{database_of(url)}" WITH (FORCE)')

    def terminate(self, url: str) -> int:
        """Terminate every connection to the database of ``url`` (as a server crash of those
        backends would); how many there were."""
        rows = self.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=%s"
                          " AND pid <> pg_backend_pid()", database_of(url))
        return len(rows)


def database_of(url: str) -> str:
    return url.split("@/", 1)[1].split("?", 1)[0]


def start_server() -> tuple[Server, Path]:
    """Start a server in a new temporary folder (run as ``nobody`` when we are root)."""
    bindir = find_bindir()
    assert bindir is not None
    user = "nobody" if os.geteuid() == 0 else None
    account = pwd.getpwnam(user) if user else None  # KeyError: no such user
    root = Path(tempfile.mkdtemp(prefix="plait-pg-"))  # not under pytest's root-only tmp: `nobody` must enter it
    server = Server(bindir, root, user)
    try:
        if account:
            os.chown(root, account.pw_uid, account.pw_gid)
        server.init()
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server, root


def _cannot(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL server (started on first use); skipped, or failed under $CI, when
    it cannot start."""
    reason = unavailable()
    if reason is not None:
        _cannot(reason)
    try:
        server, root = start_server()
    except (OSError, KeyError, RuntimeError, subprocess.SubprocessError) as exc:
        _cannot(f"the PostgreSQL server did not start: {type(exc).__name__}: {exc}")
    try:
        yield server
    finally:
        try:
            if server.running():  # a test that stopped it restarts it, unless it failed midway
                server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """A new, empty database on the session's server (dropped afterwards), as a store URL."""
    url = pg_server.new_database()
    yield url
    pg_server.drop_database(url)
