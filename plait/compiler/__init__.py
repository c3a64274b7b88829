"""The compiler: lower a traced program into a Plan (``lower.py``), verify it (``verify.py``), run
the passes (``passes/``), and compare two plans (``diff.py``). ``plait.compile`` (plait/api/compiled.py)
drives it."""
