# The two commands: `make demo` runs the main job, `make test` runs the test suite.
# Both set up .venv themselves on a fresh machine.
.PHONY: demo test bench setup

setup:
	@./scripts/bootstrap.sh

demo: setup
	@.venv/bin/python -m plait.demo

test: setup
	@.venv/bin/python -m pytest -q -p no:cacheprovider

bench: setup
	@.venv/bin/python bench/run_all.py
