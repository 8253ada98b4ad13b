"""Every differentiable primitive, as a `Function` subclass plus the function users call.

Files by concern: dtypes (type promotion), elementwise (arithmetic and math), activation,
compare (comparisons, where, maximum), reduce, shape, indexing, linalg, and the fused
neural-net ops softmax, loss, normalization, dropout, embedding, conv, pool, upsample,
recurrent, attention; tensor_methods attaches them all to Tensor as operators and methods.

The public functions of each file (`exp`, `cat`, `cross_entropy`, ...) are gathered here, so
`macrograd.ops.exp` and `macrograd.exp` work; the Function classes stay in their files.
The losses, norms, dropout, embedding and attention are reached through `mg.nn.functional` only,
because PyTorch's top-level functions of those names take different arguments (or do not exist).
"""
import inspect as _inspect

from . import (
    activation, attention, compare, dropout, elementwise, embedding, indexing, linalg, loss, normalization,
    recurrent, reduce, shape, softmax,
)
from . import conv, pool, upsample
from . import tensor_methods

MODULES = (elementwise, activation, compare, reduce, shape, indexing, linalg, softmax, loss,
           normalization, dropout, embedding, recurrent, attention, conv, pool, upsample)


def _public_functions(module):
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_") and _inspect.isfunction(obj) and obj.__module__ == module.__name__
    }


NN_FUNCTIONAL_ONLY = (loss, normalization, dropout, embedding, attention)

__all__ = []
for _module in MODULES:
    _functions = _public_functions(_module)
    globals().update(_functions)
    if _module not in NN_FUNCTIONAL_ONLY:
        __all__ += sorted(_functions)

tensor_methods.install()
