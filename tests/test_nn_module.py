"""The Module system against torch.nn.Module: registration, traversal, state_dict keys and
loading (with its errors), modes, conversions, hooks, containers, repr; and nn.utils
(gradient clipping, parameters <-> vector). Most tests build the same model with L = macrograd
and L = torch and compare."""
import copy
import math
import pickle
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch

import macrograd as mg

LIBS = [mg, torch]


def to_np(t):
    return t.detach().numpy()


def nested(L):
    """A model with every kind of registration: nested Sequentials, a ModuleList, a ModuleDict,
    BatchNorm buffers, a bias-less Linear, and an OrderedDict-named Sequential."""
    nn = L.nn
    return nn.Sequential(
        nn.Linear(4, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Sequential(OrderedDict(fc=nn.Linear(8, 8, bias=False), act=nn.GELU(approximate="tanh"))),
        nn.ModuleList([nn.Linear(8, 8) for _ in range(3)] + [nn.LayerNorm(8)]),
        nn.ModuleDict({"head": nn.Linear(8, 2), "drop": nn.Dropout(0.25)}),
        nn.Embedding(10, 3, padding_idx=0),
    )


def copy_state(dst, src):
    """Load the torch module's state into the macrograd one through NumPy."""
    return dst.load_state_dict({k: mg.tensor(v.detach().numpy().copy()) for k, v in src.state_dict().items()})


# -- Parameter ------------------------------------------------------------------------------------
def test_parameter_basics():
    data = mg.randn(2, 3)
    p = mg.nn.Parameter(data)
    assert isinstance(p, mg.Tensor) and p.requires_grad and p.is_leaf
    assert p._data is data._data  # wraps, does not copy, as torch does
    assert repr(p).startswith("Parameter containing:\ntensor([[") and repr(p).endswith("requires_grad=True)")
    assert not mg.nn.Parameter(mg.zeros(2), requires_grad=False).requires_grad
    assert type(p * 2) is mg.Tensor  # ops give plain tensors
    q = pickle.loads(pickle.dumps(p))
    assert isinstance(q, mg.nn.Parameter) and q.requires_grad
    np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())


# -- registration and traversal -------------------------------------------------------------------
def names_and_shapes(pairs):
    return [(name, tuple(t.shape)) for name, t in pairs]


def test_named_members_match_torch():
    ours, theirs = nested(mg), nested(torch)
    assert names_and_shapes(ours.named_parameters()) == names_and_shapes(theirs.named_parameters())
    assert names_and_shapes(ours.named_buffers()) == names_and_shapes(theirs.named_buffers())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert len(list(ours.parameters(recurse=False))) == 0
    assert [n for n, _ in ours[3].named_parameters(prefix="x")] == ["x.fc.weight"]
    assert ours.get_submodule("4.1") is ours[4][1] and ours.get_parameter("5.head.bias") is ours[5]["head"].bias
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        ours.get_submodule("4.nope")


class Tied(mg.nn.Module):
    def __init__(self, L=mg):
        super().__init__()
        self.a = L.nn.Linear(3, 3)
        self.b = L.nn.Linear(3, 3)
        self.b.weight = self.a.weight
        self.same = self.a


