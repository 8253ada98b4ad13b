"""Drawing the computational graph of a tensor: Graphviz DOT text, and SVG/PNG/PDF through `dot`.

    with mg.viz.trace_modules(model):             # optional: note which module made each op
        loss = F.cross_entropy(model(x), y)
    mg.viz.draw_graph(loss, params=model).save("graph.svg")
    mg.viz.draw_graph(loss, collapse=1)           # each child module of the model as one box
    mg.viz.draw_model(model, input_shape=(1, 784), path="mlp.png")

How the picture is found
------------------------
The graph is already there: a non-leaf tensor's `grad_fn` is a Function node whose `parents`
hold, for each input, the node that made it or, for a leaf, the tensor itself (a parameter, or
an input with requires_grad=True). `draw_graph` walks it back from the output to the leaves.
An op becomes a box labelled with its name, output shape and dtype; a leaf with its parameter
name ("0.weight") or "input"; edges run from inputs to the op that used them.

Which module made an op is not in the graph. `trace_modules(model)` records it with forward
hooks: before a module runs, a pre-hook notes the nodes of its inputs; after it returns, a
forward hook walks back from its outputs to those nodes, and every node met on the way that no
inner module has claimed belongs to this module (children return before their parents, so the
innermost module wins). A node made by a module that ran earlier stops the walk as well, so a
tensor kept from before (a cache, a hidden state) is not claimed by the wrong module. One case
this cannot tell apart: an op computed outside every module and then used inside one (without
being passed in as an argument) is drawn as part of that module.

What the graph does not keep
----------------------------
* Inputs that need no gradient (the data, targets, constants such as the 2 in `x * 2`) are not
  recorded, only that there was one: they are drawn as grey dots on dashed edges. Edges that
  carry a gradient in backward are solid blue.
* Function nodes record their output shape, not their dtype. The dtype is read from
  `node.output_dtype` where a node has one, else taken as the promoted dtype of its inputs that
  carry a gradient (exact for every op except a cast, which is drawn with dtype "?").
"""
from __future__ import annotations

import shutil
import subprocess
import weakref
from pathlib import Path

import numpy as np

from ..autograd.engine import topological_order
from ..tensor import Tensor

__all__ = ["Graph", "GraphvizNotFoundError", "ModuleTrace", "draw_graph", "draw_model", "trace_modules"]

FORMATS = ("dot", "svg", "png", "pdf")
_SUFFIX_FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf"}

# Colours: ops blue, parameters green, inputs yellow, collapsed modules lilac.
_OP_STYLE = 'fillcolor="#dbe9f6", color="#4a6f97"'
_PARAM_STYLE = 'fillcolor="#d9f0d3", color="#4f8a3c"'
_INPUT_STYLE = 'fillcolor="#fff2cc", color="#b59a3c"'
_MODULE_STYLE = 'fillcolor="#e8e0f4", color="#6b4f9c"'
_GRAD_EDGE = 'color="#2b6cb0"'
_NO_GRAD_EDGE = 'color="#a0a0a0", style=dashed'
_LEGEND = "solid blue: a gradient flows back along the edge;  grey dashed: an input that needs none"


class GraphvizNotFoundError(RuntimeError):
    """Rendering to SVG/PNG/PDF needs Graphviz's `dot` program, and it is not on PATH."""


# -- which module made each node -----------------------------------------------------------------

# Function node -> (innermost module path, ModuleTrace). Weak keys: a graph that is freed takes
# its entries with it.
_NODE_MODULE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _tensors(value):
    """The tensors in a module's arguments or output (nested tuples, lists and dicts)."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _within(path: str, ancestor: str) -> bool:
    return ancestor == "" or path == ancestor or path.startswith(ancestor + ".")


class ModuleTrace:
    """While active (a `with` block), notes which module of `model` made each op of the graph.

    `module_types` maps each module path ("" for the model, "0", "encoder.layers.1", ...) to its
    class name, and `outputs[path]` holds the nodes of that module's outputs."""

    def __init__(self, model):
        self.model = model
        self.module_types = {path: type(module).__name__ for path, module in model.named_modules()}
        self.outputs: dict = {}  # path -> weakref.WeakSet of the nodes of the module's outputs
        self._handles = []
        self._boundaries = []  # a stack: the input nodes of each module now running

    def __enter__(self):
        for path, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._pre_hook, with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._make_hook(path), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._boundaries.clear()
        return False

    def _pre_hook(self, module, args, kwargs):
        self._boundaries.append({t.grad_fn for t in _tensors((args, kwargs)) if t.grad_fn is not None})

    def _make_hook(self, path):
        def hook(module, args, kwargs, output):
            self._claim(path, output, self._boundaries.pop())

        return hook

    def _claim(self, path, output, boundary):
        """Give `path` every unclaimed node between the module's outputs and its inputs."""
        stack = [t.grad_fn for t in _tensors(output) if t.grad_fn is not None]
        self.outputs.setdefault(path, weakref.WeakSet()).update(stack)
        seen = set()
        while stack:
            node = stack.pop()
            if node in seen or node in boundary:
                continue
            seen.add(node)
            origin = _NODE_MODULE.get(node)
            if origin is None:
                _NODE_MODULE[node] = (path, self)
            elif not _within(origin[0], path):
                continue  # made by a module that ran before this one: outside it
            stack.extend(parent for parent, _leaf in node.parents if parent is not None)


