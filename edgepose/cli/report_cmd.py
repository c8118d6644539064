"""``edgepose report show R.json``, ``edgepose report compare A.json B.json ...`` and
``edgepose report import benchmark_model.log --device NAME``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgepose import console

app = typer.Typer(help="Show, compare and import benchmark reports.", no_args_is_help=True)


@app.command("show")
def show(report: Path = typer.Argument(..., help="A report written by `edgepose benchmark`.", dir_okay=False)) -> None:
    """Print one report: model, target, runtime, latency statistics, memory, output check."""
    from edgepose.bench.report import load_report
    from edgepose.cli.benchmark_cmd import show_report

    show_report(load_report(report))


@app.command("compare")
def compare(
    reports: list[Path] = typer.Argument(..., help="Reports to compare.", dir_okay=False),
    baseline: Path | None = typer.Option(
        None, "--baseline", "-b", help="The report the others are compared to (default: the first)."
    ),
    png: Path | None = typer.Option(
        None, "--png", help="Write p50 bars with p10-p90 whiskers and latency CDFs.", dir_okay=False
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write a self-contained HTML page with the table and plots.", dir_okay=False
    ),
    fail_over: float | None = typer.Option(
        None, "--fail-over", min=0.0, help="Exit 1 when a report's p50 is more than PCT % slower than the baseline."
    ),
) -> None:
    """Reports side by side with p50 ratios against a baseline; exit code 1 on a regression over --fail-over."""
    from edgepose.bench import compare as comparing
    from edgepose.bench.report import load_report
    from edgepose.bench.stats import format_value

    paths = [baseline, *[p for p in reports if p != baseline]] if baseline else list(reports)
    loaded = [load_report(p) for p in paths]
    rows = comparing.compare(loaded, 0, fail_over)
    table = console.table(
        f"baseline: {paths[0]} (each report against the first of its kind: time, or emulated instructions)",
        ("report", "p50", "p90", "vs baseline", "", "output"),
        [
            (
                r.label,
                format_value(r.p50, r.unit),
                format_value(r.p90, r.unit),
                f"{r.ratio:.3f}x",
                _bucket(r),
                r.output_check,
            )
            for r in rows
        ],  # fmt: skip
    )
    console.out.print(table)
    if png:
        console.out.print(f"plot: {comparing.write_png(loaded, png)}", soft_wrap=True)
    if html:
        console.out.print(f"page: {comparing.write_html(loaded, rows, html)}", soft_wrap=True)
    regressions = [r for r in rows if r.regression]
    if regressions:
        names = ", ".join(f"{r.label} ({(r.ratio - 1) * 100:+.1f}%)" for r in regressions)
        console.out.print(f"regression over {fail_over:g}%: {names}", soft_wrap=True)
        raise typer.Exit(1)


IMPORT_BACKENDS = ("android", "ios", "linux", "host")  # where benchmark_model (or the iOS benchmark app) runs


@app.command("import")
def import_log(
    log: Path = typer.Argument(
        ..., help="What TensorFlow Lite's benchmark_model printed, saved to a file.", dir_okay=False
    ),
    device: str = typer.Option(..., "--device", "-d", help="The device's name, as tables and plots will show it."),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="The .tflite that was measured, if it is here: its sha256, size and kind.",
        dir_okay=False,
        exists=True,
    ),
    backend: str = typer.Option("android", "--backend", help="The kind of device: android, ios, linux, host."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Report JSON (default reports/<model>-<device>-<time>.json).", dir_okay=False
    ),
) -> None:
    """Turn the output of a benchmark_model run done by hand into a report that compare and show read."""
    from edgepose.bench.benchmark_model import parse, report_from_log
    from edgepose.bench.report import default_path, write_report
    from edgepose.cli.benchmark_cmd import show_report
    from edgepose.errors import DataError
    from edgepose.textfile import read_text

    if backend not in IMPORT_BACKENDS:
        raise DataError(f"--backend '{backend}': one of {', '.join(IMPORT_BACKENDS)}")
    parsed = parse(read_text(log, DataError), str(log))
    target = {"name": device, "backend": backend, "description": "", "link": f"benchmark_model output {log.name}"}
    report = report_from_log(parsed, target, model)
    path = out or default_path(Path(report["model"]["name"]).stem or "model", device)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_report(report, path)
    show_report(report)
    console.out.print(f"report: {path}", soft_wrap=True)


def _bucket(row) -> str:
    return f"{row.bucket} REGRESSION" if row.regression else row.bucket
