"""What every ``plait`` subcommand shares: options, exit codes, error reporting, output helpers."""

from __future__ import annotations

import importlib
import json
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click
from pydantic_core import to_jsonable_python

from plait.checkpoints.location import is_server, open_location
from plait.checkpoints.stores import DEFAULT_STORE
from plait.errors import AnswerError, InputError, PlaitError, PlanError, PlanLoadError, RunNotFound, TraceError

OK, FAILURE, USAGE, ITEMS_FAILED, INTERRUPTED = 0, 1, 2, 3, 130

STATUSES = ("done", "failed", "interrupted", "stopped", "running", "waiting")  # a run's status in the store
_USAGE_ERRORS = (RunNotFound, InputError, PlanLoadError, TraceError, PlanError, AnswerError)


class Failure(click.ClickException):
    """An error the command reports and exits with: ``plait: error: ...`` on stderr, and with
    ``--json`` also ``{"error": ...}`` on stdout."""

    def __init__(self, message: str, exit_code: int = FAILURE, kind: str = "error") -> None:
        super().__init__(message)
        self.exit_code, self.kind = exit_code, kind
        self.as_json = False  # set from --json as the error leaves the command

    def show(self, file: Any = None) -> None:
        if self.as_json:
            emit_json({"error": {"type": self.kind, "message": self.message, "exit_code": self.exit_code}})
        prefix = "plait: " if self.exit_code == INTERRUPTED else "plait: error: "
        click.echo(prefix + self.message, err=True)


def usage(summary: str, *, found: str | None = None, fix: str | None = None) -> Failure:
    """A usage error (exit 2), in the same shape as plait's errors."""
    return Failure(str(PlaitError(summary, found=found, fix=fix)), USAGE, "UsageError")


def failure_of(exc: BaseException) -> Failure:
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, PlaitError):
        return Failure(str(exc), USAGE if isinstance(exc, _USAGE_ERRORS) else FAILURE, type(exc).__name__)
    return Failure(f"{type(exc).__name__}: {exc}\n  (this looks like a bug; the traceback is above)",
                   FAILURE, type(exc).__name__)


class PlaitGroup(click.Group):
    """Turns plait's errors into messages and exit codes: 2 usage, 1 failure, 130 interrupted."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:  # click's own usage errors stay as click prints them
            failure = exc if isinstance(exc, Failure) else None
            if failure is None:
                raise
        except KeyboardInterrupt:
            run_id = ctx.meta.get("plait.run_id")
            hint = f": run {run_id} stopped; finish it with: plait resume {run_id}" if run_id else ""
            failure = Failure(f"interrupted{hint}", INTERRUPTED, "KeyboardInterrupt")
        except PlaitError as exc:
            failure = failure_of(exc)
        except Exception as exc:
            traceback.print_exc()
            failure = failure_of(exc)
        failure.as_json = bool(ctx.meta.get("plait.json"))  # ctx.meta is shared with the subcommand's
        raise failure from None


class LazyGroup(PlaitGroup):
    """A group whose commands are imported when used: ``commands_at`` maps a command's name to
    (its module, its one-line help), the help `plait --help` lists without importing anything."""

    def __init__(self, *args: Any, commands_at: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands_at = commands_at

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands_at)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands_at:
            return None
        module = importlib.import_module(self.commands_at[name][0])
        return getattr(module, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in self.commands_at.items()])


# --- options -------------------------------------------------------------------------------------
def _mark_json(ctx: click.Context, _param: Any, value: bool) -> bool:
    if value:
        ctx.meta["plait.json"] = True
    return value


json_option = click.option("--json", "as_json", is_flag=True, is_eager=True, callback=_mark_json,
                           help="Print machine-readable JSON on stdout (errors too, as {\"error\": ...}).")
store_option = click.option(
    "--store", default=DEFAULT_STORE, show_default=True, envvar="PLAIT_STORE", show_envvar=True,
    type=click.Path(dir_okay=False), help="The checkpoint store: an SQLite file, or postgresql://user@host/db.")


def lm_options(f: Callable) -> Callable:
    """--lm, --api-base and --concurrency: how run, resume, rerun and optimize call the LM."""
    f = click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1),
                     help="Node executions in flight at once.")(f)
    f = click.option(
        "--api-base", "api_base", envvar="PLAIT_API_BASE", show_envvar=True, metavar="URL",
        help="The server a provider/model --lm is sent to (dspy.LM's api_base), e.g. an OpenAI-compatible "
             "http://localhost:8000/v1 for openai/MODEL. Its key, if it needs one, is still read from "
             "the provider's environment variable.")(f)
    return click.option(
        "--lm", "lm_spec", envvar="PLAIT_LM", show_envvar=True, metavar="SPEC",
        help="local (the embedded model; the default unless the pipeline's module configures an LM), "
             "scripted:MODULE:FUNC (FUNC() returns an LM), or a provider/model string for DSPy, "
             "e.g. openai/gpt-4o-mini. Its API key comes from the provider's environment variable: "
             "OPENAI_API_KEY for openai/..., ANTHROPIC_API_KEY for anthropic/..., as LiteLLM names them; "
             "a missing key stops the command before any item. "
             "resume and rerun default to the LM the run recorded.")(f)


def run_options(f: Callable) -> Callable:
    """--lm, --fallback, --concurrency and --out: how run, resume and rerun execute and report."""
    f = click.option("--out", type=click.Path(dir_okay=False, writable=True),
                     help="Also write one JSON line per item (id, status, outputs, error) to this file.")(f)
    f = click.option(
        "--fallback", "fallback_specs", multiple=True, metavar="[NAME=]SPEC",
        help="An LM to switch to while the LM named NAME (or, without NAME=, any LM) is down; SPEC as "
             "for --lm. Repeat for a chain, tried in order. resume and rerun default to the run's own.")(f)
    return lm_options(f)


# --- the store -----------------------------------------------------------------------------------
@contextmanager
def existing_store(path: str) -> Iterator[Any]:
    """The store at ``path`` (a file or a URL), which must exist (reading commands never create an
    empty one)."""
    if not is_server(path) and not Path(path).exists():
        raise usage(f"no plait store at {path}",
                    fix="pass --store PATH or set $PLAIT_STORE to the store your runs wrote; `plait run` creates one")
    store = open_location(path, create=False)
    try:
        yield store
    finally:
        store.close()


def resolve_run(store: Any, ref: str) -> str:
    """A run id from an id, a unique prefix of one, or ``latest``."""
    runs = [r.run_id for r in store.list_runs()]
    if ref == "latest" and runs:
        return runs[-1]
    if ref in runs:
        return ref
    matches = [r for r in runs if r.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(matches[:5] or runs[-5:]) or "(the store has no runs)"
    what = f"{len(matches)} runs start with '{ref}'" if matches else f"no run '{ref}' in {store.path}"
    raise usage(what, found=shown, fix="pass a full run id from `plait runs`, a unique prefix, or `latest`")


# --- output --------------------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    click.echo(json.dumps(to_jsonable_python(data, fallback=repr), indent=2, sort_keys=False))


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain text table; numbers right-aligned, everything else left-aligned."""
    cells = [[str(c) if c is not None else "-" for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def iso(timestamp: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp)) if timestamp else None


def utc(timestamp: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp)) if timestamp else None


def first_line(text: str | None, width: int = 100) -> str:
    line = (text or "").strip().splitlines()[0] if text and text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def say(message: str) -> None:
    """A notice for people, on stderr, so that stdout stays parseable."""
    click.echo(message, err=True)


def exit_with(code: int) -> None:
    if code:
        click.get_current_context().exit(code)
