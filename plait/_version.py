"""plait's version, in a module of its own below every layer: saved plans record it."""

__version__ = "0.1.0"
