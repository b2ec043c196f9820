"""Private scratch files for parsers that need a file (the PDF parse runs in a bounded subprocess): a stream
or bytes in, a path that lives only inside the ``with`` block out. On Lambda the scratch directory is /tmp."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


@contextmanager
def scratch_copy(content: BinaryIO | bytes, directory: Path, *, suffix: str) -> Iterator[Path]:
    """``content`` written to a private temporary file under ``directory``, removed on exit."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=suffix) as handle:
        if isinstance(content, bytes | bytearray | memoryview):
            handle.write(content)
        else:
            shutil.copyfileobj(content, handle, CHUNK)
        handle.flush()
        yield Path(handle.name)


def read_all(content: BinaryIO | bytes, *, max_bytes: int | None = None) -> bytes:
    """The bytes of ``content``; ``ValueError`` past ``max_bytes`` (checked while reading, not after)."""
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
    else:
        data = content.read(-1 if max_bytes is None else max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"the content is larger than {max_bytes} bytes")
    return data
