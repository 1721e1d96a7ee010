"""The ``promote`` command line: the single boundary where errors become one line and an exit code.

Exit codes: 0 success (the estate is valid), 2 the estate is invalid, 1 any other failure
(a bad option, an unknown environment, a bug); `promote run` adds 3 Failed, 4 Errored and
5 Aborted. ``--debug`` re-raises instead of summarising.
"""

from __future__ import annotations

import gc
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from promote import __version__
from promote.diagnostics import Diagnostic, count
from promote.engine.cli import COMMANDS as ENGINE_COMMANDS
from promote.errors import EstateInvalid, InternalError, PromoteError
from promote.loader import LoadResult, load_estate, paused_gc
from promote.model import Estate
from promote.planning import make_plan
from promote.render.mermaid import plan_mermaid
from promote.render.plan_json import plan_data
from promote.render.text import print_diagnostics, print_plan, print_summary
from promote.rules import validate as run_rules
from promote.rules.context import RuleContext
from promote.sandbox.cli import sandbox_app

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2

app = typer.Typer(
    name="promote",
    help="Promotion-as-code for multi-service, multi-account AWS estates.\n\n"
    "An estate is a folder: estate.yaml (environments, promotion path, roles, waves) "
    "and projects/*.yaml. Validate it, then plan a promotion into one environment.",
    epilog="Exit codes: 0 valid / done, 2 invalid estate, 1 any other failure; "
    "promote run: 3 Failed, 4 Errored, 5 Aborted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
app.add_typer(sandbox_app, name="sandbox")
# What the running command asked for, so that the boundary reports errors in kind.
_state: dict[str, bool] = {"debug": False, "json": False}
# Piped output is read by people too (CI logs): give tables room instead of Rich's 80 columns.
stdout = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)
# Errors are one line each, whatever the width: never wrap them.
stderr = Console(stderr=True, soft_wrap=True)


class ValidateFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class PlanFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MERMAID = "mermaid"


EstateDir = Annotated[
    Path, typer.Argument(help="The estate folder (holds estate.yaml and projects/).")
]


def _version(value: bool) -> None:
    if value:
        stdout.print(f"promote {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error and re-raise it.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    _state["debug"] = debug
    _state["json"] = False


def check_estate(
    directory: Path, strict: bool = False
) -> tuple[Estate | None, list[Diagnostic], RuleContext | None]:
    """Load and validate; diagnostics come back located and sorted, with the rules' context
    so that planning can reuse its indexes."""
    with paused_gc():
        loaded: LoadResult = load_estate(directory)
        # The estate lives until the command ends. Frozen (before the collector is back),
        # its objects are left out of the collector's scans, which would otherwise rescan
        # all of them while the rules and the plan allocate. Refcounting still frees them.
        gc.freeze()
    found = list(loaded.diagnostics)
    if strict:
        found = [d.escalated() for d in found]
    context = RuleContext(loaded.estate) if loaded.estate is not None else None
    if loaded.estate is not None:
        found.extend(run_rules(loaded.estate, strict=strict, context=context))
    return loaded.estate, loaded.locate(found), context


@app.command()
def validate(
    directory: EstateDir = Path("."),
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: Annotated[
        ValidateFormat, typer.Option("--format", "-f", help="text for people, json for scripts.")
    ] = ValidateFormat.TEXT,
) -> int:
    """Check an estate: schema, dependencies, cycles, waves, schedules, regions, gates.

    Every problem is printed as file:line:col: CODE severity: message (at yaml.path).
    Rule codes are listed in docs/validation.md.
    """
    _state["json"] = output is ValidateFormat.JSON
    estate, found, _ = check_estate(directory, strict)
    errors, warnings = count(found)
    if output is ValidateFormat.JSON:
        _print_json(
            {
                "estate": estate.name if estate else None,
                "valid": errors == 0,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": [d.as_dict() for d in found],
            }
        )
    else:
        print_diagnostics(stdout, found)
        print_summary(stdout, estate.name if estate else str(directory), found)
    return EXIT_INVALID if errors else EXIT_OK


@app.command()
def plan(
    environment: Annotated[str, typer.Argument(help="The environment to promote into, e.g. sit.")],
    directory: EstateDir = Path("."),
    output: Annotated[
        PlanFormat,
        typer.Option(
            "--format", "-f", help="table for people, json for scripts, mermaid for docs."
        ),
    ] = PlanFormat.TABLE,
) -> int:
    """Plan a promotion into ENVIRONMENT: layers, critical path, gates and timeline.

    Layers are topological generations: a project runs after its dependencies and after
    every project of the waves its wave depends on. The estate must validate first.
    """
    _state["json"] = output is PlanFormat.JSON
    estate, found, context = check_estate(directory)
    if estate is None or any(d.is_error for d in found):
        raise EstateInvalid(found)
    result = make_plan(estate, environment, context)
    if output is PlanFormat.JSON:
        _print_json(plan_data(result))
    elif output is PlanFormat.MERMAID:
        sys.stdout.write(plan_mermaid(result))
    else:
        print_plan(stdout, result)
    return EXIT_OK


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _report(error: PromoteError) -> None:
    diagnostics = getattr(error, "diagnostics", ())
    if _state["json"]:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if diagnostics:
            body["diagnostics"] = [d.as_dict() for d in diagnostics]
        _print_json({"error": body})
        return
    print_diagnostics(stderr, [d for d in diagnostics if d.is_error])
    stderr.print(f"[red]{error}[/]", highlight=False)


# Registered after validate and plan, so `--help` lists the commands in the order of use.
for _command in ENGINE_COMMANDS:
    app.command()(_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every outcome into an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = app(args=args, standalone_mode=False, prog_name="promote")
    except PromoteError as error:
        if debug:
            raise
        _report(error)
        return error.exit_code
    except typer.Abort:
        stderr.print("aborted")
        return EXIT_FAILURE
    except Exception as error:
        if _is_usage_error(error):
            return _show_usage_error(error)
        if debug:
            raise
        # A bug: say so in one line, keep the detail for --debug.
        internal = InternalError(f"{type(error).__name__}: {error} (run with --debug for details)")
        stderr.print(f"[red]{internal}[/]", highlight=False)
        return EXIT_FAILURE
    return result if isinstance(result, int) else EXIT_OK


def _is_usage_error(error: Exception) -> bool:
    # Typer raises click-style usage errors (from click or from its vendored copy, by version):
    # they know how to show themselves.
    return callable(getattr(error, "show", None)) and hasattr(error, "exit_code")


def _show_usage_error(error: Exception) -> int:
    error.show()  # type: ignore[attr-defined]
    # `promote` alone prints its help, which is not a failure.
    return EXIT_OK if type(error).__name__ == "NoArgsIsHelpError" else EXIT_FAILURE


def run() -> None:
    sys.exit(main())
