"""mg.optim.lr_scheduler against torch.optim.lr_scheduler: the same optimizer config, the same
calls, the same learning rates (and momenta) at every one of 60 steps, exactly.

The schedules are pure Python float arithmetic written in PyTorch's order, so they must agree
to the last bit; state_dict round trips must resume the same sequence."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import macrograd as mg
import macrograd.optim  # noqa: F401  (mg.optim)

STEPS = 60


def make_optimizer(lib, name="SGD", **options):
    """Two param groups with different lrs, so per-group handling is always exercised."""
    w = lib.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    b = lib.tensor(np.zeros(2, np.float32), requires_grad=True)
    if name == "SGD":
        options.setdefault("momentum", 0.9)
    return getattr(lib.optim, name)([{"params": [w]}, {"params": [b], "lr": 0.03}], lr=0.1, **options)


def lr_sched(lib):
    return lib.optim.lr_scheduler


def record(opt, sched, steps=STEPS, metrics=None, step_args=None):
    """Run optimizer.step(); scheduler.step() and record every group's lr and momentum."""
    trace = [snapshot(opt, sched)]
    for i in range(steps):
        opt.step()
        if metrics is not None:
            sched.step(metrics[i])
        elif step_args is not None:
            sched.step(step_args(i))
        else:
            sched.step()
        trace.append(snapshot(opt, sched))
    return trace


def snapshot(opt, sched):
    groups = opt.param_groups
    return (
        [g["lr"] for g in groups],
        list(sched.get_last_lr()),
        [g.get("momentum") for g in groups],
        [tuple(g["betas"]) if "betas" in g else None for g in groups],
    )


def assert_same_trace(mg_trace, torch_trace):
    assert len(mg_trace) == len(torch_trace)
    for step, (a, b) in enumerate(zip(mg_trace, torch_trace)):
        assert a == b, f"step {step}: macrograd {a} != torch {b}"


SCHEDULERS = {
    "StepLR": lambda L, opt: L.StepLR(opt, step_size=7, gamma=0.5),
    "MultiStepLR": lambda L, opt: L.MultiStepLR(opt, milestones=[5, 12, 12, 30], gamma=0.3),
    "ExponentialLR": lambda L, opt: L.ExponentialLR(opt, gamma=0.95),
    "CosineAnnealingLR": lambda L, opt: L.CosineAnnealingLR(opt, T_max=20, eta_min=0.001),
    "CosineAnnealingLR-short": lambda L, opt: L.CosineAnnealingLR(opt, T_max=7),
    "LambdaLR": lambda L, opt: L.LambdaLR(opt, lambda e: 0.9**e),
    "LambdaLR-per-group": lambda L, opt: L.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.97**e]),
    "MultiplicativeLR": lambda L, opt: L.MultiplicativeLR(opt, lambda e: 0.95),
    "LinearLR": lambda L, opt: L.LinearLR(opt, start_factor=0.25, end_factor=0.9, total_iters=10),
    "LinearLR-default": lambda L, opt: L.LinearLR(opt),
    "ConstantLR": lambda L, opt: L.ConstantLR(opt, factor=0.5, total_iters=4),
    "PolynomialLR": lambda L, opt: L.PolynomialLR(opt, total_iters=20, power=2.0),
    "SequentialLR-warmup-cosine": lambda L, opt: L.SequentialLR(
        opt, [L.LinearLR(opt, start_factor=0.1, total_iters=5), L.CosineAnnealingLR(opt, T_max=30)],
        milestones=[5],
    ),
    "SequentialLR-three": lambda L, opt: L.SequentialLR(
        opt, [L.ConstantLR(opt, factor=0.5, total_iters=2), L.ExponentialLR(opt, gamma=0.9),
              L.StepLR(opt, step_size=5, gamma=0.5)],
        milestones=[3, 10],
    ),
    "ChainedScheduler": lambda L, opt: L.ChainedScheduler(
        [L.ExponentialLR(opt, gamma=0.97), L.StepLR(opt, step_size=9, gamma=0.5)]
    ),
    "CosineAnnealingWarmRestarts": lambda L, opt: L.CosineAnnealingWarmRestarts(opt, T_0=5, T_mult=2, eta_min=1e-4),
    "CosineAnnealingWarmRestarts-T_mult1": lambda L, opt: L.CosineAnnealingWarmRestarts(opt, T_0=8),
    "OneCycleLR": lambda L, opt: L.OneCycleLR(opt, max_lr=[0.5, 0.2], total_steps=STEPS),
    "OneCycleLR-linear-3phase": lambda L, opt: L.OneCycleLR(
        opt, max_lr=1.0, epochs=6, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9,
    ),
    "OneCycleLR-no-momentum": lambda L, opt: L.OneCycleLR(opt, max_lr=0.3, total_steps=STEPS, cycle_momentum=False),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_lr_sequence_matches_torch(name):
    traces = []
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        traces.append(record(opt, SCHEDULERS[name](lr_sched(lib), opt)))
    assert_same_trace(*traces)
    # the schedule really moves the lr (a constant trace would make this test vacuous)
    assert len({t[0][0] for t in traces[0]}) >= 2


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_cycles_adam_beta1(three_phase):
    traces = []
    for lib in (mg, torch):
        opt = make_optimizer(lib, "Adam", betas=(0.9, 0.99))
        sched = lr_sched(lib).OneCycleLR(opt, max_lr=0.01, total_steps=STEPS, three_phase=three_phase)
        traces.append(record(opt, sched))
    assert_same_trace(*traces)
    beta1s = [t[3][0][0] for t in traces[0]]
    assert min(beta1s) == pytest.approx(0.85) and max(beta1s) == pytest.approx(0.95)
    assert all(t[3][0][1] == 0.99 for t in traces[0])


