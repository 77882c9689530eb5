"""The op registry: every op a spec can call, by the name the spec uses.

Importing this package registers the op families, one file each (as timm's layers).
"""

from archgraph.ops import (  # noqa: F401  (registers)
    act,
    attention,
    conv,
    detr,
    dropout,
    elementwise,
    embedding,
    expand,
    linear,
    matmul,
    norm,
    normalize,
    pool,
    resample_pos,
    resize,
    tokens,
)
from archgraph.ops.base import REGISTRY, REQUIRED, VIEW, Attr, Emit, Memory, OpDef, register, suggest, uncounted

__all__ = ["REGISTRY", "REQUIRED", "VIEW", "Attr", "Emit", "Memory", "OpDef", "register", "suggest", "uncounted"]
