"""Request quotas: how many requests a key (a model id) may start, shared however widely the quota is kept.

The model router asks a quota for a slot before every model call. An in-process quota limits one process; a
shared one (a DynamoDB item per model, in the AWS shape) limits every process and Lambda instance together.
"""

from __future__ import annotations

import math
from typing import Protocol


class RequestQuota(Protocol):
    def reserve(self, key: str, *, max_wait_s: float = math.inf) -> float:
        """Take one request slot for ``key`` and return the seconds the caller must wait before sending
        (0.0: send now).

        A slot is taken only when that wait is at most ``max_wait_s``; otherwise nothing is taken and the
        result is greater than ``max_wait_s``: how long the caller would have had to wait, or ``math.inf`` when
        the quota cannot say or will not book that far ahead whatever ``max_wait_s`` is. In short, **a slot was
        taken if and only if the result is finite and at most max_wait_s**.

        So a caller that gives up on a long wait never uses up capacity that others could have had, and no
        ``release`` is needed: a slot, once granted, counts whether or not the request it was for is sent or
        succeeds (the provider counts failed requests too).
        """
        ...
