"""Ideas as JSON bytes, each revision serialised once.

An idea list is the heaviest read there is: a page of whole ideas, each tens of fields deep. A revision is
immutable (``(id, timestamp)`` is its key and nothing rewrites it), and the view of a reader who may read every
document it cites is the revision exactly as stored, whoever that reader is. So those views are kept as bytes
by ``(id, timestamp)``, least recently used first out; a view with sources withheld depends on the reader and
is serialised every time. One :class:`IdeaJson` per app (:func:`install`), never shared between apps, whose
stores may hold different ideas under the same key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from fastapi import FastAPI, Request
from pydantic import TypeAdapter

from investai.domain.idea_views import IdeaView

IDEA_VIEW = TypeAdapter(IdeaView)
MAX_ENTRIES = 512
"""About 24 KB an idea on the sample data (its evidence, analysis and provenance), so about 12 MB at most: as many
as the SQLite repository keeps parsed, since a list page is the newest ideas."""


class IdeaJson:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max(0, max_entries)
        self._kept: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def one(self, view: IdeaView) -> bytes:
        """``view`` as JSON: kept bytes for an unrestricted view of a revision seen before."""
        if view.restricted_sources or not self.max_entries:
            return IDEA_VIEW.dump_json(view)
        key = (view.id, view.timestamp)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        body = IDEA_VIEW.dump_json(view)
        with self._lock:
            self._kept[key] = body
            while len(self._kept) > self.max_entries:
                self._kept.popitem(last=False)
        return body

    def many(self, views: Sequence[IdeaView]) -> bytes:
        """A JSON array of ``views``, in order."""
        return b"[" + b",".join(self.one(view) for view in views) + b"]"


def install(app: FastAPI, max_entries: int = MAX_ENTRIES) -> None:
    app.state.idea_json = IdeaJson(max_entries)


def of(request: Request) -> IdeaJson:
    """The app's :class:`IdeaJson` (a fresh, unkept one for an app without :func:`install`)."""
    kept = getattr(request.app.state, "idea_json", None)
    return kept if isinstance(kept, IdeaJson) else IdeaJson(0)
