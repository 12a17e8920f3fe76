"""Search spaces: one module per space (nb101, nb201, darts)."""