def test_one_cycle_momentum_actually_drives_the_optimizer():
    """The momentum OneCycleLR writes into the group is the one SGD uses: parameters agree."""
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((STEPS, 2, 2)).astype(np.float32)
    params = []
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        sched = lr_sched(lib).OneCycleLR(opt, max_lr=0.5, total_steps=STEPS)
        w = opt.param_groups[0]["params"][0]
        for g in grads:
            w.grad = lib.tensor(g.copy())
            opt.step()
            sched.step()
        params.append(w.detach().numpy() if lib is torch else w._data)
    np.testing.assert_allclose(params[0], params[1], rtol=1e-5, atol=1e-6)


def test_cosine_warm_restarts_with_fractional_epochs():
    """Stepping per batch with epoch + i / iters uses the closed-form branch of step(epoch)."""
    iters = 4
    traces = []
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        sched = lr_sched(lib).CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traces.append(record(opt, sched, steps=40, step_args=lambda i: i // iters + (i % iters) / iters))
    assert_same_trace(*traces)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
                                  "ConstantLR", "PolynomialLR"])
def test_step_with_epoch_uses_the_closed_form(name):
    epochs = [3, 1, 17, 8, 8, 40, 25]
    traces = []
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        sched = SCHEDULERS[name](lr_sched(lib), opt)
        with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
            traces.append(record(opt, sched, steps=len(epochs), step_args=lambda i: epochs[i]))
    assert_same_trace(*traces)


PLATEAU_CASES = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(factor=0.5, patience=1, threshold=0.1, threshold_mode="abs", cooldown=3),
    dict(factor=0.2, patience=0, min_lr=[1e-3, 5e-3]),
    dict(mode="max", factor=0.5, patience=3, threshold=0.05, threshold_mode="rel", cooldown=1, min_lr=1e-3),
    dict(factor=0.9, patience=0, eps=1e-2),  # tiny reductions are skipped
]


