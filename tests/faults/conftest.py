import multiprocessing

import pytest

# One fork server per test session, with everything a child needs already imported: a child then
# starts in milliseconds instead of paying a second of imports.
PRELOAD = ["tests.faults.chaos_job", "tests.faults.backoff_job"]


@pytest.fixture(scope="session")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx
