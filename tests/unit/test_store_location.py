"""A store argument (store=, --store, $PLAIT_STORE) is a path or a URL: an SQLite file, sqlite:///,
postgresql://; any other scheme is a clear error, never a folder named after it."""

from pathlib import Path

import pytest

import plait
from plait.checkpoints.location import local_path, open_location, sqlite_path
from plait.checkpoints.urls import redact
from plait.checkpoints.stores import open_store


def test_an_unknown_scheme_is_an_error_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for store in ("mysql://me@db/runs", "redis://localhost:6379/0", "s3://bucket/runs.db"):
        with pytest.raises(plait.StoreError) as err:
            open_store(store)
        message = str(err.value)
        assert f"store '{store}' is a URL of an unknown kind" in message
        assert "postgresql://" in message and "sqlite://" in message and "fix:" in message
    assert list(tmp_path.iterdir()) == []  # the old behaviour made a folder 'mysql:' and a file in it


def test_a_password_in_an_unknown_url_is_not_repeated(tmp_path):
    with pytest.raises(plait.StoreError) as err:
        open_store("mysql://me:hunter2@db/runs")
    assert "hunter2" not in str(err.value) and "me:***@db" in str(err.value)


def test_sqlite_urls_and_paths_name_the_same_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:///runs.db") == "runs.db"
    assert sqlite_path(f"sqlite:///{tmp_path}/abs.db") == f"{tmp_path}/abs.db"
    assert sqlite_path(Path("a/b.db")) == "a/b.db"
    store = open_store("sqlite:///sub/runs.db")  # the folder is created, as for a path
    assert store.path == "sub/runs.db" and (tmp_path / "sub" / "runs.db").exists()
    store.close()


def test_a_url_hides_its_password_in_userinfo_and_in_parameters():
    assert redact("postgresql://me:s3cret@db.internal:5433/runs") == "postgresql://me:***@db.internal:5433/runs"
    assert redact("postgresql://me@/runs?host=/tmp/x&password=s3cret") == "postgresql://me@/runs?host=/tmp/x&password=***"
    assert redact("postgresql://me@db/runs?host=/tmp/x") == "postgresql://me@db/runs?host=/tmp/x"
    assert redact("runs.db") == "runs.db"


def test_a_server_store_keeps_its_local_files_under_dot_plait():
    assert local_path("runs/x.db") == Path("runs/x.db")
    server = local_path("postgresql://me:s3cret@db/runs")
    assert server.parent == Path(".plait") and server.name.startswith("postgresql-runs-")
    assert server == local_path("postgresql://me:other@db/runs")  # the same store, whatever the password
    assert local_path("postgresql://me@db/other") != server


def test_the_retrieval_index_folder_of_a_server_store_is_local(monkeypatch):
    from plait.pipeline.retrieval.keyed import default_root

    monkeypatch.delenv("PLAIT_INDEX_DIR", raising=False)
    monkeypatch.setenv("PLAIT_STORE", "postgresql://me@db/runs")
    assert default_root() == Path(".plait/indexes")


def test_a_postgres_url_without_psycopg_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "plait.checkpoints.postgres", None)  # as if psycopg were missing
    with pytest.raises(plait.StoreError) as err:
        open_location("postgresql://me:s3cret@db/runs")
    assert "pip install 'plait[postgres]'" in str(err.value) and "s3cret" not in str(err.value)
