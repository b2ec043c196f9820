"""One module per stack; :mod:`investai_infra.stage` creates and wires them."""
