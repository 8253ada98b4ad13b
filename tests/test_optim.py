"""mg.optim against torch.optim: the same parameters, the same gradients, the same steps.

Every optimizer and option combination runs 50+ steps in both libraries; the parameters must
agree (float32, rtol 1e-5) after every step. Also: two param groups with their own options,
a real training loop through backward/zero_grad, state_dict layout and round trips (including
loading torch's own state_dict), and errors with PyTorch's messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import macrograd as mg
import macrograd.optim  # noqa: F401  (mg.optim)

STEPS = 55
SHAPES = [(4, 3), (5,), ()]


def initial_params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


def gradient_sequence(steps=STEPS, seed=1):
    """Fixed random gradients, a few of them tiny and a few large, so eps and max() matter."""
    rng = np.random.default_rng(seed)
    seq = []
    for t in range(steps):
        scale = 1e-4 if t % 7 == 3 else (10.0 if t % 11 == 5 else 1.0)
        seq.append([(scale * rng.standard_normal(s)).astype(np.float32) for s in SHAPES])
    return seq


def make_params(lib, arrays):
    return [lib.tensor(a.copy(), requires_grad=True) for a in arrays]


def to_numpy(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t._data


def assert_params_close(mg_params, torch_params, step, rtol=1e-5, atol=1e-6):
    for i, (a, b) in enumerate(zip(mg_params, torch_params)):
        np.testing.assert_allclose(
            to_numpy(a), to_numpy(b), rtol=rtol, atol=atol,
            err_msg=f"parameter {i} differs after step {step}",
        )
        assert to_numpy(a).dtype == np.float32


def optimizer_pair(name, groups_of, **options):
    """Build the same optimizer in both libraries; groups_of(params) gives the params argument."""
    arrays = initial_params()
    pm, pt = make_params(mg, arrays), make_params(torch, arrays)
    om = getattr(mg.optim, name)(groups_of(pm), **options)
    ot = getattr(torch.optim, name)(groups_of(pt), **options)
    return (pm, om), (pt, ot)


def run_fixed_gradients(mg_side, torch_side, grads, check_every_step=True):
    (pm, om), (pt, ot) = mg_side, torch_side
    for step, gs in enumerate(grads):
        for p, g in zip(pm, gs):
            p.grad = mg.tensor(g.copy())
        for p, g in zip(pt, gs):
            p.grad = torch.tensor(g.copy())
        om.step()
        ot.step()
        if check_every_step:
            assert_params_close(pm, pt, step)


CASES = {
    "SGD": [
        dict(lr=0.05),
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.05, momentum=0.9, dampening=0.5),
        dict(lr=0.05, momentum=0.9, nesterov=True),
        dict(lr=0.05, weight_decay=0.1),
        dict(lr=0.05, maximize=True),
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True),
    ],
    "Adam": [
        dict(),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, maximize=True),
        dict(lr=0.01, betas=(0.3, 0.5), eps=1e-3),  # beta1 < 0.5: lerp's other rounding branch
        dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True),
    ],
    "AdamW": [
        dict(),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, amsgrad=True, weight_decay=0.1),
        dict(lr=0.01, maximize=True, betas=(0.8, 0.99)),
    ],
    "RMSprop": [
        dict(),
        dict(lr=0.01, momentum=0.9),
        dict(lr=0.01, centered=True),
        dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1),
        dict(lr=0.01, alpha=0.3, centered=True),  # 1 - alpha > 0.5: lerp's other branch
        dict(lr=0.01, maximize=True, eps=1e-3),
    ],
    "Adagrad": [
        dict(),
        dict(lr=0.1, lr_decay=0.05),
        dict(lr=0.1, weight_decay=0.1),
        dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-4),
        dict(lr=0.1, maximize=True, lr_decay=0.01),
    ],
}
CASE_LIST = [(name, opts) for name, cases in CASES.items() for opts in cases]


@pytest.mark.parametrize("name,options", CASE_LIST, ids=[f"{n}-{o}" for n, o in CASE_LIST])
def test_matches_torch_every_step(name, options):
    mg_side, torch_side = optimizer_pair(name, list, **options)
    run_fixed_gradients(mg_side, torch_side, gradient_sequence())


SECOND_GROUP = {
    "SGD": dict(lr=0.01, momentum=0.5, nesterov=True),
    "Adam": dict(lr=0.003, betas=(0.5, 0.9), amsgrad=True),
    "AdamW": dict(weight_decay=0.3),
    "RMSprop": dict(centered=True, momentum=0.3),
    "Adagrad": dict(lr_decay=0.1, weight_decay=0.2),
}


@pytest.mark.parametrize("name", sorted(SECOND_GROUP))
def test_two_param_groups_with_their_own_options(name):
    def groups_of(params):
        return [{"params": params[:1]}, {"params": params[1:], **SECOND_GROUP[name]}]

    mg_side, torch_side = optimizer_pair(name, groups_of, lr=0.02)
    run_fixed_gradients(mg_side, torch_side, gradient_sequence())
    om, ot = mg_side[1], torch_side[1]
    assert [g["lr"] for g in om.param_groups] == [g["lr"] for g in ot.param_groups]
    for gm, gt in zip(om.param_groups, ot.param_groups):
        assert {k: v for k, v in gm.items() if k != "params"} == {
            k: v for k, v in gt.items() if k != "params"
        }


def quadratic_loss(lib, params, x, y):
    w, b, s = params
    pred = lib.tensor(x) @ w + b[:3].sum() * s
    return ((pred - lib.tensor(y)) ** 2).mean() + 0.1 * (b * b).sum()


@pytest.mark.parametrize("name,options", [
    ("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.05)), ("AdamW", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, centered=True)), ("Adagrad", dict(lr=0.3)),
])
def test_training_loop_with_backward_and_zero_grad(name, options):
    """A real loop: loss in each library, backward, step, zero_grad; the loss must also fall."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    (pm, om), (pt, ot) = optimizer_pair(name, list, **options)
    losses = []
    for step in range(STEPS):
        for lib, params, opt in ((mg, pm, om), (torch, pt, ot)):
            opt.zero_grad()
            loss = quadratic_loss(lib, params, x, y)
            loss.backward()
            opt.step()
        losses.append(loss.item())
        assert_params_close(pm, pt, step, rtol=1e-4, atol=1e-5)
    assert losses[-1] < losses[0]
    om.zero_grad()
    assert all(p.grad is None for p in pm)


