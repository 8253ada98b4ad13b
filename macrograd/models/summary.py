"""Model size and cost: `count_parameters`, `flops` (multiply-accumulates) and a torchinfo-like
`summary` table, all measured by running one forward pass with forward hooks.

    summary(lenet5(), (1, 1, 28, 28))     # layer, output shape, params; totals and MACs
    flops(lenet5(), (1, 1, 28, 28))       # 416,520 multiply-accumulates

They accept any module with PyTorch's Module API (macrograd's or torch's).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field


def count_parameters(model, trainable_only: bool = False) -> int:
    """The number of scalars in model.parameters() (only those with requires_grad if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _module_macs(module, inputs, output) -> int:
    """Multiply-accumulates of one call of a conv or linear layer (bias additions not counted).

    conv:           out.numel() * (C_in / groups) * prod(kernel)   (each output: one dot product)
    conv transpose: in.numel()  * (C_out / groups) * prod(kernel)  (each input: scattered once)
    linear:         out.numel() * in_features
    """
    name = type(module).__name__
    if name in ("Conv1d", "Conv2d", "Conv3d"):
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        return output.numel() * (module.in_channels // module.groups) * kernel
    if name in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        return inputs[0].numel() * (module.out_channels // module.groups) * kernel
    if name == "Linear":
        return output.numel() * module.in_features
    return 0


def _param_library(model):
    """The package the model's parameters come from (macrograd or torch), for zeros and no_grad."""
    for p in model.parameters():
        return importlib.import_module(type(p).__module__.split(".")[0])
    import macrograd
    return macrograd


def _shape(output):
    if hasattr(output, "shape"):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shape(o) for o in output]
    return None


def _run_with_hooks(model, input_shape, hook):
    """Register `hook(name, module, inputs, output)` on every submodule, run one forward on
    zeros of input_shape in eval mode without grad (so BN statistics are not touched), restore."""
    lib = _param_library(model)
    handles = [m.register_forward_hook(lambda mod, args, out, name=name: hook(name, mod, args, out))
               for name, m in model.named_modules() if name]
    was_training = model.training
    model.eval()
    try:
        with lib.no_grad():
            model(lib.zeros(*input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()


def flops(model, input_shape) -> int:
    """Multiply-accumulates (MACs) of conv and linear layers for one forward pass on a batch of
    input_shape (include the batch dim; batch 1 gives the cost per example). FLOPs ~ 2 * MACs."""
    total = 0

    def count(name, module, inputs, output):
        nonlocal total
        total += _module_macs(module, inputs, output)

    _run_with_hooks(model, input_shape, count)
    return total


@dataclass
class ModelSummary:
    """The rows (name, type, depth, output shape, params or None) and totals of `summary`."""
    rows: list = field(default_factory=list)
    input_shape: tuple = ()
    total_params: int = 0
    trainable_params: int = 0
    macs: int = 0

    def __str__(self) -> str:
        lines = []
        for name, kind, depth, shape, params in self.rows:
            label = "  " * (depth - 1) + f"{kind} ({name})"
            lines.append((label, str(list(shape)) if isinstance(shape, tuple) else str(shape),
                          "--" if params is None else f"{params:,}"))
        head = ("Layer (name)", "Output Shape", "Param #")
        widths = [max(len(r[i]) for r in lines + [head]) for i in range(3)]
        rule = "=" * (sum(widths) + 4)

        def fmt(r):
            return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}"

        return "\n".join([rule, fmt(head), rule, *map(fmt, lines), rule,
                          f"Input shape: {list(self.input_shape)}",
                          f"Total params: {self.total_params:,}",
                          f"Trainable params: {self.trainable_params:,}",
                          f"Non-trainable params: {self.total_params - self.trainable_params:,}",
                          f"Mult-adds: {self.macs:,}", rule])

    __repr__ = __str__


def summary(model, input_shape, depth: int = 3) -> ModelSummary:
    """A torchinfo-like table: every submodule down to `depth` levels, in the order it runs, with
    its output shape and its parameter count (recursive for leaves and for modules at the depth
    limit, "--" for containers that are expanded below). Print it or read its fields."""
    result = ModelSummary(input_shape=tuple(input_shape), total_params=count_parameters(model),
                          trainable_params=count_parameters(model, trainable_only=True))

    def record(name, module, inputs, output):
        result.macs += _module_macs(module, inputs, output)
        level = name.count(".") + 1
        if level > depth:
            return
        has_children = any(True for _ in module.children())
        params = None if has_children and level < depth else count_parameters(module)
        result.rows.append((name, type(module).__name__, level, _shape(output), params))

    # Hooks fire when a module *finishes*, so a container would be listed after its children;
    # order rows by the time each module *started* instead, via a pre-hook counter.
    order = {}

    def started(name):
        def pre_hook(module, args):  # returns None: the args go on unchanged
            order.setdefault(name, len(order))
        return pre_hook

    pre_handles = [m.register_forward_pre_hook(started(name)) for name, m in model.named_modules() if name]
    try:
        _run_with_hooks(model, input_shape, record)
    finally:
        for h in pre_handles:
            h.remove()
    result.rows.sort(key=lambda row: order.get(row[0], 0))
    return result
