import signal

import pytest

import plait
from plait.lm import config
from tests.pg import pg_server, pg_url  # noqa: F401 (fixtures: the session's PostgreSQL server, a new database)
from tests.stores import new_store_url, store, store_kind, store_url  # noqa: F401 (fixtures: one per kind of store)

# A suite started in the background by a non-interactive shell (`cmd &`, nohup) inherits SIGINT
# ignored, and so would every child it starts: the Ctrl-C tests' children would never see their
# SIGINT. A handled signal is reset to the default in a child (exec), an ignored one is not.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch, tmp_path):
    """Each test starts with no configured LM, a store under its own tmp dir, and checks on (the
    verifier runs after every compile pass, here and in the subprocesses tests start)."""
    monkeypatch.setattr(config, "_default", config.Settings())
    monkeypatch.setenv("PLAIT_STORE", str(tmp_path / "default.db"))
    monkeypatch.setenv("PLAIT_CHECKS", "1")
    yield


@pytest.fixture
def store_path(tmp_path):
    return str(tmp_path / "runs.db")


@pytest.fixture
def echo_lm():
    """Answers every output field with a deterministic function of the inputs."""
    from tests.programs import echo_answer

    return plait.ScriptedLM(echo_answer, record=True)
