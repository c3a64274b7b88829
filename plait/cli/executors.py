"""``--executor`` and ``--ray-address``: where ``plait run``, ``resume`` and ``rerun`` run the items.

The options land in the click context (no new parameters on the commands); ``executor_of`` turns
them into the ``executor=`` of the run: None (this process) or a ``plait.RayExecutor`` whose
workers end with the command.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from plait.cli.common import usage
from plait.runtime.ray_executor import RayExecutor


def _remember(key: str) -> Callable:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        ctx.meta[f"plait.{key}"] = value
        return value
    return callback


def executor_options(f: Callable) -> Callable:
    """--executor local|ray and --ray-address ADDR."""
    f = click.option("--ray-address", metavar="ADDR", envvar="RAY_ADDRESS", show_envvar=True, expose_value=False,
                     callback=_remember("ray_address"),
                     help="The Ray cluster for --executor ray (host:port of its head, or ray://...). "
                          "Default: a local Ray started for the command.")(f)
    return click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                        expose_value=False, callback=_remember("executor"),
                        help="Where the items run: in this process, or on a Ray cluster against the same store "
                             "(shared by the workers: a PostgreSQL URL, or an SQLite file on one machine).")(f)


def executor_of(ctx: click.Context) -> Any:
    """The run's ``executor=``: None, or a RayExecutor for this command."""
    name, address = ctx.meta.get("plait.executor", "local"), ctx.meta.get("plait.ray_address")
    if name != "ray":
        if address and ctx.get_parameter_source("ray_address") is click.core.ParameterSource.COMMANDLINE:
            raise usage("--ray-address is given without --executor ray", found=f"--ray-address {address}",
                        fix="add --executor ray, or drop --ray-address")
        return None
    return RayExecutor(address=address, keep_workers=False)