def test_step_with_closure_returns_the_loss():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    (pm, om), (pt, ot) = optimizer_pair("SGD", list, lr=0.1)
    for lib, params, opt in ((mg, pm, om), (torch, pt, ot)):
        def closure():
            opt.zero_grad()
            loss = quadratic_loss(lib, params, x, y)
            loss.backward()
            return loss
        with lib.no_grad():  # the closure still records its graph: step turns grad mode on
            returned = opt.step(closure)
        assert returned.item() > 0
    assert_params_close(pm, pt, 0)


def test_zero_grad_set_to_none_false_keeps_zero_arrays():
    p = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = mg.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = mg.tensor(np.ones(3, np.float32))
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and np.all(p.grad._data == 0)


def test_params_without_grad_are_skipped():
    """A parameter that got no gradient (or does not require one) keeps its value and gets no
    state, in both libraries."""
    arrays = initial_params()
    for lib in (mg, torch):
        params = make_params(lib, arrays)
        frozen = lib.tensor(np.ones(2, np.float32))  # requires_grad=False is allowed
        opt = lib.optim.Adam(params + [frozen], lr=0.1)
        params[0].grad = lib.tensor(np.ones((4, 3), np.float32))
        opt.step()
        assert not np.allclose(to_numpy(params[0]), arrays[0])
        np.testing.assert_array_equal(to_numpy(params[1]), arrays[1])
        np.testing.assert_array_equal(to_numpy(frozen), np.ones(2, np.float32))
        assert len(opt.state) == 1 and list(opt.state_dict()["state"]) == [0]


def test_step_bumps_the_version_so_stale_graphs_fail():
    p = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = mg.optim.SGD([p], lr=0.1)
    loss = (p * p).sum()  # saves p for backward
    p.grad = mg.tensor(np.ones(3, np.float32))
    before = p._version.value
    opt.step()
    assert p._version.value == before + 1
    with pytest.raises(RuntimeError, match="version"):
        loss.backward()


