"""Routes, one module per resource. Routes are thin: dependencies in, one service call, schemas out."""