def test_shared_parameters_and_modules_are_listed_once():
    m = Tied()
    assert [n for n, _ in m.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert [n for n, _ in m.named_modules()] == ["", "a", "b"]
    assert len(list(m.named_modules(remove_duplicate=False))) == 4
    assert list(m.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias", "same.weight", "same.bias"]


class Custom(mg.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = mg.nn.Parameter(mg.ones(2))
        self.register_buffer("stat", mg.zeros(2))
        self.register_buffer("cache", mg.zeros(3), persistent=False)
        self.register_parameter("maybe", None)
        self.child = mg.nn.Linear(2, 2)
        self.plain = 5

    def forward(self, x):
        return x * self.w + self.stat


def test_setattr_getattr_delattr():
    m = Custom()
    assert list(m._parameters) == ["w", "maybe"] and list(m._buffers) == ["stat", "cache"]
    assert list(m._modules) == ["child"] and m.plain == 5 and "plain" not in m._parameters
    assert m.maybe is None
    assert list(m.state_dict()) == ["w", "stat", "child.weight", "child.bias"]  # no non-persistent cache
    assert [n for n, _ in m.named_buffers()] == ["stat", "cache"]
    m.stat = mg.ones(2)  # a tensor assigned to a buffer name replaces the buffer
    assert np.all(m._buffers["stat"].numpy() == 1)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = mg.ones(2)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'child'"):
        m.child = 3
    with pytest.raises(TypeError, match="cannot assign 'str' as buffer 'stat'"):
        m.stat = "x"
    m.child = mg.nn.Parameter(mg.zeros(1))  # re-registered as a parameter instead of a module
    assert "child" in m._parameters and "child" not in m._modules
    del m.child, m.stat, m.plain
    assert "child" not in m._parameters and "stat" not in m._buffers and not hasattr(m, "plain")
    with pytest.raises(AttributeError, match="'Custom' object has no attribute 'missing'"):
        m.missing
    with pytest.raises(KeyError, match="attribute 'plain2' already exists"):
        m.plain2 = 1
        m.register_buffer("plain2", mg.zeros(1))
    with pytest.raises(KeyError, match=r"parameter name can.+t contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' object to parameter 'x'"):
        m.register_parameter("x", mg.zeros(1))
    p = mg.nn.Parameter(mg.ones(1))
    p.grad_fn = (p * 2).grad_fn  # a parameter that is the output of an op
    with pytest.raises(ValueError, match="non-leaf Tensor"):
        m.register_parameter("y", p)


def test_assignment_before_init_fails():
    class Bad(mg.nn.Module):
        def __init__(self):
            self.w = mg.nn.Parameter(mg.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_forward_is_required():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        mg.nn.Module()(1)


# -- state_dict -----------------------------------------------------------------------------------
def test_state_dict_keys_shapes_dtypes_match_torch():
    ours, theirs = nested(mg).state_dict(), nested(torch).state_dict()
    assert names_and_shapes(ours.items()) == names_and_shapes(theirs.items())
    assert ours["1.num_batches_tracked"].dtype == mg.int64 and ours["1.num_batches_tracked"].shape == ()
    assert all(not t.requires_grad for t in ours.values())
    assert list(nested(mg).state_dict(prefix="model.")) == ["model." + k for k in theirs]


def test_state_dict_shares_memory_and_keep_vars():
    m = mg.nn.Linear(2, 2)
    sd = m.state_dict()
    with mg.no_grad():
        m.weight.fill_(3.0)
    assert np.all(sd["weight"].numpy() == 3.0)
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


def test_load_state_dict_roundtrip_from_torch():
    ours, theirs = nested(mg), nested(torch)
    with torch.no_grad():
        theirs[1].running_mean.uniform_()
        theirs[1].num_batches_tracked.fill_(7)
    result = copy_state(ours, theirs)
    assert result.missing_keys == [] and result.unexpected_keys == [] and repr(result) == "<All keys matched successfully>"
    for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_array_equal(to_np(a), b.numpy(), err_msg=name)
        assert to_np(a).dtype == b.numpy().dtype
    # numpy arrays are accepted as well, and the parameters stay the same objects
    weight = ours[0].weight
    ours.load_state_dict({k: v.numpy() * 0 for k, v in ours.state_dict().items()})
    assert ours[0].weight is weight and np.all(weight.detach().numpy() == 0)


def load_error(L, state_dict_fn, strict=True):
    model = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4))
    sd = state_dict_fn(L, dict(model.state_dict()))
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(sd, strict=strict)
    return str(info.value)


def _missing(L, sd):
    del sd["0.bias"], sd["1.running_var"]
    return sd


def _unexpected(L, sd):
    sd["0.extra"] = L.zeros(1)
    sd["2.weight"] = L.zeros(1)
    return sd


def _mismatch(L, sd):
    sd["0.weight"] = L.zeros(4, 5)
    return sd


@pytest.mark.parametrize("edit", [_missing, _unexpected, _mismatch])
def test_load_state_dict_errors_match_torch(edit):
    ours = load_error(mg, edit)
    theirs = load_error(torch, edit)
    theirs = re.sub(r"torch\.Size\(\[(\d+), (\d+)\]\)", r"(\1, \2)", theirs)
    assert ours == theirs


def test_load_state_dict_error_messages():
    assert load_error(mg, _missing) == (
        'Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in state_dict: "0.bias", "1.running_var". ')
    message = load_error(mg, lambda L, sd: _unexpected(L, _missing(L, sd)))
    assert 'Missing key(s) in state_dict: "0.bias", "1.running_var". ' in message
    assert 'Unexpected key(s) in state_dict: "2.weight", "0.extra". ' in message
    assert message.index("Missing") < message.index("Unexpected")
    message = load_error(mg, _mismatch)
    assert ("size mismatch for 0.weight: copying a param with shape (4, 5) from checkpoint, "
            "the shape in current model is (4, 3).") in message
    # a shape mismatch raises even when strict=False
    assert "size mismatch for 0.weight" in load_error(mg, _mismatch, strict=False)


def test_load_state_dict_not_strict_reports_keys():
    for L in LIBS:
        model = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4))
        sd = _unexpected(L, _missing(L, dict(model.state_dict())))
        missing, unexpected = model.load_state_dict(sd, strict=False)
        assert missing == ["0.bias", "1.running_var"] and unexpected == ["2.weight", "0.extra"]  # the parent's first
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        mg.nn.Linear(1, 1).load_state_dict([1, 2])


