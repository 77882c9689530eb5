"""archgraph: a declarative architecture-graph compiler for Transformer-family vision networks.

A `.arch` spec is parsed (parser), checked (check), lowered to a graph with shapes and
costs (lower, shapes, cost), and rendered as a standalone PyTorch module (codegen) or a
report (report). See README.md and docs/language.md.
"""

import gc

_collecting = gc.isenabled()
gc.disable()  # importing makes thousands of long-lived objects and no garbage: no collection passes over them
try:
    from archgraph.api import Opened, analyze, build, closed_form, generate_source, input_shape, load_graph, open_model
    from archgraph.arguments import ArgumentError
    from archgraph.deps import MissingDependencyError
    from archgraph.errors import ArchError, InternalError, SpecError
finally:
    if _collecting:
        gc.enable()

__version__ = "0.1.0"
__all__ = ["ArchError", "ArgumentError", "InternalError", "LoadReport", "MissingDependencyError", "Opened", "SpecError",
           "WeightsMismatchError", "__version__", "analyze", "build", "closed_form", "generate_source", "input_shape",
           "load_graph", "load_pretrained", "open_model"]  # fmt: skip


def __getattr__(name: str):
    """`LoadReport`, `WeightsMismatchError` and `load_pretrained`, imported when first used (not at every
    command's start)."""
    if name in ("LoadReport", "WeightsMismatchError", "load_pretrained"):
        from archgraph import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'archgraph' has no attribute {name!r}")
