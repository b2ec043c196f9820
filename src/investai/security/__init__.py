"""Security primitives: envelope encryption (more arrives with identity and access control)."""
