"""Shared by the generative-model tests: copy weights into a torch twin and compare tensors."""
import numpy as np
import torch


def load_into_twin(model, twin):
    """Copy macrograd's state_dict (parameters and buffers) into the torch twin."""
    twin.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in model.state_dict().items()})


def assert_close(ours, theirs, tol=1e-4, what="output"):
    ours = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=what)


def assert_grads_match(model, twin, tol=2e-4, what=""):
    twin_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{what}: no grad for {name}"
        assert_close(p.grad, twin_params[name].grad, tol=tol, what=f"{what} grad of {name}")


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
