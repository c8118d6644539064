"""The ``edgepose`` command line: one module per verb group, each a thin layer over the library.

``main`` is the only place that turns errors into exit codes: 2 for anything the user can fix
(``EdgeposeError`` and usage errors), 1 for a failed check (``doctor``), 130 for Ctrl-C.
"""

from __future__ import annotations

import sys

import typer

from edgepose import __version__, native_log
from edgepose.cli import (
    benchmark_cmd,
    compile_cmd,
    config_cmd,
    data_cmd,
    demo_cmd,
    doctor_cmd,
    evaluate_cmd,
    export_cmd,
    models_cmd,
    pipeline_cmd,
    predict_cmd,
    quantize_cmd,
    report_cmd,
    targets_cmd,
    train_cmd,
)
from edgepose.errors import EdgeposeError

app = typer.Typer(
    name="edgepose",
    help="Compact heatmap pose models from training to edge boards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"edgepose {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show the libraries' own log lines (TensorFlow, LiteRT, ONNX Runtime...)."
    ),
) -> None:
    """Compact heatmap pose models from training to edge boards: int8 quantization, C for STM32
    microcontrollers, and latency benchmarks measured the same way on every target."""


app.command("train")(train_cmd.train)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("predict")(predict_cmd.predict)
app.command("export")(export_cmd.export)
app.command("quantize")(quantize_cmd.quantize)
app.command("inspect")(export_cmd.inspect)
app.command("models")(models_cmd.models)
app.command("compile")(compile_cmd.compile_model)
app.command("flash")(compile_cmd.flash)
app.command("benchmark")(benchmark_cmd.benchmark)
app.command("deploy")(benchmark_cmd.deploy)
app.command("pipeline")(pipeline_cmd.pipeline)
app.command("doctor")(doctor_cmd.doctor)
app.command("demo")(demo_cmd.demo)
app.add_typer(targets_cmd.app, name="targets")
app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
app.add_typer(report_cmd.app, name="report")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    verb = next((arg for arg in arguments if not arg.startswith("-")), None)
    # The console script's process is edgepose's own: the libraries' log lines go to a file, edgepose's
    # output to the terminal. A program calling main(argv) keeps its descriptors as they are.
    if argv is None and verb is not None and not {"--verbose", "-v"} & set(arguments[: arguments.index(verb)]):
        native_log.divert(verb)
    try:
        app(args=argv, prog_name="edgepose")  # typer reports usage errors itself, with exit code 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except EdgeposeError as exc:
        print(f"error: {exc}", file=sys.stderr)  # plain print: always one line, whatever the terminal
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
