"""Measuring generative models with a macrograd classifier trained on the same data.

- Frechet distance: fit a Gaussian to the classifier's penultimate features of real and of
  generated images and compute  d^2 = |mu_r - mu_g|^2 + tr(C_r + C_g - 2 (C_r^1/2 C_g C_r^1/2)^1/2).
  This is the formula of the FID (Heusel et al., 2017), but on the 84 features of a LeNet-5
  trained on MNIST (or the emoji), *not* on Inception-v3's 2048 ImageNet features: its values are
  comparable only with each other, never with published FIDs.
- Class agreement: the share of class-conditional samples that the classifier assigns to the
  class they were asked for.

The classifier is trained once per dataset and cached as a .safetensors file next to the runs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix by eigendecomposition:
    A = V diag(w) V^T -> A^1/2 = V diag(sqrt(max(w, 0))) V^T (tiny negative eigenvalues are round-off)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"sqrtm_psd: expected a square matrix, got shape {matrix.shape}")
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of (N, D) features in float64 (the covariance with N - 1)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"gaussian_stats: expected (N >= 2, D) features, got shape {features.shape}")
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """d^2 between N(mu1, cov1) and N(mu2, cov2): |mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1^1/2 cov2 cov1^1/2)^1/2).
    (cov1^1/2 cov2 cov1^1/2 is symmetric PSD, so its root comes from eigh; its trace equals that
    of (cov1 cov2)^1/2.)"""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    if mu1.shape != mu2.shape or np.shape(cov1) != np.shape(cov2):
        raise ValueError(f"frechet_distance: shapes differ: mu {mu1.shape} vs {mu2.shape}, "
                         f"cov {np.shape(cov1)} vs {np.shape(cov2)}")
    root1 = sqrtm_psd(cov1)
    cross = sqrtm_psd(root1 @ np.asarray(cov2, np.float64) @ root1)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(cross))


# -- the classifier ---------------------------------------------------------------------------------
def make_classifier(in_channels: int = 1, image_size: int = 28, num_classes: int = 10):
    from ..models import lenet5

    return lenet5(num_classes=num_classes, in_channels=in_channels, image_size=image_size, activation="relu")


def classifier_features(model, images, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features (N, 84), logits (N, classes)) of images (N, C, H, W) in [0, 1]."""
    from ..autograd import no_grad
    from ..creation import tensor

    model.eval()
    feats, logits = [], []
    with no_grad():
        for start in range(0, len(images), batch_size):
            x = tensor(np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32))
            x = model.pool1(model.act1(model.conv1(x)))
            x = model.pool2(model.act2(model.conv2(x)))
            x = model.act4(model.fc2(model.act3(model.fc1(x.flatten(1)))))
            feats.append(x.numpy())
            logits.append(model.fc3(x).numpy())
    return np.concatenate(feats), np.concatenate(logits)


def train_classifier(images, labels, num_classes: int, epochs: int = 2, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0):
    """LeNet-5 (ReLU) by Adam on images in [0, 1]; returns the model."""
    from .. import backend, optim
    from ..creation import tensor
    from ..nn import functional as F

    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = make_classifier(images.shape[1], images.shape[2], num_classes)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(images))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(tensor(images[idx])), tensor(labels[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def cached_classifier(path, images, labels, num_classes: int, epochs: int = 2, test_images=None, test_labels=None):
    """The classifier stored at `path`, or a new one trained on (images, labels) and stored there.
    Returns (model, test accuracy or None)."""
    from ..io import load, save

    path = Path(path)
    model = make_classifier(images.shape[1], images.shape[2], num_classes)
    if path.exists():
        model.load_state_dict(load(path))
    else:
        print(f"training the evaluation classifier ({epochs} epochs) -> {path}")
        model = train_classifier(images, labels, num_classes, epochs)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(model.state_dict(), path)
    accuracy = None
    if test_images is not None:
        _, logits = classifier_features(model, test_images)
        accuracy = float((logits.argmax(1) == test_labels).mean())
    return model, accuracy


class Evaluator:
    """Real-data feature statistics once; then frechet(samples) and agreement(samples, classes)."""

    def __init__(self, classifier, real_images):
        self.classifier = classifier
        self.real_mu, self.real_cov = gaussian_stats(classifier_features(classifier, real_images)[0])

    def frechet(self, samples) -> float:
        mu, cov = gaussian_stats(classifier_features(self.classifier, samples)[0])
        return frechet_distance(self.real_mu, self.real_cov, mu, cov)

    def agreement(self, samples, requested) -> float:
        """Share of samples classified as the class requested for them."""
        _, logits = classifier_features(self.classifier, samples)
        return float((logits.argmax(1) == np.asarray(requested)).mean())

    def predict(self, samples) -> np.ndarray:
        return classifier_features(self.classifier, samples)[1].argmax(1)


def mnist_evaluator(name: str, cache_dir, train_subset: int = 0, test_subset: int = 0, epochs: int = 2,
                    reference: int = 10000):
    """(Evaluator on `reference` test images of "mnist"/"fashion-mnist", classifier test accuracy);
    the classifier is cached in cache_dir (one per dataset and training subset)."""
    from .generative_common import mnist_images

    x, y, _ = mnist_images(name, True, train_subset)
    x_test, y_test, _ = mnist_images(name, False, test_subset)
    tag = f"-{train_subset}" if train_subset else ""
    model, accuracy = cached_classifier(Path(cache_dir) / f"classifier-{name}{tag}.safetensors", x, y, 10, epochs,
                                        x_test, y_test)
    return Evaluator(model, x_test[:reference]), accuracy
