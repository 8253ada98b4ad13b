"""The backward pass: walk the graph from the output in reverse topological order, calling
each node's backward once all gradients flowing into it have been summed."""
from __future__ import annotations

import numpy as np

from ..backend import xp
from . import function


def topological_order(root):
    """Nodes reachable from `root`, each after every node that consumes its output.

    Iterative depth-first search, so a 10,000-op chain needs no recursion."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for parent, _leaf in node.parents:
            if parent is not None and parent not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def accumulate_leaf_grad(leaf, grad, owned=False):
    """leaf.grad += grad, creating it on first use (gradients accumulate, as in PyTorch).
    The leaf's hooks see the whole gradient of this backward call, once.

    owned: grad is an array this backward walk allocated and nothing else holds, so that it can
    become .grad as it is (a hook that sees it might keep it: then it is copied after all)."""
    for hook in leaf._hooks or ():
        owned = False
        replaced = hook(function.Tensor(grad))
        if replaced is not None:
            grad = replaced._data
    if grad.dtype != leaf._data.dtype:
        grad = grad.astype(leaf._data.dtype)
    if leaf.grad is None:
        # Copy unless owned: the same array may flow to several inputs, and .grad is updated in
        # place later (zero_grad, clipping). For a large weight the copy costs as much as an
        # elementwise op over it, with page faults on a fresh allocation.
        if not owned:
            grad = np.array(grad, copy=True) if isinstance(grad, np.ndarray) else grad.copy()
        leaf.grad = function.Tensor(grad)
    else:
        leaf.grad._data = leaf.grad._data + grad


def _shape_error(node, grad, shape):
    return RuntimeError(
        f"Function {node.name()} returned an invalid gradient - got shape {tuple(grad.shape)} but "
        f"expected shape {tuple(shape)}"
    )


def _accumulate(sums, owned, key, grad):
    """sums[key] += grad. The first sum allocates a fresh array; later ones add into it in
    place, so a tensor used n times (e.g. unbind's n pieces) costs one allocation, not n."""
    previous = sums.get(key)
    if previous is None:
        sums[key] = grad  # not ours: it may be an array backward also handed elsewhere
    elif key in owned and previous.dtype == grad.dtype:
        xp.add(previous, grad, out=previous)
    else:
        sums[key] = xp.asarray(previous + grad)
        owned.add(key)


def _accumulate_at(sums, owned, key, shape, index, grad):
    """sums[key] += (zeros of `shape` with grad at the basic `index`), without building that
    zero array when the sum already is an array of ours: then only the slice is touched.

    The pieces of a split (q, k, v = qkv.split(width, dim=2) in a GPT block) each made a
    full-size zero gradient, and the engine added the three: in bench W5 (12 x 64 x 384 per
    layer) one zero array and in-place slice adds instead."""
    previous = sums.get(key)
    if previous is not None and key in owned and previous.dtype == grad.dtype:
        previous[index] += grad  # a basic index never repeats an element
        return
    if previous is None:
        total = xp.zeros(shape, dtype=grad.dtype)
        total[index] = grad
    else:
        total = previous.astype(xp.result_type(previous, grad), copy=True)
        total[index] += grad
    sums[key] = total
    owned.add(key)


def run_backward(root, grad, retain_graph=False):
    """Backpropagate `grad` (an array shaped like root) through the graph that made `root`."""
    if root.grad_fn is None:  # a leaf: its gradient is the seed itself
        accumulate_leaf_grad(root, grad)
        return
    pending = {root.grad_fn: grad}
    # A leaf used several times gets its partial gradients summed here first, so that its
    # hooks run once on the total (as in PyTorch) and .grad is written once.
    leaf_grads = {}
    owned = set()  # keys whose summed gradient is an array this walk allocated
    for node in topological_order(root.grad_fn):
        grad = pending.pop(node, None)
        if grad is None:  # no gradient reached this node (e.g. it fed only integer outputs)
            continue
        if node.freed:
            raise RuntimeError(
                f"Trying to backward through the graph a second time ({node.name()} already freed "
                f"its saved arrays). Specify retain_graph=True on the first backward() call if "
                f"you need to backward twice."
            )
        node.check_saved_versions()
        if node.hooks:
            for hook in node.hooks:
                replaced = hook(function.Tensor(grad))
                if replaced is not None:
                    grad = replaced._data
        if node.retained_output is not None:
            output = node.retained_output()
            if output is not None:
                accumulate_leaf_grad(output, grad)
        if node.grad_index is not None:  # x[index]: dy goes straight into x's gradient sum
            (parent, leaf), = node.parents
            if not retain_graph:
                node.release()
            if parent is not None:
                _accumulate_at(pending, owned, parent, parent.output_shape, node.grad_index, grad)
            elif leaf is not None:
                _accumulate_at(leaf_grads, owned, leaf, leaf.shape, node.grad_index, grad)
            continue
        input_grads = node.backward(grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if not retain_graph:
            node.release()
        for (parent, leaf), input_grad in zip(node.parents, input_grads):
            if input_grad is None:
                continue
            if parent is not None:
                # A wrong shape would broadcast silently in the sum below: fail loudly instead.
                if input_grad.shape != parent.output_shape:
                    raise _shape_error(node, input_grad, parent.output_shape)
                _accumulate(pending, owned, parent, input_grad)
            elif leaf is not None:
                if input_grad.shape != leaf.shape:
                    raise _shape_error(node, input_grad, leaf.shape)
                first = leaf not in leaf_grads
                _accumulate(leaf_grads, owned, leaf, input_grad)
                if first and node.fresh_grads:
                    owned.add(leaf)  # the op's own new array: later partial sums add into it
    for leaf, grad in leaf_grads.items():
        accumulate_leaf_grad(leaf, grad, owned=leaf in owned)
