"""Use cases. Services depend on ports only and never import a web framework."""
