"""The core's own plugin: plain elementwise dropout, and nothing else.

Every other variant lives in a plugin found through the ``fastdrop``
entry-point group, exactly as a third party's would be.
"""
from .hookspecs import hookimpl


@hookimpl
def fastdrop_variants():
    """Provide :class:`fastdrop.graph.Dropout` (registered as ``"dropout"``)."""
    from .graph import Dropout
    return [Dropout]
