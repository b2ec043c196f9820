"""Stored JSON bodies parsed once: a bounded least-recently-used map from a body's text to its model.

The SQLite repositories keep each record as a JSON body; parsing a whole idea or document back into its
pydantic model costs far more than the query that found it, and list pages read the same records again and
again. Keyed by the body text itself, a hit is exactly the record stored (the models are immutable; a changed
record is a different body), so nothing can be served stale. Memory is bounded by ``max_entries``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)


class ParsedBodies(Generic[Model]):
    def __init__(self, model: type[Model], *, max_entries: int = 512) -> None:
        self._model = model
        self._max = max(0, max_entries)
        self._parsed: OrderedDict[str, Model] = OrderedDict()
        self._lock = threading.Lock()

    def parse(self, body: str) -> Model:
        """The model a stored body holds, parsed once while it stays among the most recently read."""
        with self._lock:
            found = self._parsed.get(body)
            if found is not None:
                self._parsed.move_to_end(body)
                return found
        parsed = self._model.model_validate_json(body)
        if self._max:
            with self._lock:
                self._parsed[body] = parsed
                while len(self._parsed) > self._max:
                    self._parsed.popitem(last=False)
        return parsed

    def __len__(self) -> int:
        with self._lock:
            return len(self._parsed)
