"""archgraph: a declarative architecture-graph compiler for Transformer-family vision networks.

A `.arch` spec is parsed (parser), checked (check), lowered to a graph with shapes and
costs (lower, shapes, cost), and rendered as a standalone PyTorch module (codegen) or a
report (report). See README.md and docs/language.md.
"""

from archgraph.api import analyze, build, closed_form, generate_source, input_shape, load_graph
from archgraph.errors import ArchError, InternalError, SpecError
from archgraph.pretrained import LoadReport, load_pretrained

__version__ = "0.1.0"
__all__ = ["ArchError", "InternalError", "LoadReport", "SpecError", "__version__", "analyze", "build",
           "closed_form", "generate_source", "input_shape", "load_graph", "load_pretrained"]  # fmt: skip
