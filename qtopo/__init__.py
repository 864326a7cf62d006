"""qtopo: plan quantum-key-distribution networks on real fibre."""
__version__ = "0.1.0"
