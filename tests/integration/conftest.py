"""Fixtures shared by the integration tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def all_logs(caplog):
    """Every record of plait, DSPy, LiteLLM and the HTTP clients at DEBUG, even from loggers that do not propagate."""
    names = ["plait", "dspy", "LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "openai", "httpx", "httpcore"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    caplog.set_level(logging.DEBUG)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        if not lg.propagate:
            lg.addHandler(caplog.handler)
    yield caplog
    for lg, level in zip(loggers, levels):
        lg.setLevel(level)
        lg.removeHandler(caplog.handler)