def trace_modules(model) -> ModuleTrace:
    """`with trace_modules(model): out = model(x)` lets draw_graph(out) group ops by module."""
    return ModuleTrace(model)


# -- the Graph object --------------------------------------------------------------------------------

def _check_format(format, who):
    if format not in FORMATS:
        raise ValueError(f"{who}: format must be one of {', '.join(map(repr, FORMATS))}, got {format!r}")


class Graph:
    """A drawn graph: `.source` is the DOT text; `.save(path)` writes DOT, SVG, PNG or PDF."""

    def __init__(self, source: str, format: str = "dot"):
        _check_format(format, "Graph")
        self.source = source
        self.format = format

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"<macrograd.viz.Graph: {self.source.count(' [label=')} nodes, format={self.format!r}>"

    def pipe(self, format: str = "svg") -> bytes:
        """The graph rendered by Graphviz's `dot` (bytes of an SVG, PNG or PDF file)."""
        _check_format(format, "Graph.pipe")
        if format == "dot":
            return self.source.encode()
        dot = shutil.which("dot")
        if dot is None:
            raise GraphvizNotFoundError(
                f"rendering to {format.upper()} needs Graphviz's `dot` program, which is not installed "
                "(apt-get install graphviz, brew install graphviz, or conda install graphviz)"
            )
        done = subprocess.run([dot, f"-T{format}"], input=self.source.encode(), capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"dot -T{format} failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def save(self, path, format: str | None = None) -> Path:
        """Write the graph to `path`; the format is `format`, else the path's suffix (.dot .gv
        .svg .png .pdf), else this graph's format. Without Graphviz, an SVG/PNG/PDF request
        writes the DOT text next to `path` (suffix .dot) and raises GraphvizNotFoundError."""
        path = Path(path)
        format = format or _SUFFIX_FORMATS.get(path.suffix.lower(), self.format)
        _check_format(format, "Graph.save")
        if format == "dot":
            path.write_text(self.source)
            return path
        if shutil.which("dot") is None:
            fallback = path.with_suffix(".dot")
            fallback.write_text(self.source)
            raise GraphvizNotFoundError(
                f"cannot write {path}: rendering to {format.upper()} needs Graphviz's `dot` program, which "
                f"is not installed (apt-get install graphviz, brew install graphviz, or conda install "
                f"graphviz). The DOT text was written to {fallback} instead; render it later with "
                f"`dot -T{format} {fallback} -o {path}` or paste it into an online Graphviz viewer."
            )
        path.write_bytes(self.pipe(format))
        return path

    def _repr_svg_(self):
        """Inline display in Jupyter where Graphviz is installed (None lets it fall back)."""
        if shutil.which("dot") is None:
            return None
        return self.pipe("svg").decode()


# -- drawing --------------------------------------------------------------------------------------

def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shape) -> str:
    return "scalar" if len(shape) == 0 else "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _describe(shape, dtype, show_shapes) -> str:
    if not show_shapes:
        return ""
    return f"\n{_shape_text(shape)} {dtype if dtype is not None else '?'}"


def _op_name(node) -> str:
    return type(node).__name__


def _through_gates(parent, leaf):
    """The (node, leaf) a tensor stands for, looking through the gates of module backward hooks."""
    while parent is not None and type(parent).__name__ == "GatePass":
        parent, leaf = parent.source()
    return parent, leaf


def _inputs(node):
    return [_through_gates(parent, leaf) for parent, leaf in node.parents]


def _is_gate(node) -> bool:
    return type(node).__name__ in ("GatePass", "GateGather")


