"""sparq: a CPU inference runtime for pruned 4-bit CNNs, and a model of a sparse CNN chip.

Everything is defined by the compiled module ``sparq._sparq`` and re-exported
here; see python/README.md for the API and ``help(sparq.Session)`` etc.
"""

from sparq._sparq import *  # noqa: F401,F403
from sparq._sparq import __version__  # noqa: F401
from sparq._sparq import __all__ as _compiled_names

__all__ = list(_compiled_names)
