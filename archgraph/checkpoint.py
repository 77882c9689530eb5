"""Reading a checkpoint (a state_dict saved with `torch.save`) as the user's file, never as a bug.

`read_checkpoint(path)` returns {name: dense tensor on the CPU}, or raises CheckpointError
with one line naming the path and the cause: missing, unreadable, a FIFO or device (refused
from its `stat`, before it is opened), empty, text or another non-checkpoint, a list, a
dict holding something other than tensors, a sparse tensor, a tensor on `meta` (no data).
Loads with `weights_only=True`, so a checkpoint cannot run code. Imports torch.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from archgraph.errors import ResourceError, file_kind, os_cause
from archgraph.output import mode_for

WRAPPERS = ("state_dict", "model")  # common checkpoint wrappers: {"state_dict": {...}, "epoch": 3}


class CheckpointError(ResourceError):
    """A checkpoint that cannot be used; the message names the path and the cause (exit 1)."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The tensors of the state_dict saved at `path`, by name; CheckpointError if it is not one."""
    import torch

    shown = str(path)
    try:
        info = os.stat(path)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {shown}: {_cause(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"cannot read checkpoint {shown}: it is {file_kind(info.st_mode)}")
    if info.st_size == 0:
        raise CheckpointError(f"cannot read checkpoint {shown}: it is empty")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {shown}: {os_cause(error)}") from None
    except Exception as error:  # garbage makes the unpickler raise anything: KeyError, EOFError, ...
        if type(error).__name__ == "UnpicklingError" and zipfile.is_zipfile(path):  # torch.save's, with objects
            raise CheckpointError(f"cannot read checkpoint {shown}: it holds Python objects besides tensors (a whole "
                                  "model, from torch.save(model)?), which archgraph does not unpickle, since that "
                                  "can run code; save model.state_dict() instead") from None  # fmt: skip
        raise CheckpointError(f"cannot read checkpoint {shown}: not a file saved with torch.save "
                              f"({type(error).__name__}: {_first_line(error)})") from None  # fmt: skip
    return _tensors(state, shown)


def _cause(error: Exception) -> str:
    return os_cause(error) if isinstance(error, OSError) else str(error)


def _first_line(error: Exception) -> str:
    """The first line of an error's message, terminal escapes removed, at most 200 characters ("" for
    an empty message)."""
    text = _ESCAPES.sub("", str(error))
    return (text.strip().splitlines() or [""])[0][:200]


_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # ANSI colour and style codes (torch's messages use bold)


def _tensors(state: Any, shown: str) -> dict[str, Any]:
    """The state_dict inside `state` (unwrapped from a {"state_dict": ...} wrapper), each value checked."""
    import torch

    if isinstance(state, dict):
        for key in WRAPPERS:
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise CheckpointError(
            f"checkpoint {shown} holds a {type(state).__name__}, not a state_dict (a dict of tensors)"
        )
    if not state:
        raise CheckpointError(f"checkpoint {shown} holds an empty state_dict")
    for name, value in state.items():
        where = f"checkpoint {shown}: entry {str(name)[:80]!r}"
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{where} is of type {type(value).__name__}, not a tensor")
        if value.layout != torch.strided:
            raise CheckpointError(f"{where} is a sparse tensor ({value.layout}); save it dense (.to_dense())")
        if value.device.type == "meta":
            raise CheckpointError(f"{where} is on the meta device and holds no data")
    return state


def write_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """`torch.save(state)` to `path` through a temporary file beside it, renamed into place (never half
    a file); CheckpointError naming the path and the cause when it cannot be written."""
    import torch

    target = Path(path)
    try:
        if target.exists() and not target.is_file():
            raise CheckpointError(f"cannot write checkpoint {target}: it is {file_kind(target.stat().st_mode)}")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise CheckpointError(f"cannot write checkpoint {target}: {os_cause(error)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
        os.chmod(tmp, mode_for(target))  # mkstemp's 0600 would make it private: the mode `compile` gives a file
        os.replace(tmp, target)
    except (OSError, RuntimeError) as error:
        cause = os_cause(error) if isinstance(error, OSError) else _first_line(error)
        raise CheckpointError(f"cannot write checkpoint {target}: {cause}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