@pytest.mark.parametrize("options", PLATEAU_CASES)
def test_reduce_lr_on_plateau_matches_torch(options):
    """A noisy metric that improves, plateaus, improves a little (within threshold), and rises."""
    rng = np.random.default_rng(5)
    metric = np.concatenate([
        np.linspace(1.0, 0.5, 10), np.full(15, 0.5), 0.5 - np.linspace(0, 0.02, 10),
        np.linspace(0.48, 0.9, 10), np.full(15, 0.7),
    ]) + 0.01 * rng.standard_normal(60)
    metric = [float(m) for m in metric]
    traces = []
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        sched = lr_sched(lib).ReduceLROnPlateau(opt, **options)
        traces.append(record(opt, sched, metrics=metric))
    assert_same_trace(*traces)
    assert len({t[0][0] for t in traces[0]}) >= 2 or options.get("eps") == 1e-2


def test_reduce_lr_on_plateau_takes_a_tensor_metric():
    opt = make_optimizer(mg)
    sched = mg.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    sched.step(mg.tensor(1.0))
    sched.step(mg.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.003])


# -- state_dict --------------------------------------------------------------------------------

ROUND_TRIP = sorted(set(SCHEDULERS) - {"LambdaLR", "LambdaLR-per-group", "MultiplicativeLR"}) + ["ReduceLROnPlateau"]


def build(lib, name, opt):
    if name == "ReduceLROnPlateau":
        return lr_sched(lib).ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1)
    return SCHEDULERS[name](lr_sched(lib), opt)


def plateau_metric(i):
    return 1.0 / (1 + min(i, 8))


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip_resumes_the_schedule(name):
    """Save optimizer and scheduler after 20 steps; rebuild both, load, run 20 more: the lrs
    equal an uninterrupted run of 40."""
    def advance(opt, sched, i):
        opt.step()
        sched.step(plateau_metric(i)) if name == "ReduceLROnPlateau" else sched.step()

    opt = make_optimizer(mg)
    sched = build(mg, name, opt)
    for i in range(20):
        advance(opt, sched, i)
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    resumed_opt = make_optimizer(mg)
    resumed = build(mg, name, resumed_opt)
    resumed_opt.load_state_dict(opt_state)
    resumed.load_state_dict(sched_state)
    for i in range(20, 40):
        advance(opt, sched, i)
        advance(resumed_opt, resumed, i)
        assert resumed.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in opt.param_groups]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_keys_match_torch(name):
    dicts = []
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        sched = build(lib, name, opt)
        opt.step()
        sched.step(0.5) if name == "ReduceLROnPlateau" else sched.step()
        dicts.append(sched.state_dict())
    assert set(dicts[0]) == set(dicts[1])
    for key in ("last_epoch", "base_lrs", "_last_lr", "best", "num_bad_epochs", "T_cur", "total_steps"):
        if key in dicts[1]:
            assert dicts[0][key] == dicts[1][key], key


def test_lambda_lr_state_dict_saves_callable_objects_not_functions():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate**epoch

    opt = make_optimizer(mg)
    sched = mg.optim.lr_scheduler.LambdaLR(opt, [lambda e: 1.0, Decay(0.5)])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"rate": 0.5}]
    other = mg.optim.lr_scheduler.LambdaLR(make_optimizer(mg), [lambda e: 1.0, Decay(0.9)])
    other.load_state_dict(state)
    assert other.lr_lambdas[1].rate == 0.5


def test_scheduler_sets_initial_lr_and_base_lrs():
    opt = make_optimizer(mg)
    sched = mg.optim.lr_scheduler.StepLR(opt, step_size=2)
    assert sched.base_lrs == [0.1, 0.03]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.03]
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1, 0.03]


def test_resuming_with_last_epoch_needs_initial_lr():
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
            lr_sched(lib).StepLR(opt, step_size=2, last_epoch=3)


def test_resuming_with_last_epoch_matches_torch():
    traces = []
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        traces.append(record(opt, lr_sched(lib).CosineAnnealingLR(opt, T_max=25, last_epoch=9), steps=30))
    assert_same_trace(*traces)


# -- warnings and errors -----------------------------------------------------------------------

def test_warns_when_scheduler_steps_before_optimizer():
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        sched = lr_sched(lib).StepLR(opt, step_size=2)
        with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
            sched.step()


def test_no_warning_in_the_right_order():
    opt = make_optimizer(mg)
    sched = mg.optim.lr_scheduler.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()


