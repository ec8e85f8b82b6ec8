"""Hook specifications of fastdrop's plugin system.

Every hook a plugin may implement is declared here, as an empty function
whose docstring is its contract.  A plugin is any module or object with
functions marked ``@fastdrop.hookimpl`` and named after these hooks; it is
found through the entry-point group ``fastdrop`` or registered at run time
with :func:`fastdrop.register`.

The markers are created once, here, and imported everywhere else.
"""
from typing import Any, Optional, Sequence

import pluggy

hookspec = pluggy.HookspecMarker("fastdrop")
hookimpl = pluggy.HookimplMarker("fastdrop")

__all__ = ["hookspec", "hookimpl", "fastdrop_variants", "fastdrop_mask_drawn"]


# -------------------------------------------------------------------------
# Registration hooks
# -------------------------------------------------------------------------


@hookspec
def fastdrop_variants() -> Optional[Sequence[type]]:
    """Return the dropout variant classes this plugin provides.

    Called when the variant table is first needed (the first call of
    :func:`fastdrop.variants` or :func:`fastdrop.layer`, or the first mask a
    layer draws), and again whenever a plugin is registered or unregistered.

    :returns:
        A list (or tuple) of classes, each a subclass of
        :class:`fastdrop.Variant` that sets a unique ``name`` (a
        string without whitespace), a one-line ``description``, and
        overrides ``forward`` and ``backward``.  Each class must be
        constructible with no arguments.  ``None`` or an empty list means
        the plugin provides no variant (an observer-only plugin).

    The results of all plugins are collected.  A name claimed by two
    classes is an error naming both plugins; a class that breaks the rules
    above is an error naming its plugin.  A plugin whose hook raises is
    reported with a :class:`fastdrop.PluginWarning` and skipped.

    Since version 0.1.
    """


# -------------------------------------------------------------------------
# Training hooks
# -------------------------------------------------------------------------


@hookspec
def fastdrop_mask_drawn(layer: Any, handle: Any) -> None:
    """Observe a mask (or noise) a variant has just drawn in training.

    Called by every variant, right after each random draw of a forward call
    in training mode, and never in evaluation mode.  Meant for statistics
    and pictures; an implementation must not modify the layer.

    :param fastdrop.graph.Variant layer:
        The layer that drew the mask.
    :param handle:
        What the layer keeps to regenerate the draw in backward.  For
        mask-based variants, a :class:`fastdrop.DropoutHandle`:
        ``handle.mask()`` is the boolean mask (True = kept) over
        ``handle.mask_shape``.  Noise variants pass a handle with the same
        ``key``, ``counter``, ``rounds``, ``p``, ``shape`` and
        ``counter_range`` fields and a method that regenerates the noise
        (see the variant's documentation).

    :returns: Nothing; return values are ignored.

    When no plugin implements this hook, calling it costs a single
    attribute test.  An implementation that raises is reported with a
    :class:`fastdrop.PluginWarning`; training goes on.

    Since version 0.1.
    """
