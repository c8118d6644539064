"""``edgepose models``: the model zoo, with what each model costs at each of its sizes."""

from __future__ import annotations

import json

import typer

from edgepose import console

_KEYPOINTS = 17


def models(
    name: str | None = typer.Argument(None, help="Only this model (see the list without it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the models as JSON."),
) -> None:
    """List the models with parameters, MACs and int8 activation peak at each listed input size and width.

    Every row is built on the spot (untrained, 17 keypoints, heatmap stride 4) and measured with
    edgepose.models.profile; the activation peak is an estimate of the int8 arena a greedy planner needs.
    """
    from edgepose.models import model_info, model_names  # lazy: building models imports TensorFlow

    names = [model_info(name).name] if name else model_names()
    builds = [(each, size, width) for each in names for size in model_info(each).input_sizes
              for width in model_info(each).widths]  # fmt: skip
    with console.progress_bar(len(builds), "building models") as advance:
        rows = [_row(*build, advance) for build in builds]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    columns = ("model", "input", "keypoints", "width", "params", "MACs", "int8 activations", "description")
    cells = [
        (
            r["model"],
            "x".join(map(str, r["input_size"])),
            r["keypoints"],
            str(r["width"]),
            f"{r['params']:,}",
            human_count(r["macs"]),
            console.human_bytes(r["activation_peak_bytes"]),
            r["description"],
        )
        for r in rows
    ]
    console.out.print(console.table(None, columns, cells))


def _row(name: str, size: tuple[int, int], width: float, advance) -> dict:
    import keras

    from edgepose.models import build_model, model_info
    from edgepose.models.profile import profile

    advance(f"{name} {size[0]}x{size[1]} width {width:g}")
    model = build_model(name, size, _KEYPOINTS, width, stride=4)
    row = {
        "model": name,
        "input_size": list(size),
        "keypoints": _KEYPOINTS,
        "width": width,
        **profile(model),
        "description": model_info(name).description,
    }
    keras.backend.clear_session()  # otherwise every build adds to one global graph and slows the next
    return row


def human_count(count: int) -> str:
    """``1234`` → ``1.2k``, ``31_440_512`` → ``31.4M``: MACs at a glance."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)