def test_add_param_group_matches_torch():
    arrays = initial_params()
    grads = gradient_sequence(20)
    sides = []
    for lib in (mg, torch):
        params = make_params(lib, arrays)
        opt = lib.optim.SGD(params[:2], lr=0.05, momentum=0.9)
        sides.append((params, opt))
    for step, gs in enumerate(grads):
        if step == 10:  # unfreeze the last parameter part way through, with its own lr
            for params, opt in sides:
                opt.add_param_group({"params": params[2], "lr": 0.5})
        for (params, opt), lib in zip(sides, (mg, torch)):
            for p, g in zip(params, gs):
                p.grad = lib.tensor(g.copy())
            opt.step()
        assert_params_close(sides[0][0], sides[1][0], step)
    assert sides[0][1].param_groups[1]["momentum"] == 0.9


# -- state_dict --------------------------------------------------------------------------------

STATE_CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
]


def two_groups(params):
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.003}]


@pytest.mark.parametrize("name,options", STATE_CASES)
def test_state_dict_layout_matches_torch(name, options):
    mg_side, torch_side = optimizer_pair(name, two_groups, **options)
    run_fixed_gradients(mg_side, torch_side, gradient_sequence(3))
    sm, st = mg_side[1].state_dict(), torch_side[1].state_dict()
    assert sm.keys() == st.keys() == {"state", "param_groups"}
    assert sm["state"].keys() == st["state"].keys()
    for index in st["state"]:
        assert sm["state"][index].keys() == st["state"][index].keys()
        for key, value in st["state"][index].items():
            assert isinstance(sm["state"][index][key], mg.Tensor)
            np.testing.assert_allclose(sm["state"][index][key]._data, value.numpy(), rtol=1e-5, atol=1e-7)
            assert sm["state"][index][key].dtype == value.numpy().dtype
    assert sm["param_groups"] == st["param_groups"]


def numpy_state_dict(state_dict):
    """A deep copy of a state_dict (from either library) with every tensor as a NumPy array."""
    def convert(v):
        if isinstance(v, torch.Tensor):
            return v.detach().numpy().copy()
        if isinstance(v, mg.Tensor):
            return v._data.copy()
        return v
    return {
        "state": {i: {k: convert(v) for k, v in s.items()} for i, s in state_dict["state"].items()},
        "param_groups": [dict(g) for g in state_dict["param_groups"]],
    }


@pytest.mark.parametrize("as_numpy", [False, True], ids=["tensors", "numpy"])
@pytest.mark.parametrize("name,options", STATE_CASES)
def test_state_dict_round_trip_continues_exactly(name, options, as_numpy):
    """Save after 10 steps, load into a fresh optimizer on copies of the parameters, run 10 more:
    the result equals 20 uninterrupted steps, bit for bit."""
    grads = gradient_sequence(20)
    arrays = initial_params()
    params = make_params(mg, arrays)
    opt = getattr(mg.optim, name)(two_groups(params), **options)
    for gs in grads[:10]:
        for p, g in zip(params, gs):
            p.grad = mg.tensor(g)
        opt.step()
    saved = opt.state_dict()
    if as_numpy:
        saved = numpy_state_dict(saved)
    resumed_params = make_params(mg, [p._data for p in params])
    resumed = getattr(mg.optim, name)(two_groups(resumed_params), lr=123.0)  # lr comes from the dict
    resumed.load_state_dict(saved)
    for gs in grads[10:]:
        for plist in (params, resumed_params):
            for p, g in zip(plist, gs):
                p.grad = mg.tensor(g)
        opt.step()
        resumed.step()
    for a, b in zip(params, resumed_params):
        np.testing.assert_array_equal(a._data, b._data)
    assert resumed.param_groups[1]["lr"] == 0.003
    assert resumed.param_groups[0]["params"][0] is resumed_params[0]


