"""Implementations of the ports: ``local`` (embedded shape), ``aws``, ``models``."""