def _infer_dtypes(order, inputs):
    """Output dtype of each node, parents first (see the module docstring)."""
    dtypes = {}
    for node in order:
        known = getattr(node, "output_dtype", None)
        if known is None and _op_name(node) != "ToDtype":
            parent_dtypes = [
                dtypes.get(parent) if parent is not None else leaf.dtype for parent, leaf in inputs[node]
                if parent is not None or leaf is not None
            ]
            parent_dtypes = [d for d in parent_dtypes if d is not None]
            known = np.result_type(*parent_dtypes) if parent_dtypes else None
        dtypes[node] = known
    return dtypes


def _named_params(params, traces):
    if params is None:
        pairs = [pair for trace in traces for pair in trace.model.named_parameters()]
    elif hasattr(params, "named_parameters"):
        pairs = list(params.named_parameters())
    elif isinstance(params, dict):
        pairs = list(params.items())
    else:
        raise TypeError(f"draw_graph: params must be a dict of name -> Tensor or a Module, got {type(params).__name__}")
    return {id(tensor): name for name, tensor in pairs}


def _check_collapse(collapse):
    if collapse is None or collapse is False:
        return None
    if isinstance(collapse, bool):
        return 1
    if not isinstance(collapse, int) or collapse < 1:
        raise ValueError(f"draw_graph: collapse must be None or a module depth >= 1, got {collapse!r}")
    return collapse


def _module_box_path(path: str, collapse) -> str | None:
    """The collapsed module that swallows something made in `path`, if any."""
    if collapse is None or path == "":
        return None
    parts = path.split(".")
    return ".".join(parts[:collapse]) if len(parts) >= collapse else None


def draw_graph(output, params=None, show_shapes: bool = True, collapse=None, format: str | None = None,
               path=None) -> Graph:
    """The computational graph that made `output` (a tensor, or a tuple/list of them).

    params: names for the leaves, a dict name -> tensor or a Module (its named_parameters);
        by default the parameters of the model traced with `trace_modules`.
    show_shapes: put each op's output shape and dtype under its name.
    collapse: None draws every op, grouped into one cluster per module when the forward ran
        inside `trace_modules`; an int d draws each module d levels down (d=1: the model's
        children) as one box, its ops and parameters inside it.
    format, path: when path is given the graph is also saved there, as `format` or by the
        path's suffix ('dot', 'svg', 'png', 'pdf'; all but 'dot' need Graphviz's `dot`).
    """
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    for item in outputs:
        if not isinstance(item, Tensor):
            raise TypeError(f"draw_graph: expected a Tensor or a tuple/list of Tensors, got {type(item).__name__}")
    if not any(item.requires_grad for item in outputs):
        raise ValueError(
            "draw_graph: the tensor has no graph (requires_grad=False): compute it from tensors with "
            "requires_grad=True (e.g. a model's parameters), outside no_grad()"
        )
    if format is not None:
        _check_format(format, "draw_graph")
    collapse = _check_collapse(collapse)

    # Every node, parents before the ops that use them.
    order, seen = [], set()
    for item in outputs:
        if item.grad_fn is None:
            continue
        for node in reversed(topological_order(item.grad_fn)):
            if node not in seen:
                seen.add(node)
                order.append(node)
    inputs = {node: _inputs(node) for node in order}
    order = [node for node in order if not _is_gate(node)]
    dtypes = _infer_dtypes(order, inputs)
    roots = [_through_gates(item.grad_fn, item if item.grad_fn is None else None) for item in outputs]
    for item, (root, _leaf) in zip(outputs, roots):
        if root is not None:  # the outputs' own dtypes are known exactly
            dtypes[root] = item.dtype
    root_nodes = {root for root, _leaf in roots if root is not None}

    origins = {node: _NODE_MODULE.get(node) for node in order}
    traces = list({id(o[1]): o[1] for o in origins.values() if o is not None}.values())
    if collapse is not None and not traces:
        raise ValueError(
            "draw_graph(collapse=...) needs to know which module made each op: run the forward pass "
            "inside `with mg.viz.trace_modules(model):` first (or use draw_model)"
        )
    module_types = {}
    module_outputs = {}
    for trace in traces:
        module_types.update(trace.module_types)
        for module_path, nodes in trace.outputs.items():
            module_outputs.setdefault(module_path, set()).update(nodes)
    param_names = _named_params(params, traces)

    writer = _DotWriter()
    node_path = {node: (origins[node][0] if origins[node] else "") for node in order}

    # Collapsed modules: one box each, standing for its ops and its parameters.
    boxes = {}  # module path -> display id
    display = {}  # node or id(leaf) -> display id
    for node in order:
        box = _module_box_path(node_path[node], collapse)
        if box is None:
            display[node] = writer.add(
                "op", node_path[node], _op_name(node) + _describe(node.output_shape, dtypes.get(node), show_shapes),
                bold=node in root_nodes,
            )
            continue
        if box not in boxes:
            boxes[box] = writer.add("module", box.rpartition(".")[0], "", bold=False)
        display[node] = boxes[box]

    # Leaves: parameters by name, other tensors that need a gradient as "input".
    box_params = {}
    for node in order:
        for parent, leaf in inputs[node]:
            if leaf is None or id(leaf) in display:
                continue
            name = param_names.get(id(leaf))
            module_path = name.rpartition(".")[0] if name else ""
            box = _module_box_path(module_path, collapse) if name else None
            if box is not None and box in boxes:
                display[id(leaf)] = boxes[box]
                box_params[box] = box_params.get(box, 0) + leaf.numel()
                continue
            kind = "param" if name else "input"
            cluster = module_path if (name and traces) else ""
            display[id(leaf)] = writer.add(
                kind, cluster, (name or "input") + _describe(leaf.shape, leaf.dtype, show_shapes), bold=False
            )
    for _root, leaf in roots:  # an output that is itself a leaf
        if leaf is not None and id(leaf) not in display:
            display[id(leaf)] = writer.add(
                "param" if id(leaf) in param_names else "input", "",
                param_names.get(id(leaf), "input") + _describe(leaf.shape, leaf.dtype, show_shapes), bold=True,
            )

    # Box labels: the module, what it gives out, how many parameters it holds.
    for box, box_id in boxes.items():
        made = [node for node in order if display[node] == box_id]
        outs = [node for node in made if node in module_outputs.get(box, ())] or made
        last = outs[-1]
        label = f"{box}: {module_types.get(box, 'module')}" + _describe(last.output_shape, dtypes.get(last), show_shapes)
        if box_params.get(box):
            label += f"\n{box_params[box]:,} params"
        writer.set_label(box_id, label)

    # Edges, from each input to the op (or box) that used it.
    for node in order:
        target = display[node]
        for parent, leaf in inputs[node]:
            if parent is not None:
                source = display[parent]
            elif leaf is not None:
                source = display[id(leaf)]
            else:
                if target in boxes.values():
                    continue  # data and constants inside a collapsed module stay inside its box
                source = writer.add("const", node_path[node], "", bold=False)
            if source != target:
                # An input is kept by the graph exactly when backward sends it a gradient.
                writer.edge(source, target, gradient=parent is not None or leaf is not None)

    graph = Graph(writer.source(module_types), format or "dot")
    if path is not None:
        graph.save(path, format)
    return graph


