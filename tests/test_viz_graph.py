"""Graph drawing: the DOT text of a tensor's graph (ops, shapes, dtypes, parameter names, module
clusters, collapsed modules, gradient edges), saving as DOT/SVG/PNG with and without Graphviz,
and draw_model.

The DOT text is parsed back here (nodes, edges, the cluster each node sits in) and checked
against the graph macrograd built, so the tests see structure, not just substrings."""
import re
import shutil

import numpy as np
import pytest

import macrograd as mg
import macrograd.nn as nn
import macrograd.nn.functional as F
import macrograd.viz as viz
from macrograd.viz import graph as graph_module

HAVE_DOT = shutil.which("dot") is not None


def parse(source):
    """{id: (label, kind attrs, [cluster labels outermost first])} and [(src, dst, attrs)]."""
    nodes, edges, stack = {}, [], []
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("subgraph cluster_"):
            stack.append(None)
        elif line.startswith("label=") and stack and stack[-1] is None:
            stack[-1] = re.match(r'label="(.*?)";', line).group(1)
        elif line == "}" and stack:
            stack.pop()
        elif m := re.match(r"(\w+) -> (\w+) \[(.*)\];", line):
            edges.append(m.groups())
        elif m := re.match(r'(\w+) \[label="(.*?)", (.*)\];', line):
            nodes[m.group(1)] = (m.group(2).replace("\\n", "\n"), m.group(3), list(stack))
    return nodes, edges


def by_label(nodes, first_line):
    return [i for i, (label, _, _) in nodes.items() if label.split("\n")[0] == first_line]


def mlp():
    mg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def traced_loss(model, x=None):
    x = mg.randn(5, 4) if x is None else x
    with viz.trace_modules(model):
        out = model(x)
    return F.cross_entropy(out, mg.tensor([0, 1, 2, 0, 1]))


def test_ops_shapes_dtypes_and_parameter_names():
    model = mlp()
    nodes, edges = parse(viz.draw_graph(traced_loss(model)).source)
    labels = sorted(label for label, _, _ in nodes.values() if label)
    assert labels == sorted([  # nn.Linear is one fused Linear node (x W^T + b)
        "Linear\n(5, 8) float32", "Relu\n(5, 8) float32", "Linear\n(5, 3) float32",
        "CrossEntropy\nscalar float32",
        "0.weight\n(8, 4) float32", "0.bias\n(8,) float32", "2.weight\n(3, 8) float32", "2.bias\n(3,) float32",
    ])
    # The output is drawn bold; parameters are green ellipses.
    (loss_id,) = by_label(nodes, "CrossEntropy")
    assert "penwidth=2" in nodes[loss_id][1]
    assert "ellipse" in nodes[by_label(nodes, "0.weight")[0]][1]
    # Every edge joins declared nodes; the data x enters the first Linear on a dashed grey edge,
    # its weight and bias on solid ones.
    assert all(s in nodes and d in nodes for s, d, _ in edges)
    first_linear = [i for i in by_label(nodes, "Linear") if "(5, 8)" in nodes[i][0]][0]
    into = [(s, attrs) for s, d, attrs in edges if d == first_linear]
    assert sorted("dashed" in attrs for _, attrs in into) == [False, False, True]
    assert len(edges) == 8  # 7 edges that carry gradients + the data input


def test_edges_follow_the_graph():
    model = mlp()
    nodes, edges = parse(viz.draw_graph(traced_loss(model)).source)
    name = {i: label.split("\n")[0] for i, (label, _, _) in nodes.items()}
    pairs = {(name[s], name[d]) for s, d, _ in edges}
    assert ("0.weight", "Linear") in pairs and ("0.bias", "Linear") in pairs
    assert ("Linear", "Relu") in pairs and ("Relu", "Linear") in pairs and ("Linear", "CrossEntropy") in pairs


def test_ops_are_clustered_by_the_module_that_made_them():
    model = mlp()
    nodes, _ = parse(viz.draw_graph(traced_loss(model)).source)
    clusters = {label: cl for label, _, cl in nodes.values()}
    assert clusters["Relu\n(5, 8) float32"] == ["1: ReLU"]
    assert clusters["Linear\n(5, 3) float32"] == ["2: Linear"]
    assert clusters["0.weight\n(8, 4) float32"] == ["0: Linear"]
    assert clusters["CrossEntropy\nscalar float32"] == []  # made outside the model


