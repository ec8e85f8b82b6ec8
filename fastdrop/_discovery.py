"""Finding installed plugins: the ``fastdrop`` entry-point group, and the
records that say where a plugin comes from and why one was skipped."""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Tuple

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "BrokenPlugin", "installed_entry_points"]

ENTRY_POINT_GROUP = "fastdrop"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin comes from: its name (the entry-point name for an
    installed plugin), and its distribution and version (None for a plugin
    registered at run time)."""

    name: str
    distribution: Optional[str] = None
    version: Optional[str] = None

    @property
    def source(self) -> str:
        """'distribution version', or 'registered at run time'."""
        if self.distribution is None:
            return "registered at run time"
        return f"{self.distribution} {self.version}"

    def __str__(self) -> str:
        return f"{self.name!r} ({self.source})"


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that was skipped, the stage at which it failed, and why."""

    plugin: PluginInfo
    stage: str
    error: BaseException

    @property
    def message(self) -> str:
        return (f"fastdrop plugin {self.plugin} was skipped: {self.stage} failed with "
                f"{type(self.error).__name__}: {self.error}")


def installed_entry_points() -> Iterator[Tuple[Any, PluginInfo]]:
    """(entry point, PluginInfo) for each entry point of the group, once per
    distribution (a distribution found twice on sys.path counts once)."""
    seen = set()
    for dist in list(importlib.metadata.distributions()):
        dist_name = dist.metadata["name"] or "<unnamed distribution>"
        for ep in dist.entry_points:
            key = (dist_name.lower().replace("_", "-"), ep.name)
            if ep.group != ENTRY_POINT_GROUP or key in seen:
                continue
            seen.add(key)
            yield ep, PluginInfo(ep.name, dist_name, dist.version)
