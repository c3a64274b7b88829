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

from plait.cli import answer, check, copy, gc, graph, plans, runs
from plait.cli.common import PlaitGroup


@click.group(cls=PlaitGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
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


for command in (runs.run, runs.resume, runs.rerun, runs.runs, runs.show, plans.plan, plans.diff,
                plans.optimize, gc.gc, check.check, answer.answer, graph.graph, copy.copy):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """The ``plait`` console script. The current directory is importable, as with ``python -m``."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    cli.main(args=argv, prog_name="plait")
