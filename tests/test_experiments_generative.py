"""The generative experiments' --smoke runs (the same code as the full runs on a budget of
seconds) and the Frechet distance against its definition."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

from macrograd.experiments import ddpm, gan, generative_compare, vae
from macrograd.experiments.config import apply_overrides
from macrograd.experiments.generative_metrics import frechet_distance, gaussian_stats, sqrtm_psd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


# -- the Frechet distance --------------------------------------------------------------------------
def test_sqrtm_psd_squares_back_and_matches_scipy():
    a = np.random.default_rng(0).standard_normal((6, 4))
    cov = a @ a.T  # PSD of rank 4: two zero eigenvalues (round-off may make them slightly negative)
    root = sqrtm_psd(cov)
    np.testing.assert_allclose(root @ root, cov, atol=1e-10)
    np.testing.assert_allclose(root, root.T)
    full = cov + np.eye(6)
    np.testing.assert_allclose(sqrtm_psd(full), scipy.linalg.sqrtm(full).real, atol=1e-10)
    with pytest.raises(ValueError, match=r"sqrtm_psd: expected a square matrix, got shape \(2, 3\)"):
        sqrtm_psd(np.ones((2, 3)))


def test_frechet_distance_against_definition():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((200, 5)), rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5)) + 0.5
    m1, c1 = gaussian_stats(x)
    m2, c2 = gaussian_stats(y)
    np.testing.assert_allclose(m1, x.mean(0))
    np.testing.assert_allclose(c1, np.cov(x.T))
    reference = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-8)
    # diagonal covariances: sum of (mu1 - mu2)^2 + (s1 - s2)^2
    d = frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([9.0, 1.0]))
    assert d == pytest.approx(2 + (1 - 3) ** 2 + (2 - 1) ** 2)
    with pytest.raises(ValueError, match="frechet_distance: shapes differ"):
        frechet_distance(m1, c1, m1[:3], c1[:3, :3])
    with pytest.raises(ValueError, match="gaussian_stats: expected"):
        gaussian_stats(np.ones(5))


# -- smoke runs ------------------------------------------------------------------------------------
def smoke(module, out, **extra):
    config = apply_overrides(module.Config(), {**module.SMOKE, **extra})
    return module.run(config, out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One smoke run of each model (on the shipped MNIST sample), shared by the tests below."""
    root = tmp_path_factory.mktemp("generative")
    saved = os.environ.pop("MACROGRAD_DATA", None)  # the shipped sample: the same for every machine
    try:
        summaries = {"vae": smoke(vae, root / "vae"), "gan": smoke(gan, root / "gan", sample_every=0),
                     "ddpm": smoke(ddpm, root / "ddpm")}
    finally:
        if saved is not None:
            os.environ["MACROGRAD_DATA"] = saved
    return root, summaries


def test_vae_smoke(runs):
    root, summaries = runs
    s = summaries["vae"]
    assert s["test_nelbo"] == pytest.approx(s["test_recon_nll"] + s["test_kl"])
    assert 0 < s["test_nelbo"] < 28 * 28 * np.log(2) + 50  # about a coin flip per pixel after a few steps
    for name in ("reconstructions.png", "samples.png", "interpolations.png", "manifold.png", "curves.png",
                 "model.safetensors", "summary.json", "metrics.jsonl"):
        assert (root / "vae" / name).exists(), name
    assert json.loads((root / "vae" / "summary.json").read_text())["latent_dim"] == 20


def test_gan_smoke(runs):
    root, summaries = runs
    s = summaries["gan"]
    assert s["steps"] == 4 and np.isfinite(s["frechet_distance"]) and s["frechet_distance"] >= 0
    assert sum(s["predicted_class_shares"]) == pytest.approx(1.0, abs=1e-3)
    records = [json.loads(line) for line in (root / "gan" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(records[0])
    assert (root / "gan" / "samples_epoch01.png").exists() and (root / "gan" / "curves.png").exists()


def test_ddpm_smoke(runs):
    root, summaries = runs
    s = summaries["ddpm"]
    assert s["steps"] == 3 and s["image_size"] == 14
    for key in ("class_agreement", "class_agreement_no_guidance"):
        assert 0 <= s[key] <= 1
    assert (root / "ddpm" / "samples.png").exists() and (root / "ddpm" / "ema.safetensors").exists()


def test_generative_compare_smoke_from_run_folders(runs):
    root, _ = runs
    saved = os.environ.pop("MACROGRAD_DATA", None)
    try:
        s = smoke(generative_compare, root / "compare", vae_run=str(root / "vae"), gan_run=str(root / "gan"),
                  ddpm_run=str(root / "ddpm"), classifier_dir=str(root))
    finally:
        if saved is not None:
            os.environ["MACROGRAD_DATA"] = saved
    # the three models, real images (the floor for n samples) and real images at the DDPM's 14x14
    assert set(s["models"]) == {"VAE", "DCGAN", "DDPM", "real training images", "real, 14x14 and back"}
    assert "class_agreement" in s["models"]["DDPM"] and s["models"]["VAE"]["test_nelbo"] > 0
    table = (root / "compare" / "compare.md").read_text()
    assert table.count("\n") == 7 and "n/a (unconditional)" in table
    assert (root / "compare" / "compare.png").exists()


def test_ddpm_emoji_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("MACROGRAD_DATA", str(SHARED))
    s = smoke(ddpm, tmp_path / "emoji", dataset="emoji", image_size=16, emoji_classifier_epochs=1)
    assert s["dataset"] == "emoji" and 0 <= s["food_agreement"] <= 1
    assert (tmp_path / "emoji" / "hotdogs.png").exists()


def test_bad_configs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="vae: likelihood must be one of"):
        smoke(vae, tmp_path / "v", likelihood="laplace")
    with pytest.raises(ValueError, match="gan: dataset must be one of"):
        smoke(gan, tmp_path / "g", dataset="cifar10")
    with pytest.raises(ValueError, match="ddpm: dataset must be one of"):
        smoke(ddpm, tmp_path / "d", dataset="cifar10")