def test_get_lr_outside_step_warns():
    for lib in (mg, torch):
        sched = lr_sched(lib).StepLR(make_optimizer(lib), step_size=2)
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched.get_lr()


@pytest.mark.parametrize("build_bad,error,message", [
    (lambda L, opt: L.LinearLR(opt, start_factor=0), ValueError, "Starting multiplicative factor expected to be greater than 0"),
    (lambda L, opt: L.LinearLR(opt, end_factor=1.5), ValueError, "Ending multiplicative factor expected to be between 0 and 1"),
    (lambda L, opt: L.ConstantLR(opt, factor=2.0), ValueError, "Constant multiplicative factor expected to be between 0 and 1"),
    (lambda L, opt: L.ReduceLROnPlateau(opt, factor=1.0), ValueError, "Factor should be < 1.0."),
    (lambda L, opt: L.ReduceLROnPlateau(opt, mode="median"), ValueError, "mode median is unknown!"),
    (lambda L, opt: L.ReduceLROnPlateau(opt, threshold_mode="log"), ValueError, "threshold mode log is unknown!"),
    (lambda L, opt: L.ReduceLROnPlateau(opt, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
    (lambda L, opt: L.LambdaLR(opt, [lambda e: 1.0] * 3), ValueError, "Expected 2 lr_lambdas, but got 3"),
    (lambda L, opt: L.OneCycleLR(opt, max_lr=0.1), ValueError, "You must define either total_steps OR"),
    (lambda L, opt: L.OneCycleLR(opt, max_lr=0.1, total_steps=0), ValueError, "Expected positive integer total_steps, but got 0"),
    (lambda L, opt: L.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5), ValueError, "Expected float between 0 and 1 pct_start"),
    (lambda L, opt: L.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp"), ValueError, "anneal_strategy must be one of 'cos' or 'linear'"),
    (lambda L, opt: L.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10), ValueError, "max_lr must have the same length as optimizer.param_groups"),
    (lambda L, opt: L.CosineAnnealingWarmRestarts(opt, T_0=0), ValueError, "Expected positive integer T_0, but got 0"),
    (lambda L, opt: L.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0), ValueError, "Expected integer T_mult >= 1, but got 0"),
    (lambda L, opt: L.SequentialLR(opt, [L.StepLR(opt, 2), L.StepLR(opt, 3)], milestones=[]), ValueError,
     "expects number of schedulers provided to be one more than the number of milestone points"),
    (lambda L, opt: L.SequentialLR(opt, [L.ReduceLROnPlateau(opt)], milestones=[]), ValueError,
     "does not support `ReduceLROnPlateau`"),
    (lambda L, opt: L.StepLR("not an optimizer", step_size=2), TypeError, "str is not an Optimizer"),
])
def test_errors_match_torch(build_bad, error, message):
    for lib in (mg, torch):
        opt = make_optimizer(lib)
        with pytest.raises(error, match=message):
            build_bad(lr_sched(lib), opt)


def test_one_cycle_refuses_optimizers_without_momentum_and_too_many_steps():
    for lib in (mg, torch):
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            lr_sched(lib).OneCycleLR(make_optimizer(lib, "Adagrad"), max_lr=0.1, total_steps=5)
        opt = make_optimizer(lib)
        sched = lr_sched(lib).OneCycleLR(opt, max_lr=0.1, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
            sched.step()


def test_sequential_warmup_then_cosine_has_the_expected_shape():
    opt = make_optimizer(mg)
    L = mg.optim.lr_scheduler
    sched = L.SequentialLR(opt, [L.LinearLR(opt, start_factor=0.1, total_iters=5),
                                 L.CosineAnnealingLR(opt, T_max=10)], milestones=[5])
    lrs = [r[0][0] for r in record(opt, sched, steps=15)]
    assert lrs[0] == pytest.approx(0.01) and lrs[5] == pytest.approx(0.1)
    assert lrs[15] == pytest.approx(0.0, abs=1e-12)
    assert lrs[10] == pytest.approx(0.1 * (1 + math.cos(math.pi / 2)) / 2)
