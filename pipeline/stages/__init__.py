"""Processing stages (one module each) and their registry."""