# -- modes and conversions ------------------------------------------------------------------------
def test_train_eval_apply():
    m = nested(mg)
    assert all(mod.training for mod in m.modules())
    assert m.eval() is m and not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    m[4].train(False)
    assert m.training and not m[4][0].training
    order = []
    m.apply(lambda mod: order.append(type(mod).__name__))
    theirs = []
    nested(torch).apply(lambda mod: theirs.append(type(mod).__name__))
    assert order == theirs
    with pytest.raises(ValueError, match="boolean"):
        m.train("yes")


def test_zero_grad_and_requires_grad_():
    m = mg.nn.Linear(3, 2)
    m(mg.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None
    grad = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is grad and np.all(grad.numpy() == 0) and grad.shape == (2, 3)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    assert m.requires_grad_(False) is m and not any(p.requires_grad for p in m.parameters())


def test_to_dtype_keeps_objects_and_integer_buffers():
    m = mg.nn.Sequential(mg.nn.Linear(3, 2), mg.nn.BatchNorm1d(2))
    weight = m[0].weight
    m[0](mg.randn(2, 3)).sum().backward()
    assert m.double() is m
    assert m[0].weight is weight and weight.dtype == mg.float64 and weight.grad.dtype == mg.float64
    assert m[1].running_mean.dtype == mg.float64 and m[1].num_batches_tracked.dtype == mg.int64
    assert m.to(mg.float32)[0].weight.dtype == mg.float32
    assert m.float()[0].bias.dtype == mg.float32 and m.to("cpu") is m
    out = m[0](mg.randn(2, 3))
    assert out.dtype == mg.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(mg.int64)


def test_pickle_roundtrip_keeps_state_and_structure():
    m = nested(mg)
    m.eval()
    c = pickle.loads(pickle.dumps(m))
    assert repr(c) == repr(m) and not c.training and isinstance(c[0].weight, mg.nn.Parameter)
    for (name, a), (_, b) in zip(m.state_dict().items(), c.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    x = mg.randn(3, 4)
    np.testing.assert_array_equal(c[:3](x).detach().numpy(), m[:3](x).detach().numpy())


def test_deepcopy_is_independent():
    m = nested(mg)
    c = copy.deepcopy(m)
    assert c[0].weight is not m[0].weight and isinstance(c[0].weight, mg.nn.Parameter)
    with mg.no_grad():
        c[0].weight.fill_(0.0)
    assert not np.all(m[0].weight.detach().numpy() == 0)
    assert repr(c) == repr(m)


# -- hooks ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("L", LIBS, ids=["macrograd", "torch"])
def test_forward_hooks(L):
    m = L.nn.Linear(2, 2)
    calls = []
    pre = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    post = m.register_forward_hook(lambda mod, args, out: calls.append(tuple(args[0].shape)) or out + 1)
    x = L.ones(3, 2)
    np.testing.assert_allclose(to_np(m(x)), np.broadcast_to(to_np(m.bias) + 1, (3, 2)), rtol=1e-6)
    assert calls == [(3, 2)]
    pre.remove()
    post.remove()
    np.testing.assert_allclose(to_np(m(x)), np.tile(to_np(m.weight).sum(1) + to_np(m.bias), (3, 1)), rtol=1e-6)
    assert calls == [(3, 2)]
    with m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True):
        np.testing.assert_allclose(to_np(m(x)), np.tile(2 * to_np(m.weight).sum(1) + to_np(m.bias), (3, 1)), rtol=1e-6)
    order = []
    m.register_forward_hook(lambda *a: order.append("second"))
    m.register_forward_hook(lambda *a: order.append("first"), prepend=True)
    m(x)
    assert order == ["first", "second"]


# -- containers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("L", LIBS, ids=["macrograd", "torch"])
def test_sequential_protocol(L):
    nn = L.nn
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and [type(m) for m in seq][1] is nn.ReLU
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is seq[1]
    assert list(sub._modules) == ["1", "2"]  # a slice keeps the names, as in torch
    seq.append(nn.Tanh())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[1], nn.Linear)
    seq.insert(1, nn.ReLU())
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear", "Tanh"]
    seq[3] = nn.Sigmoid()
    assert isinstance(seq[3], nn.Sigmoid)
    with pytest.raises(IndexError):
        seq[4]
    assert len(seq + nn.Sequential(nn.Identity())) == 5
    out = seq(L.ones(5, 2))
    assert tuple(out.shape) == (5, 1)
    assert float(out.detach().min()) > 0 and float(out.detach().max()) < 1


