"""``edgepose report show R.json`` and ``edgepose report compare A.json B.json ...``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgepose import console

app = typer.Typer(help="Show and compare benchmark reports.", no_args_is_help=True)


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


def _bucket(row) -> str:
    return f"{row.bucket} REGRESSION" if row.regression else row.bucket
