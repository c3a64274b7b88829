"""Example programs, runnable as ``python -m examples.NAME`` from the repository root."""