@pytest.mark.parametrize("L", LIBS, ids=["macrograd", "torch"])
def test_module_list_and_dict(L):
    nn = L.nn
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh(), nn.Identity()])
    layers += [nn.Sigmoid()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Sigmoid) and len(layers[1:3]) == 2
    layers.insert(0, nn.GELU())
    assert isinstance(layers[0], nn.GELU) and list(layers._modules) == [str(i) for i in range(6)]
    del layers[0]
    assert isinstance(layers[0], nn.Linear)
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias"]
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.ReLU()
    d.update([("c", nn.Tanh())])
    assert list(d.keys()) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert isinstance(d.pop("b"), nn.ReLU) and list(d) == ["a", "c"]
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]


@pytest.mark.parametrize("L", LIBS, ids=["macrograd", "torch"])
def test_parameter_list_and_dict(L):
    nn = L.nn
    plist = nn.ParameterList([nn.Parameter(L.ones(2)), nn.Parameter(L.zeros(3, 1))])
    plist.append(nn.Parameter(L.ones(1)))
    assert len(plist) == 3 and [n for n, _ in plist.named_parameters()] == ["0", "1", "2"]
    assert tuple(plist[1].shape) == (3, 1)
    pdict = nn.ParameterDict({"a": nn.Parameter(L.ones(1))})
    pdict["b"] = nn.Parameter(L.ones(2))
    assert list(pdict.keys()) == ["a", "b"] and [n for n, _ in pdict.named_parameters()] == ["a", "b"]


