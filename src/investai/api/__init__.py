"""The REST API: app factory, dependencies, routes per resource, middleware."""
