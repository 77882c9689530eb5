"""The lowering's entry point under its historical name; the interpreter lives in `archgraph.lowering`."""

from archgraph.lowering import MAX_BLOCK_DEPTH, MAX_NODES, MAX_REPEAT, Lowering, Taps, Tensor, lower, resolve_model

__all__ = ["MAX_BLOCK_DEPTH", "MAX_NODES", "MAX_REPEAT", "Lowering", "Taps", "Tensor", "lower", "resolve_model"]