# -- repr -----------------------------------------------------------------------------------------
def every_layer(L):
    nn = L.nn
    return nn.Sequential(
        nested(L),
        nn.Linear(3, 4, bias=False), nn.Bilinear(2, 3, 4), nn.Identity(), nn.Flatten(), nn.Flatten(0, 2),
        nn.Unflatten(1, (2, 5)), nn.Dropout(), nn.Dropout(0.3, inplace=True),
        nn.BatchNorm1d(5, eps=1e-3, momentum=None, affine=False, track_running_stats=False),
        nn.BatchNorm2d(3), nn.BatchNorm1d(4, bias=False), nn.BatchNorm3d(2, momentum=0.3),
        nn.InstanceNorm1d(3), nn.InstanceNorm2d(4, affine=True, track_running_stats=True), nn.InstanceNorm3d(2),
        nn.GroupNorm(2, 6), nn.GroupNorm(1, 3, eps=1e-3, affine=False), nn.Dropout1d(0.2), nn.Dropout2d(),
        nn.LayerNorm([3, 4], elementwise_affine=False), nn.LayerNorm(6, eps=1e-6, bias=False),
        nn.Embedding(7, 2), nn.Embedding(7, 2, padding_idx=-1, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True),
        nn.ReLU(), nn.ReLU(inplace=True), nn.GELU(), nn.SiLU(), nn.ELU(alpha=0.5), nn.ELU(inplace=True),
        nn.Softplus(beta=2.0, threshold=10.0), nn.Tanh(), nn.Sigmoid(), nn.LeakyReLU(), nn.LeakyReLU(0.2, True),
        nn.Softmax(dim=-1), nn.LogSoftmax(dim=1), nn.Softmax(), nn.Hardtanh(-2.0, 2.0), nn.ReLU6(),
        nn.ModuleList(), nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh(), nn.ReLU()]),
        nn.CrossEntropyLoss(label_smoothing=0.1), nn.NLLLoss(), nn.MSELoss(), nn.L1Loss(), nn.SmoothL1Loss(beta=0.5),
        nn.HuberLoss(delta=2.0), nn.BCELoss(), nn.BCEWithLogitsLoss(), nn.KLDivLoss(reduction="batchmean"),
    )


def test_repr_matches_torch():
    assert repr(every_layer(mg)) == repr(every_layer(torch))


def test_custom_module_repr_matches_torch():
    def build(L):
        class Block(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = L.nn.Linear(2, 2)
                self.norm = L.nn.LayerNorm(2)

            def extra_repr(self):
                return "dim=2\nheads=1"

        class Net(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = L.nn.ModuleList([Block(), Block()])
                self.scale = L.nn.Parameter(L.ones(1))

        return Net()

    assert repr(build(mg)) == repr(build(torch))


# -- nn.utils -------------------------------------------------------------------------------------
def grads_pair(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    arrays = [rng.standard_normal(s).astype(np.float32) * 3 for s in shapes]
    ours = [mg.nn.Parameter(mg.zeros(*s)) for s in shapes]
    theirs = [torch.nn.Parameter(torch.zeros(*s)) for s in shapes]
    for a, p, q in zip(arrays, ours, theirs):
        p.grad = mg.tensor(a.copy())
        q.grad = torch.tensor(a.copy())
    return ours, theirs


@pytest.mark.parametrize("max_norm,norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1), (2.0, math.inf), (1.0, 3.0)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    ours, theirs = grads_pair()
    total = mg.nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, mg.Tensor) and total.shape == () and total.dtype == mg.float32
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-6)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_edge_cases():
    p = mg.nn.Parameter(mg.ones(2))
    assert float(mg.nn.utils.clip_grad_norm_([p], 1.0)) == 0.0  # no gradients at all
    p.grad = mg.tensor([3.0, 4.0])
    assert float(mg.nn.utils.clip_grad_norm_(p, 1.0)) == pytest.approx(5.0)  # a single tensor is accepted
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    p.grad = mg.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        mg.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    ours, theirs = grads_pair(1)
    mg.nn.utils.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_parameters_to_vector_and_back():
    ours, theirs = nested(mg), nested(torch)
    copy_state(ours, theirs)
    vec = mg.nn.utils.parameters_to_vector(ours.parameters())
    expected = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(to_np(vec), to_np(expected))
    vec.sum().backward()  # differentiable, like torch's
    assert np.all(ours[0].weight.grad.numpy() == 1)
    mg.nn.utils.vector_to_parameters(mg.arange(vec.numel()).float(), ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.arange(vec.numel()).float(), theirs.parameters())
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_array_equal(to_np(a), to_np(b), err_msg=name)
    with pytest.raises(ValueError, match="vec has 3 elements"):
        mg.nn.utils.vector_to_parameters(mg.zeros(3), ours.parameters())
