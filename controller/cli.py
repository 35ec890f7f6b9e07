"""``hanat``: the command-line entry point. Subcommands live in ``controller/commands/``, the lab's
commands in ``lab/cli.py``.

Exit codes: 0 done, 1 the action failed, 2 bad input (nothing changed).
"""
from __future__ import annotations

import os
import sys

import click
from rich.markup import escape

from chalicelib.errors import HanatError
from lab import cli as lab

from .commands import adopt, cost, deploy, logs, ops, roll, stack
from .views import logs as logview
from .views.output import err_console


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--profile", envvar="AWS_PROFILE", default=None, help="AWS profile (or AWS_PROFILE).")
@click.option("--region", default=None, help="AWS region (default: the config's, or AWS_REGION).")
@click.option("-v", "--verbose", is_flag=True, help="Log lines with every detail (and debug lines).")
@click.option("--log-json", is_flag=True, help="Log lines as the Lambda functions write them (JSON).")
@click.version_option(package_name="hanat")
def cli(profile: str | None, region: str | None, verbose: bool, log_json: bool) -> None:
    """Highly available NAT instances for AWS VPCs."""
    logview.configure(logview.JSON if log_json else logview.VERBOSE if verbose else logview.HUMAN, err_console)
    if profile:
        os.environ["AWS_PROFILE"] = profile
    if region:
        os.environ["AWS_REGION"] = region
        os.environ["AWS_DEFAULT_REGION"] = region


for module in (stack, ops, roll, adopt, deploy, lab, cost, logs):
    module.register(cli)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning HanatError into a message on stderr and its exit code."""
    try:
        rc = cli.main(args=argv, prog_name="hanat", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HanatError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
