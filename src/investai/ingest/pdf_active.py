"""Finding active content in a PDF: JavaScript, launch actions and embedded files.

Actions hide in many places (the catalog's ``/OpenAction`` and ``/AA``, page and annotation triggers,
form fields, outline items, chained ``/Next`` actions, the ``/Names`` tree), so instead of visiting a list
of known places this walks the object graph reachable from the catalog once, iteratively (no recursion
on hostile nesting) and within a node budget, and recognises the objects themselves. Stream contents are
never decoded here; only dictionaries and arrays are read.

Runs in the PDF worker process; imported there only.
"""

from __future__ import annotations

from typing import Any

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from investai.domain.knowledge import SecurityFlag

NODE_BUDGET = 500_000
"""Dictionaries and arrays visited at most; a real document has far fewer reachable objects."""

_SKIPPED_KEYS = frozenset({"/Parent", "/P", "/Contents", "/Font", "/XObject", "/ColorSpace", "/Pattern"})
"""Back-links and page resources: they hold no actions and make up most of a document's objects."""


def scan_active_content(reader: PdfReader) -> tuple[list[SecurityFlag], bool]:
    """The kinds of active content found, in a stable order, and whether the whole graph was seen
    (``False`` when the node budget ran out first)."""
    found: set[SecurityFlag] = set()
    visited: set[tuple[int, int]] = set()
    pending: list[Any] = [reader.trailer.get("/Root")]
    budget = NODE_BUDGET
    while pending and budget > 0:
        node = pending.pop()
        if isinstance(node, IndirectObject):
            key = (node.idnum, node.generation)
            if key in visited:
                continue
            visited.add(key)
            node = node.get_object()
        if isinstance(node, DictionaryObject):
            budget -= 1
            found.update(flags_of(node))
            pending.extend(value for name, value in node.items() if name not in _SKIPPED_KEYS)
        elif isinstance(node, ArrayObject):
            budget -= 1
            pending.extend(node)
    ordered = [flag for flag in SecurityFlag if flag in found]
    return ordered, not pending


def flags_of(node: DictionaryObject) -> set[SecurityFlag]:
    """What this one dictionary is: a JavaScript or launch action, a name tree of scripts or embedded
    files, an embedded file or its file specification, or a file attachment annotation."""
    flags: set[SecurityFlag] = set()
    action = node.get("/S")
    if action == "/JavaScript" or "/JS" in node or "/JavaScript" in node:
        flags.add(SecurityFlag.PDF_JAVASCRIPT)
    if action == "/Launch":
        flags.add(SecurityFlag.PDF_LAUNCH_ACTION)
    embedded = (
        "/EmbeddedFiles" in node
        or "/EF" in node
        or node.get("/Type") == "/EmbeddedFile"
        or node.get("/Subtype") == "/FileAttachment"
    )
    if embedded:
        flags.add(SecurityFlag.PDF_EMBEDDED_FILES)
    return flags
