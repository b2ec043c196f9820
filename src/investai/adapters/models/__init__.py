"""Model providers that need no AWS: the offline (deterministic) provider and OpenAI-compatible servers."""
