"""Layer 3 view drivers (found by name: ``fs``)."""
