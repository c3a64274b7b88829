"""The ``plait`` command: run pipelines over datasets and inspect, resume and clean the store.

One file per group of subcommands: ``runs.py`` (run, resume, rerun, runs, show), ``plans.py``
(plan, diff, optimize), ``gc.py`` (gc), ``check.py`` (check), ``answer.py`` (answer), ``graph.py`` (graph),
``copy.py`` (copy);
``targets.py`` resolves what the command line names and ``common.py`` holds the shared options,
exit codes and output helpers.
"""

from __future__ import annotations

import os
import sys

import click

from plait.cli.common import LazyGroup

# Each command's module is imported only when the command runs, so `plait --help`, `plait runs`
# and `plait show` start without DSPy, LiteLLM or llama.cpp (tests/cli/test_cli_startup.py).
# The short help shown by `plait --help` is kept here for the same reason.
COMMANDS = {
    "run": ("plait.cli.runs", "Run a pipeline over a JSONL dataset, checkpointed."),
    "resume": ("plait.cli.runs", "Finish a run without repeating recorded work."),
    "rerun": ("plait.cli.runs", "Fork a run and recompute from one node on."),
    "runs": ("plait.cli.show", "List the runs in the store, oldest first."),
    "show": ("plait.cli.show", "Show a run's items and nodes with their status."),
    "plan": ("plait.cli.plans", "Print a pipeline's compiled plan (the IR), one line per node."),
    "diff": ("plait.cli.plans", "Show what changed from plan OLD to plan NEW."),
    "optimize": ("plait.cli.plans", "Compile few-shot demos (or searched instructions) into a pipeline's plan and save it."),
    "gc": ("plait.cli.gc", "Delete runs and the values nothing references, then compact."),
    "check": ("plait.cli.check", "Check the store: SQLite's pages, the schema, the references between tables, and every value."),
    "answer": ("plait.cli.answer", "Answer a question that a run's item waits on (HumanInput, plait.ask, plait.approve)."),
    "graph": ("plait.cli.graph", "Draw a pipeline's plan (or a run's, coloured by status) as SVG."),
    "copy": ("plait.cli.copy", "Copy runs, with everything they reference, from one store to another."),
}


@click.group(cls=LazyGroup, commands_at=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="""\b
Examples:
  plait run app:Pipeline data.jsonl --store runs.db
  plait runs
  plait show latest
  plait resume latest
  plait rerun latest --from pipeline.classify
  plait answer latest --list
  plait plan app:Pipeline --out plan.json
  plait diff plan.json app:Pipeline
  plait graph latest -o run.svg
  plait gc --older-than 7d --dry-run
  plait check
  plait copy latest --to postgresql://me@db.internal/plait
\b
The store is --store, else $PLAIT_STORE, else .plait/runs.db: an SQLite file,
or postgresql://user@host/db for a store shared across machines. Every command
takes --json for scripts. Exit status: 0 success, 1 failure (store, LM, bug),
2 usage error (target, file, run id, option), 3 the run finished with failed
items, 130 interrupted (resume it).""")
@click.version_option(package_name="plait", prog_name="plait")
def cli() -> None:
    """plait: LLM pipelines declared like DSPy programs, compiled, and run as durable workflows."""



def main(argv: list[str] | None = None) -> None:
    """The ``plait`` console script. The current directory is importable, as with ``python -m``."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    cli.main(args=argv, prog_name="plait")