def test_nested_modules_and_a_residual_add_belong_to_their_block():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return x + self.fc(x).tanh()

    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), Block())
    with viz.trace_modules(model):
        out = model(mg.randn(2, 4))
    nodes, _ = parse(viz.draw_graph(out).source)
    clusters = {label.split("\n")[0] + str(cl): cl for label, _, cl in nodes.values() if label}
    assert ["1: Block"] in clusters.values()  # the Tanh and the residual Add
    tanh = [cl for label, _, cl in nodes.values() if label.startswith("Tanh")]
    assert tanh == [["1: Block"]]
    adds = sorted(tuple(cl) for label, _, cl in nodes.values() if label.startswith("Add"))
    assert adds == [("1: Block",)]
    linears = sorted(tuple(cl) for label, _, cl in nodes.values() if label.startswith("Linear"))
    assert linears == [("0: Linear",), ("1: Block", "1.fc: Linear")]


def test_a_tensor_held_from_an_earlier_module_is_not_claimed():
    class UsesHeld(nn.Module):
        def forward(self, x):
            return x * self.held

    mg.manual_seed(0)
    first, second = nn.Linear(3, 3), UsesHeld()
    model = nn.Sequential(first, second)
    x = mg.randn(2, 3)
    with viz.trace_modules(model):
        second.held = first(x)  # made by `first`, before `second` runs
        out = model(x)
    nodes, _ = parse(viz.draw_graph(out).source)
    linears = [cl for label, _, cl in nodes.values() if label.startswith("Linear")]
    (mul,) = [cl for label, _, cl in nodes.values() if label.startswith("Mul")]
    assert mul == ["1: UsesHeld"] and linears == [["0: Linear"], ["0: Linear"]]


def test_collapse_draws_each_module_as_one_box():
    model = mlp()
    nodes, edges = parse(viz.draw_graph(traced_loss(model), collapse=1).source)
    labels = {i: label for i, (label, _, _) in nodes.items()}
    assert sorted(labels.values()) == sorted([
        "0: Linear\n(5, 8) float32\n40 params", "1: ReLU\n(5, 8) float32",
        "2: Linear\n(5, 3) float32\n27 params", "CrossEntropy\nscalar float32",
    ])
    chain = {(labels[s].split("\n")[0], labels[d].split("\n")[0]) for s, d, _ in edges}
    assert chain == {("0: Linear", "1: ReLU"), ("1: ReLU", "2: Linear"), ("2: Linear", "CrossEntropy")}
    assert len(edges) == 3


def test_collapse_at_depth_two_keeps_outer_clusters():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    with viz.trace_modules(model):
        out = model(mg.randn(3, 4))
    nodes, _ = parse(viz.draw_graph(out, collapse=2).source)
    placed = {label.split("\n")[0]: cl for label, _, cl in nodes.values() if label}
    assert placed["0.0: Linear"] == ["0: Sequential"] and placed["0.1: ReLU"] == ["0: Sequential"]
    assert "1: Linear" not in placed  # at depth 1 < 2: its ops stay visible, in its cluster
    assert any(label.startswith("Linear") and cl == ["1: Linear"] for label, _, cl in nodes.values())


def test_names_without_a_trace_and_inputs_that_need_a_gradient():
    mg.manual_seed(0)
    w = mg.randn(3, 2, requires_grad=True)
    x = mg.randn(4, 3, requires_grad=True)
    y = (x @ w).exp().sum()
    nodes, edges = parse(viz.draw_graph(y, params={"w": w}).source)
    labels = sorted(label for label, _, _ in nodes.values())
    assert labels == ["Exp\n(4, 2) float32", "MatMul\n(4, 2) float32", "Sum\nscalar float32",
                      "input\n(4, 3) float32", "w\n(3, 2) float32"]
    assert all(cl == [] for _, _, cl in nodes.values())
    assert all("dashed" not in attrs for _, _, attrs in edges)


def test_same_input_twice_draws_two_edges_and_constants_are_grey():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = parse(viz.draw_graph(x * x * 2).source)
    (square,) = [i for i in by_label(nodes, "Mul") if any(d == i and nodes[s][0].startswith("input") for s, d, _ in edges)]
    assert sum(1 for s, d, _ in edges if d == square) == 2
    consts = [s for s, d, attrs in edges if "dashed" in attrs]
    assert len(consts) == 1 and "shape=point" in nodes[consts[0]][1]


def test_dtypes_float64_and_casts():
    x = mg.tensor(np.ones((2, 2)), requires_grad=True)  # float64
    y = (x.exp().to(mg.float32) * 3).sum()
    nodes, _ = parse(viz.draw_graph(y).source)
    labels = {label for label, _, _ in nodes.values() if label}
    assert "Exp\n(2, 2) float64" in labels and "input\n(2, 2) float64" in labels
    assert "Sum\nscalar float32" in labels  # the output's dtype is known exactly
    assert any(label.startswith("ToDtype") for label in labels)


def test_show_shapes_false_and_tuple_outputs():
    x = mg.randn(3, requires_grad=True)
    nodes, _ = parse(viz.draw_graph((x.exp(), x.sin()), show_shapes=False).source)
    labels = sorted(label for label, _, _ in nodes.values())
    assert labels == ["Exp", "Sin", "input"]
    assert sum("penwidth=2" in attrs for _, attrs, _ in nodes.values()) == 2


