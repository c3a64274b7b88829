# The two commands: `make demo` runs the main job, `make test` runs the test suite.
# Both set up .venv themselves on a fresh machine.
.PHONY: demo test bench

demo:
	@./scripts/bootstrap.sh demo
	@.venv/bin/python -m plait.demo

test:
	@./scripts/bootstrap.sh test
	@.venv/bin/python -m pytest -q -p no:cacheprovider

bench:
	@./scripts/bootstrap.sh test
	@.venv/bin/python bench/run_all.py
