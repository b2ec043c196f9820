"""Interfaces the services and agents depend on; adapters implement them."""
