"""Optional dependencies: one check and one message, from the command line and the API.

    require("torch", "archgraph.build")   # MissingDependencyError unless torch imports

A missing one is `MissingDependencyError` (a ModuleNotFoundError) naming the extra that installs
it; the CLI prints its message and exits 1 (README: exit codes).
"""

from __future__ import annotations

import importlib
import sys

# module -> how to install it
INSTALL = {
    "torch": "pip install 'archgraph[torch]'",
    "matplotlib": "pip install 'archgraph[plot]'",
    "dot": "install Graphviz (apt-get install graphviz, brew install graphviz)",
}


class MissingDependencyError(ModuleNotFoundError):
    """An optional dependency is not installed; the message names what needs it and how to install it."""

    def __init__(self, module: str, what: str) -> None:
        how = INSTALL.get(module, f"pip install {module}")
        super().__init__(f"{what} needs {module}, which is not installed: {how}", name=module)


def require(module: str, what: str) -> None:
    """Raise MissingDependencyError unless `module` imports; `what` is who needs it (`archgraph bench`)."""
    if sys.modules.get(module, False) is None:  # blocked, as a test that hides torch does
        raise MissingDependencyError(module, what)
    try:
        importlib.import_module(module)
    except ImportError as error:
        if error.name and error.name.split(".")[0] != module:
            raise  # the module is there but one of its own imports failed: not ours to rename
        raise MissingDependencyError(module, what) from None
