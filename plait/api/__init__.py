"""The facade: what ``plait/__init__.py`` re-exports to run pipelines, over the layers below.

``compiled``: ``plait.compile``, CompiledPipeline, and the runner behind eager calls;
``runs``: starting, resuming and forking runs; ``results``: Run, RunStats, ItemResult;
``resume``: ``plait.resume`` and ``plait.rerun``; ``answers``: ``plait.pending`` and
``plait.answer``. The optimizers and the command line build on it.
"""
