"""Background work: the worker loop, job handlers and scheduled triggers."""