def test_backward_hook_gates_are_invisible_and_graph_survives_backward():
    model = mlp()
    model[0].register_full_backward_hook(lambda *args: None)
    loss = traced_loss(model, mg.randn(5, 4, requires_grad=True))
    loss.backward()
    nodes, edges = parse(viz.draw_graph(loss).source)
    assert not any("Gate" in label for label, _, _ in nodes.values())
    (first_linear,) = [i for i in by_label(nodes, "Linear") if "(5, 8)" in nodes[i][0]]
    sources = sorted(nodes[s][0].split("\n")[0] for s, d, _ in edges if d == first_linear)
    assert sources == ["0.bias", "0.weight", "input"]


def test_errors():
    with pytest.raises(ValueError, match="draw_graph: the tensor has no graph"):
        viz.draw_graph(mg.randn(3))
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.draw_graph(np.ones(3))
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="format must be one of 'dot', 'svg', 'png', 'pdf', got 'jpg'"):
        viz.draw_graph(x.exp(), format="jpg")
    with pytest.raises(ValueError, match="collapse must be None or a module depth >= 1, got 0"):
        viz.draw_graph(x.exp(), collapse=0)
    with pytest.raises(ValueError, match=r"collapse=.*needs to know which module made each op.*trace_modules"):
        viz.draw_graph(mlp()(mg.randn(2, 4)), collapse=1)
    with pytest.raises(TypeError, match="params must be a dict"):
        viz.draw_graph(x.exp(), params=[x])


# -- saving ------------------------------------------------------------------------------------------

def test_save_dot_and_format_from_suffix(tmp_path):
    graph = viz.draw_graph(traced_loss(mlp()))
    path = graph.save(tmp_path / "g.gv")
    assert path.read_text() == graph.source and graph.source.startswith("digraph macrograd {")
    assert viz.draw_graph(traced_loss(mlp()), path=tmp_path / "h.dot").source == (tmp_path / "h.dot").read_text()


def test_save_svg_and_png_render_or_say_graphviz_is_missing(tmp_path):
    graph = viz.draw_graph(traced_loss(mlp()))
    if HAVE_DOT:
        svg = graph.save(tmp_path / "g.svg").read_text()
        assert "<svg" in svg and "0.weight" in svg and "CrossEntropy" in svg
        assert (tmp_path / "g.png").exists() is False
        png = graph.save(tmp_path / "g.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in graph._repr_svg_()
    else:
        with pytest.raises(viz.GraphvizNotFoundError, match="Graphviz"):
            graph.save(tmp_path / "g.svg")
        assert (tmp_path / "g.dot").read_text() == graph.source


def test_without_graphviz_the_dot_text_is_written_and_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    graph = viz.draw_graph(traced_loss(mlp()))
    with pytest.raises(viz.GraphvizNotFoundError, match=r"not installed.*DOT text was written to .*g\.dot"):
        graph.save(tmp_path / "g.png")
    assert (tmp_path / "g.dot").read_text() == graph.source
    assert not (tmp_path / "g.png").exists()
    assert graph._repr_svg_() is None
    with pytest.raises(viz.GraphvizNotFoundError, match="needs Graphviz's `dot` program"):
        graph.pipe("svg")
    with pytest.raises(viz.GraphvizNotFoundError):
        viz.draw_graph(traced_loss(mlp()), format="svg", path=tmp_path / "x")


# -- draw_model ------------------------------------------------------------------------------------

def test_draw_model_traces_and_restores_the_mode():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    before = model[1].running_mean.numpy().copy()
    nodes, _ = parse(viz.draw_model(model, input_shape=(8, 4), collapse=1).source)
    labels = sorted(label.split("\n")[0] for label, _, _ in nodes.values())
    assert labels == ["0: Linear", "1: BatchNorm1d", "2: ReLU", "3: Linear"]
    assert model.training
    np.testing.assert_array_equal(model[1].running_mean.numpy(), before)  # eval mode while drawing
    with pytest.raises(ValueError, match="pass input=<a Tensor> or input_shape"):
        viz.draw_model(model)


def test_draw_model_by_zoo_name():
    """A real zoo model by name, drawn on its default 1x1x28x28 input."""
    nodes, _ = parse(viz.draw_model("lenet5").source)
    labels = [label for label, _, _ in nodes.values()]
    assert any(label.startswith("conv1.weight\n(6, 1, 5, 5)") for label in labels)
    assert any(label.startswith("Linear\n(1, 10)") for label in labels)  # the logits
    with pytest.raises(ValueError, match="unknown model 'lenet6'"):
        viz.draw_model("lenet6")