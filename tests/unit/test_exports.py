"""The public API is exactly what plait/__init__.py exports (httpx's test_exported_members)."""

import pkgutil

import plait


def test_all_matches_the_exported_members():
    exported = {name for name in dir(plait) if not name.startswith("_")}
    modules = {m.name for m in pkgutil.iter_modules(plait.__path__)}  # plait's packages and modules
    assert exported - modules == set(plait.__all__) - {"__version__"}


def test_every_public_name_has_a_docstring():
    dspy_reexports = {"Signature", "InputField", "OutputField"}  # documented by DSPy
    missing = [n for n in plait.__all__ if n not in {"__version__", "events", *dspy_reexports}
               and callable(getattr(plait, n)) and not (getattr(plait, n).__doc__ or "").strip()]
    assert missing == []
