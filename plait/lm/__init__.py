"""LM backends and the LM protocol. ``plait.lm.Faulty`` wraps any of them to inject faults."""

from plait.lm.faulty import Faulty

__all__ = ["Faulty"]
