"""The scaling-law fitting code on points drawn from a known law, the compute frontier on hand-made
points, and the non-embedding parameter count of a GPT against a count by hand."""
import numpy as np
import pytest

from macrograd.experiments.scaling_fit import (compute_frontier, count_non_embedding_params, fit_power_law,
                                                fit_pure_power_law, power_law, training_compute)


@pytest.mark.parametrize("alpha, x_c, l_inf, seed", [(0.15, 2e6, 1.0, 0), (0.34, 4e5, 1.2, 1), (0.6, 2e4, 0.9, 2)])
def test_fit_recovers_known_law(alpha, x_c, l_inf, seed):
    rng = np.random.default_rng(seed)
    n = np.logspace(4, 7, 12)
    clean = power_law(n, alpha, x_c, l_inf)
    noisy = clean * np.exp(rng.normal(0.0, 0.003, size=n.shape))  # 0.3% multiplicative noise
    fit = fit_power_law(n, noisy)
    assert fit["alpha_ci"][0] <= alpha <= fit["alpha_ci"][1], fit
    assert fit["l_inf_ci"][0] <= l_inf <= fit["l_inf_ci"][1], fit
    assert fit["alpha"] == pytest.approx(alpha, rel=0.25)
    assert fit["l_inf"] == pytest.approx(l_inf, abs=0.15)
    assert fit["n_points"] == 12 and fit["rms_log_residual"] < 0.01


def test_fit_exact_points_is_exact():
    n = np.logspace(3, 6, 8)
    fit = fit_power_law(n, power_law(n, 0.3, 1e5, 1.5))
    assert fit["alpha"] == pytest.approx(0.3, rel=1e-4)
    assert fit["x_c"] == pytest.approx(1e5, rel=1e-3)
    assert fit["l_inf"] == pytest.approx(1.5, rel=1e-4)


def test_ci_narrows_with_less_noise():
    n = np.logspace(4, 7, 10)
    clean = power_law(n, 0.3, 3e4, 1.0)
    widths = []
    for scale in (0.02, 0.002):
        noisy = clean * np.exp(np.random.default_rng(3).normal(0.0, scale, size=n.shape))
        lo, hi = fit_power_law(n, noisy)["alpha_ci"]
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 3


def test_fit_errors():
    with pytest.raises(ValueError, match="fit_power_law: need at least 4 points"):
        fit_power_law([1, 2, 3], [3, 2, 1])
    with pytest.raises(ValueError, match="fit_power_law: x and losses must be 1-D of the same length"):
        fit_power_law([1, 2, 3, 4], [3, 2, 1])
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3, 0], [3, 2, 1, 1])


def test_compute_frontier_hand_made():
    computes = [10.0, 1.0, 5.0, 20.0, 2.0]
    losses = [2.0, 3.0, 2.5, 2.2, 3.5]
    frontier = compute_frontier(computes, losses)
    assert frontier == [(1.0, 3.0, 1), (2.0, 3.0, 1), (5.0, 2.5, 2), (10.0, 2.0, 0), (20.0, 2.0, 0)]
    with pytest.raises(ValueError, match="compute_frontier"):
        compute_frontier([1.0, 2.0], [1.0])
    assert training_compute(1000, 64) == 6 * 1000 * 64


def test_compute_frontier_gives_one_entry_per_budget():
    """A data sweep trains one model for the same steps: many runs, one compute budget."""
    frontier = compute_frontier([4.0, 4.0, 1.0, 4.0], [2.6, 2.3, 3.0, 2.4])
    assert frontier == [(1.0, 3.0, 2), (4.0, 2.3, 1)]


@pytest.mark.parametrize("alpha, x_c, seed", [(0.076, 8.8e13, 0), (0.3, 1e5, 1)])
def test_pure_power_law_recovers_known_law(alpha, x_c, seed):
    n = np.logspace(4, 7, 8)
    noisy = power_law(n, alpha, x_c, 0.0) * np.exp(np.random.default_rng(seed).normal(0.0, 0.003, size=n.shape))
    fit = fit_pure_power_law(n, noisy)
    assert fit["alpha_ci"][0] <= alpha <= fit["alpha_ci"][1], fit
    assert fit["alpha"] == pytest.approx(alpha, rel=0.1) and fit["l_inf"] == 0.0
    exact = fit_pure_power_law(n, power_law(n, alpha, x_c, 0.0))
    assert exact["alpha"] == pytest.approx(alpha, rel=1e-9) and exact["x_c"] == pytest.approx(x_c, rel=1e-6)
    with pytest.raises(ValueError, match="fit_pure_power_law: need at least 3 points"):
        fit_pure_power_law([1.0, 2.0], [2.0, 1.0])


@pytest.mark.parametrize("n_layer, n_embd, bias", [(1, 16, True), (2, 8, False), (3, 12, True)])
def test_count_non_embedding_params_by_hand(n_layer, n_embd, bias):
    from macrograd.models.gpt import GPT, GPTConfig

    model = GPT(GPTConfig(block_size=8, vocab_size=11, n_layer=n_layer, n_head=2, n_embd=n_embd, bias=bias))
    c = n_embd
    b = 1 if bias else 0
    # per block: ln_1, ln_2 (C weights + C biases each), c_attn (3C^2 + 3C), attn c_proj (C^2 + C),
    # c_fc (4C^2 + 4C), mlp c_proj (4C^2 + C); then ln_f; no wte (tied lm_head) and no wpe
    per_block = 2 * (c + b * c) + (3 * c * c + b * 3 * c) + (c * c + b * c) + (4 * c * c + b * 4 * c) + (4 * c * c + b * c)
    expected = n_layer * per_block + (c + b * c)
    assert count_non_embedding_params(model) == expected
    # nanoGPT's count keeps the token table (it is also the output layer)
    assert model.get_num_params() == expected + 11 * c
