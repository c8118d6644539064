"""Drop what no operator reads from a ``.tflite``: tensors outside every op's inputs, outputs and
intermediates and the graph's own inputs and outputs, then buffers no tensor (or metadata entry) points at.

TFLite's calibrator keeps every tensor of the model it was given, so an int8 file made from float16
weights still carried the float16 originals: dead bytes that made the int8 file larger than the float one
and counted every parameter twice. Nothing that runs is touched: live tensors keep their order, only
their indices close up.
"""

from __future__ import annotations


def prune_unused(data: bytes) -> bytes:
    """The same model without unreferenced tensors and buffers (the bytes unchanged when there are none)."""
    import flatbuffers

    from edgepose.convert.inspect import read_tflite

    model = read_tflite(data)
    remaps = [_prune_tensors(graph) for graph in model.subgraphs]
    for signature in model.signatureDefs or []:  # signatures name tensors by index too
        remap = remaps[signature.subgraphIndex]
        for item in [*_listed(signature.inputs), *_listed(signature.outputs)]:
            item.tensorIndex = remap.get(item.tensorIndex, item.tensorIndex)
    dropped = _prune_buffers(model)
    if not dropped and not any(remaps):
        return data
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _prune_tensors(graph) -> dict[int, int]:
    """Old index -> new index of every tensor kept; empty when all are used."""
    used = {int(i) for i in [*_listed(graph.inputs), *_listed(graph.outputs)] if i >= 0}
    for op in graph.operators or []:
        for indices in (op.inputs, op.outputs, op.intermediates):
            used.update(int(i) for i in _listed(indices) if i >= 0)
    if len(used) == len(graph.tensors):
        return {}
    keep = sorted(used)
    remap = {old: new for new, old in enumerate(keep)}

    def renumber(indices):
        return None if indices is None else [remap[int(i)] if i >= 0 else int(i) for i in indices]

    graph.tensors = [graph.tensors[i] for i in keep]
    graph.inputs, graph.outputs = renumber(graph.inputs), renumber(graph.outputs)
    for op in graph.operators or []:
        op.inputs, op.outputs, op.intermediates = renumber(op.inputs), renumber(op.outputs), renumber(op.intermediates)
    return remap


def _prune_buffers(model) -> int:
    used = {0}  # buffer 0 is the empty buffer every tensor without data points at
    used.update(t.buffer for graph in model.subgraphs for t in graph.tensors)
    used.update(m.buffer for m in _listed(model.metadata))
    if len(used) == len(model.buffers):
        return 0
    keep = sorted(used)
    remap = {old: new for new, old in enumerate(keep)}
    dropped = len(model.buffers) - len(keep)
    model.buffers = [model.buffers[i] for i in keep]
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = remap[tensor.buffer]
    for entry in _listed(model.metadata):
        entry.buffer = remap[entry.buffer]
    return dropped


def _listed(items) -> list:
    """The object API gives lists, numpy arrays or None for a vector."""
    return [] if items is None else list(items)
