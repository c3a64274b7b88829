"""Notebook and file displays of plans and runs.

``svg`` draws a plan (layered by ``layout``, coloured by ``status`` for a run); ``html`` builds
Jupyter's ``_repr_html_`` for ``CompiledPipeline`` and ``Run``; ``tables`` gives a run's items and
nodes as rows (and pandas DataFrames). ``plait graph`` writes the same SVG from the command line.
"""