@pytest.mark.parametrize("name,options", STATE_CASES)
def test_loading_a_torch_state_dict_continues_like_torch(name, options):
    """torch's own checkpoint (as NumPy) loads into macrograd, and both continue identically."""
    grads = gradient_sequence(30)
    mg_side, torch_side = optimizer_pair(name, two_groups, **options)
    pt, ot = torch_side
    for gs in grads[:15]:
        for p, g in zip(pt, gs):
            p.grad = torch.tensor(g.copy())
        ot.step()
    pm = make_params(mg, [p.detach().numpy() for p in pt])
    om = getattr(mg.optim, name)(two_groups(pm), **options)
    om.load_state_dict(numpy_state_dict(ot.state_dict()))
    run_fixed_gradients((pm, om), (pt, ot), grads[15:])


def test_load_state_dict_errors():
    params = make_params(mg, initial_params())
    opt = mg.optim.Adam(two_groups(params))
    saved = opt.state_dict()
    single = mg.optim.Adam(params)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        single.load_state_dict(saved)
    other = mg.optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    with pytest.raises(ValueError, match="doesn't match the size"):
        other.load_state_dict(saved)


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs,message", [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    ("Adam", dict(lr=-0.01), "Invalid learning rate: -0.01"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("AdamW", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("RMSprop", dict(alpha=-0.5), "Invalid alpha value: -0.5"),
    ("RMSprop", dict(momentum=-1.0), "Invalid momentum value: -1.0"),
    ("Adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value: -1.0"),
])
def test_invalid_options_raise_like_torch(name, kwargs, message):
    for lib in (mg, torch):
        p = lib.tensor(np.ones(2, np.float32), requires_grad=True)
        with pytest.raises(ValueError, match=message):
            getattr(lib.optim, name)([p], **kwargs)


def test_invalid_group_option_is_caught_too():
    p, q = (mg.tensor(np.ones(2, np.float32), requires_grad=True) for _ in range(2))
    with pytest.raises(ValueError, match="Invalid learning rate: -0.5"):
        mg.optim.SGD([{"params": [p]}, {"params": [q], "lr": -0.5}], lr=0.1)


def test_parameter_errors_match_torch():
    for lib in (mg, torch):
        p = lib.tensor(np.ones(2, np.float32), requires_grad=True)
        with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
            lib.optim.SGD([], lr=0.1)
        with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
            lib.optim.SGD(p, lr=0.1)
        with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
            lib.optim.SGD([p, 3.0], lr=0.1)
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            lib.optim.SGD([p * 2], lr=0.1)
        with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
            lib.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
        with pytest.raises(TypeError, match="ordered collections"):
            lib.optim.SGD([{"params": {p}}], lr=0.1)
        with pytest.raises(TypeError, match="param_group must be a dict"):
            lib.optim.SGD([p], lr=0.1).add_param_group([p])


def test_named_parameters_keep_their_names():
    arrays = initial_params()
    sides = []
    for lib in (mg, torch):
        params = make_params(lib, arrays)
        opt = lib.optim.Adam([("w", params[0]), ("b", params[1])], lr=0.1)
        sides.append(opt.state_dict()["param_groups"][0]["param_names"])
    assert sides[0] == sides[1] == ["w", "b"]


def test_differentiable_is_refused():
    p = mg.tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(NotImplementedError, match="Adam: differentiable=True is not supported"):
        mg.optim.Adam([p], differentiable=True)


def test_repr_lists_groups():
    p = mg.tensor(np.ones(2, np.float32), requires_grad=True)
    text = repr(mg.optim.SGD([p], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


def test_float64_parameters_keep_float64_state():
    p = mg.tensor(np.ones(3), dtype=mg.float64, requires_grad=True)
    opt = mg.optim.Adam([p], lr=0.1)
    p.grad = mg.tensor(np.full(3, 0.5), dtype=mg.float64)
    opt.step()
    assert p.dtype == np.float64 and opt.state[p]["exp_avg"].dtype == np.float64
    assert opt.state_dict()["state"][0]["step"].dtype == np.float32


def test_tensor_lr_is_refused_clearly():
    p = mg.tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="lr as a Tensor is not supported in macrograd; pass a float"):
        mg.optim.SGD([p], lr=mg.tensor(0.1))
