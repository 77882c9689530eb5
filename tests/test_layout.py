"""The generated code's layout is ruff format's (archgraph/codegen/layout.py, spelling.py), checked
against ruff itself: long statements split as `ruff format --line-length 100` splits them, and the
spellings where `ast.unparse` differs from ruff (quotes, `**`, slices) as ruff writes them."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from archgraph.codegen.layout import _wrap
from archgraph.codegen.spelling import spelled

A, B = "a" * 32, "b" * 59  # two operands that do not fit on one line of 100 together

STATEMENTS = [
    "self.blocks = nn.ModuleList([ClassAttentionBlock(16, 768, mlp_ratio=mlp_ratio_token_only, "
    "init_values=init_values, norm_eps=norm_eps, **dd) for _ in range(depth_token_only)])",
    "(q, k, v) = F.linear(x, self.in_proj_weight, self.in_proj_bias).unflatten(-1, (3, self.num_heads, -1))"
    ".permute(2, 0, 3, 1, 4).unbind(0)",
    "(q, k, v) = self.qkv(x).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4).unbind(0)",
    "return self.qkv_projection(x).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4).unbind(0)",
    "x = checkpoint(block, x, memory, tgt_mask, memory_mask, use_reentrant=False) if checkpointed "
    "else block(x, memory, tgt_mask, memory_mask)",
    "nn.init.normal_(self.sr.weight, std=(2 / (self.sr.kernel_size[0] * self.sr.kernel_size[1] * "
    "self.sr.out_channels // self.sr.groups)) ** 0.5)",
    "return {'logits': self.class_labels_classifier(h), 'pred_boxes': torch.sigmoid(self.bbox_predictor(h)), 'aux': h}",
    "x = (self.head(x_cls) + self.head_dist(F.dropout(x[:, 1], self.drop_rate, self.training))) / 2",
    "x = self.head(x_cls) + self.head_dist(F.dropout(x[:, 1], self.drop_rate, self.training)) + self.other(x)",
    f"x = ({A}(x) + {B}(y)) / 2",
    f"x = 2 * ({A}(x) + {B}(y))",
    f"x = ({A}(x) + {B}(y)) / ({A}(x) + {B}(y))",
    f"foo(y=({A}(x) + {B}(y)) / 2, z=1)",
    f"return ({A}(x) + {B}(y)) / 2",
    f"x = {A}(x) + {B}(y) - {A}(x) * {B}(y)",
    "x = x + drop_path(F.dropout(h, self.hidden_drop, self.training), self.drop_path, self.training_flag_xxxx)",
    "x = x + drop_path(F.dropout(h, self.hidden_drop, self.training), self.drop_path, self.training) + y",
    f"x = {A} + f(1, 2, 3, {B})",
    "self.head = nn.Linear(embed_dims[-1], num_classes, **dd) if num_classes > 0 else nn.Identity()",  # fits inside
    f"self.head = nn.Linear(embed_dims[-1], {A}, **dd) if {A} > 0 else nn.Identity()",  # does not
]


def _ruff(source: str) -> str:
    pytest.importorskip("ruff")
    done = subprocess.run([sys.executable, "-m", "ruff", "format", "--line-length", "100", "--no-cache", "-"],
                          input=source, capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


@pytest.mark.parametrize("statement", STATEMENTS)
def test_a_long_statement_splits_as_ruff_format_splits_it(statement):
    lines = _wrap("        " + spelled(statement))
    source = "class C:\n    def f(self):\n" + "\n".join(lines) + "\n"
    assert len(lines) > 1 and all(len(line) <= 100 for line in lines), lines
    assert ast.dump(ast.parse(source).body[0].body[0].body[0]) == ast.dump(ast.parse(statement).body[0])
    assert _ruff(source) == source


def test_spellings_are_ruffs():
    source = (
        "x = w[0:self.dim] + w[self.dim:] + x[:, 1] + y[1:n] + z[a:b:2] + q[f(a):] + r[i:j + 1]\n"
        "y = self.d ** 0.5 * 2 ** i + f(x) ** 2 + a ** -1 + x.y ** b.c(1) + 5 ** 0.5 + g(**dd)\n"
        "d = {'device': device, 'q': '\"', 's': x[-1:]}\n"
    )
    assert spelled(source) == _ruff(source)
    assert ast.dump(ast.parse(spelled(source))) == ast.dump(ast.parse(source))
    left = "d = ['it\\'s', f'{x}', b'x']\n"  # an escape, prefixed literals: as they are
    assert spelled(left) == left
