"""The crash tests' shared fixture: the child processes a test started, stopped at its end."""

from tests.crash.child import children  # noqa: F401 (a fixture)
