"""Encrypted, consistent backups of the embedded deployment and their restore."""
