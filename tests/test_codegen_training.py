"""Generated code for training: activation checkpointing (the `grad_checkpointing` constructor
flag, checkpointed loops over the innermost repeats, the flag passed down to nested repeats) and
in-place ReLUs where nothing else reads the input. (tests/torch/test_checkpointing.py runs them.)"""

from __future__ import annotations

import ast

from archgraph.api import generate_source
from tests.conftest import ROOT

NESTED = """
import "std/transformer.arch"

block stage(x: [B, N, dim], depth: int) {
    checkpointed = blocks: repeat depth encoder_block(x, 4)
    return checkpointed
}

block plain(x: [B, N, dim]) {
    return blocks: repeat 2 encoder_block(x, 4)
}

model nested() {
    input x: [B, 17, 32]
    x = stages: repeat 2 stage(x, 2)
    return last: plain(x)
}

model flat() {
    input x: [B, 17, 32]
    return proj: linear(x, 8)
}
"""


def _source(tmp_path, model: str) -> str:
    (tmp_path / "nested.arch").write_text(NESTED)
    return generate_source(tmp_path / "nested.arch", model)


def _class(source: str, name: str) -> str:
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == name)
    return ast.get_source_segment(source, node)


def test_vit_blocks_run_checkpointed_while_training_when_asked():
    source = (ROOT / "generated" / "vit.py").read_text()
    assert "from torch.utils.checkpoint import checkpoint\n" in source
    model = _class(source, "Vit")
    assert "grad_checkpointing: bool = False," in model
    assert "self.grad_checkpointing = grad_checkpointing" in model
    assert (
        "        checkpointed = self.grad_checkpointing and self.training\n"
        "        for block in self.blocks:\n"
        "            x = checkpoint(block, x, use_reentrant=False) if checkpointed else block(x)\n"
    ) in model
    assert "grad_checkpointing" not in _class(source, "EncoderBlock"), "a block without repeats takes no flag"


def test_nested_repeats_checkpoint_the_innermost_blocks_and_pass_the_flag_down(tmp_path):
    source = _source(tmp_path, "nested")
    outer, inner = _class(source, "Nested"), _class(source, "Stage")
    assert "grad_checkpointing=grad_checkpointing, **dd)" in outer and "Stage(" in outer
    assert "checkpoint(" not in outer and "self.grad_checkpointing =" not in outer
    unwrapped = ast.unparse(ast.parse(inner))  # the statement on one line, however the file splits it
    assert "checkpointed_ = checkpoint(block, checkpointed_, use_reentrant=False) if checkpointed else" in unwrapped, (
        "a spec name cannot shadow the loop's local"
    )
    assert _class(source, "Plain").endswith("else block(x)\n        return x"), "a returned loop: x"
    ast.parse(source)


def test_a_model_without_repeats_takes_the_flag_and_imports_nothing_more(tmp_path):
    source = _source(tmp_path, "flat")
    assert "torch.utils.checkpoint" not in source
    assert "grad_checkpointing: bool = False," in _class(source, "Flat")
    assert "self.grad_checkpointing" not in source


RELUS = """
model relus() {
    input x: [B, 8, 4, 4]
    a = relu(norm: group_norm(conv: conv2d(x, 8, 3, padding = 1), 4))
    b = conv2: conv2d(a, 8, 1)
    c = relu(b) + b
    return relu(transpose(c, 2, 3))
}
"""


def test_relu_runs_in_place_only_on_a_fresh_tensor_nothing_else_reads(tmp_path):
    (tmp_path / "relus.arch").write_text(RELUS)
    source = generate_source(tmp_path / "relus.arch")
    assert "F.relu(self.norm(self.conv(x)), inplace=True)" in source, "a norm's output, read once"
    assert "F.relu(b) + b" in source, "b is read twice: not overwritten"
    assert "F.relu(c.transpose(2, 3))" in source, "a view of c: not overwritten"