class _DotWriter:
    """Collects nodes (each in a module cluster) and edges, then writes DOT text."""

    def __init__(self):
        self.items = []  # (id, kind, cluster path, label, bold)
        self.labels = {}
        self.edges = []
        self._seen_edges = set()
        self._count = 0

    def add(self, kind, cluster, label, bold):
        ident = f"{kind[0]}{self._count}"
        self._count += 1
        self.items.append((ident, kind, cluster, bold))
        self.labels[ident] = label
        return ident

    def set_label(self, ident, label):
        self.labels[ident] = label

    def edge(self, source, target, gradient):
        # Boxes can be joined by many op-level edges: draw one. Op edges are kept as they are
        # (x * x draws two edges into Mul).
        key = (source, target, gradient)
        if (source[0] == "m" or target[0] == "m") and key in self._seen_edges:
            return
        self._seen_edges.add(key)
        self.edges.append(key)

    def _node_line(self, ident, kind, bold):
        if kind == "const":
            return f'{ident} [label="", shape=point, width=0.08, color="#a0a0a0", tooltip="an input that needs no gradient"];'
        style = {"op": _OP_STYLE, "param": _PARAM_STYLE, "input": _INPUT_STYLE, "module": _MODULE_STYLE}[kind]
        extra = ", penwidth=2" if bold else ""
        shape = ", shape=box3d" if kind == "module" else (", shape=ellipse" if kind in ("param", "input") else "")
        return f"{ident} [label={_quote(self.labels[ident])}, {style}{shape}{extra}];"

    def source(self, module_types) -> str:
        # Nest clusters by module path: "layer1.0" sits inside "layer1".
        tree = {"": {"items": [], "children": {}}}

        def cluster(path):
            if path not in tree:
                parent = path.rpartition(".")[0]
                cluster(parent)
                tree[path] = {"items": [], "children": {}}
                tree[parent]["children"][path] = tree[path]
            return tree[path]

        for ident, kind, path, bold in self.items:
            cluster(path)["items"].append(self._node_line(ident, kind, bold))

        lines = [
            "digraph macrograd {",
            f'  graph [rankdir=TB, fontname="Helvetica", fontsize=10, nodesep=0.25, ranksep=0.35, '
            f'labelloc=b, label={_quote(_LEGEND)}];',
            '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.12,0.04"];',
            '  edge [arrowsize=0.6];',
        ]

        numbers = []  # cluster names must be unique: cluster_0, cluster_1, ...

        def emit(path, entry, indent):
            pad = "  " * indent
            if path:
                lines.append(f"{pad}subgraph cluster_{len(numbers)} {{")
                numbers.append(path)
                label = f"{path}: {module_types.get(path, '')}".rstrip(": ")
                lines.append(f'{pad}  label={_quote(label)}; labeljust=l; labelloc=t; style="rounded,dashed"; '
                             f'color="#9aa5b1"; fontcolor="#52606d"; fontsize=9;')
                pad += "  "
            lines.extend(pad + line for line in entry["items"])
            # Children in the model's own order (named_modules), not in the order the walk met them.
            rank = {p: i for i, p in enumerate(module_types)}
            for child_path in sorted(entry["children"], key=lambda p: (rank.get(p, len(rank)), p)):
                emit(child_path, entry["children"][child_path], indent + 1)
            if path:
                lines.append("  " * indent + "}")

        emit("", tree[""], 1)
        for source, target, gradient in self.edges:
            lines.append(f"  {source} -> {target} [{_GRAD_EDGE if gradient else _NO_GRAD_EDGE}];")
        lines.append("}")
        return "\n".join(lines) + "\n"


