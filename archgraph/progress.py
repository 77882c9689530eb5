"""Progress for runs over many specs (compile, sweep, verify), on stderr so stdout stays parseable.

On a terminal one line is redrawn in place (`[3/22] specs/vit.arch: vit_b16  1.4 s`); in a
log (stderr not a terminal) each step is one plain line, and `ARCHGRAPH_PROGRESS=0` turns it
off (`=1` forces plain lines even for a single step).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class Progress:
    """`step(label)` before each unit of work; `done()` at the end."""

    def __init__(self, total: int, verb: str, stream: TextIO | None = None) -> None:
        self.total, self.verb, self.count = total, verb, 0
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        setting = os.environ.get("ARCHGRAPH_PROGRESS")
        self.tty = self.stream.isatty() and setting != "1"
        self.enabled = setting != "0" and (total > 1 or setting == "1")

    def step(self, label: str) -> None:
        self.count += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        text = f"[{self.count}/{self.total}] {self.verb} {label}  {elapsed:.1f} s"
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
