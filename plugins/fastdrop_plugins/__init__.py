"""fastdrop's built-in dropout variants, each a plugin of its own.

The modules here are found through the ``fastdrop`` entry-point group, the
same way a third party's plugin is; ``fastdrop`` itself never imports them.
Each module's ``fastdrop_variants()`` hook returns its variant classes.
They use only the public API: ``fastdrop``, ``fastdrop.graph`` and
``fastdrop.plugin`` (whose base classes and checks are re-exported here for
code written against earlier releases).
"""
from fastdrop.plugin import (BroadcastDropout, DropProbability, check_bool, check_float_array, check_generator,
                             check_grad_shape, check_int, check_p_below_one)

__all__ = ["BroadcastDropout", "check_bool", "check_float_array", "check_generator", "check_grad_shape",
           "check_int", "check_p_below_one", "DropProbability"]
