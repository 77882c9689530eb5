"""Lowering: evaluate one model of a checked program to an `ir.Graph` (one entry point, `lower`).

Modules, each importing only those after it: `interpreter` (the `Lowering` state, statements,
parameters, nodes), `evaluate` (expressions and calls), `repeat`, `blocks`, `names` (labels
per scope), `sketch` (what a sketch skipped) and `values` (`Tensor`, `Taps`, limits; a leaf).
"""

from archgraph.lowering.interpreter import Lowering, lower, resolve_model
from archgraph.lowering.sketch import Sketch
from archgraph.lowering.values import MAX_BLOCK_DEPTH, MAX_NODES, MAX_REPEAT, Taps, Tensor

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_NODES",
    "MAX_REPEAT",
    "Lowering",
    "Sketch",
    "Taps",
    "Tensor",
    "lower",
    "resolve_model",
]
