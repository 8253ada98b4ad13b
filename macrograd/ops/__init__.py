"""Every differentiable primitive, as a `Function` subclass plus the function users call.

Files by concern: dtypes (type promotion), elementwise (arithmetic and math), activation,
compare (comparisons, where, maximum), reduce, shape, indexing, linalg, and the fused
neural-net ops softmax, loss, normalization, dropout, embedding; tensor_methods attaches
them all to Tensor as operators and methods.
"""
from .activation import *  # noqa: F401,F403
from .compare import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .softmax import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from . import tensor_methods

tensor_methods.install()
