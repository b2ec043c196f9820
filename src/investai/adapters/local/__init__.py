"""Adapters of the embedded shape: SQLite, the local file system, a local keyring, APScheduler."""