# -- models ----------------------------------------------------------------------------------------

# Every image model of the zoo runs on one 28x28 grey image (tests/test_models.py), so that is
# the example a zoo model is drawn with unless another input is given.
ZOO_INPUT_SHAPE = (1, 1, 28, 28)


def _zoo_model(name: str):
    """A zoo model by name, built for 1-channel 28x28 images and 10 classes."""
    import inspect

    from .. import models

    if name not in models.list_models():
        raise ValueError(f"draw_model: unknown model {name!r}; available: {', '.join(models.list_models())}")
    options = dict(num_classes=10, in_channels=1)
    if "image_size" in inspect.signature(models._REGISTRY[name]).parameters:
        options["image_size"] = ZOO_INPUT_SHAPE[-1]
    return models.get_model(name, **options)


def _example_input(model, name):
    for attribute in ("example_input", "example_inputs"):
        maker = getattr(model, attribute, None)
        if maker is not None:
            return maker() if callable(maker) else maker
    raise ValueError(
        f"draw_model: don't know what input {name} takes: pass input=<a Tensor> or input_shape=(...)"
    )


def draw_model(name_or_module, input=None, *, input_shape=None, collapse=None, show_shapes: bool = True,
               training: bool = False, format: str | None = None, path=None) -> Graph:
    """Run a model once on an example input and draw the graph of its output, with ops grouped
    by module (`collapse=d` draws modules d levels down as single boxes).

    name_or_module: a Module, or a model name of the zoo (`macrograd.models.list_models()`),
        built for 1x28x28 images.
    input: the example input (a Tensor or a tuple of arguments); or input_shape for a random
        float32 one; else the model's `example_input()`, or 1x1x28x28 for a zoo model.
    training: draw the training-mode graph (dropout, batch statistics); by default eval mode,
        so that drawing changes no running statistics. The model's mode is restored after.
    """
    from .. import creation

    model = _zoo_model(name_or_module) if isinstance(name_or_module, str) else name_or_module
    if not hasattr(model, "named_modules"):
        raise TypeError(f"draw_model: expected a Module or a model name, got {type(name_or_module).__name__}")
    label = name_or_module if isinstance(name_or_module, str) else type(model).__name__
    if input is None and input_shape is None and isinstance(name_or_module, str):
        input_shape = ZOO_INPUT_SHAPE
    if input is None:
        input = creation.randn(*input_shape) if input_shape is not None else _example_input(model, label)
    args = input if isinstance(input, tuple) else (input,)
    was_training = model.training
    model.train(training)
    try:
        with trace_modules(model):
            output = model(*args)
    finally:
        model.train(was_training)
    return draw_graph(output, params=model, show_shapes=show_shapes, collapse=collapse, format=format, path=path)
