"""Code generation details that need no torch: identifiers, class sharing, loops, escaping."""

from __future__ import annotations

import ast

import pytest

from archgraph.check import check
from archgraph.codegen import generate
from archgraph.codegen.forward import Stmt
from archgraph.codegen.names import Namespace, camel, sanitize
from archgraph.codegen.view import _arguments
from archgraph.loader import load
from archgraph.lower import lower
from tests.test_language import LIB, compile_text


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [("x", "x"), ("lambda", "lambda_"), ("input", "input_"), ("1st_stage", "_1st_stage"), ("a-b", "a_b"),
     ("self", "self_"), ("torch", "torch_"), ("__class__", "v__class__"), ("match", "match_"), ("", "v")],
)  # fmt: skip
def test_sanitize(candidate, expected):
    assert sanitize(candidate) == expected


def test_namespace_never_collides():
    ns = Namespace({"x"})
    assert [ns.create("x"), ns.create("x"), ns.create("lambda")] == ["x_1", "x_2", "lambda_"]


def test_a_class_name_taken_again_gets_letters_never_a_number():
    classes = Namespace({"Mlp"}, classes=True)
    names = [classes.create("Mlp") for _ in range(27)]
    assert names[:2] == ["MlpB", "MlpC"] and names[24:] == ["MlpZ", "MlpBA", "MlpBB"]
    assert len(set(names)) == 27 and not any(name[-1].isdigit() for name in names)


def test_camel():
    assert camel("encoder_block") == "EncoderBlock"
    assert camel("vit_b16") == "VitB16"


def source(tmp_path, text: str) -> str:
    code = generate(compile_text(tmp_path, text), "spec.arch")
    ast.parse(code)
    return code


def test_identical_blocks_share_a_class_and_loop(tmp_path):
    code = source(tmp_path, LIB + "model m() { input x: [B, 4, 8] return blocks: repeat 12 mlp(x, 16) }")
    assert code.count("class Mlp(") == 1
    assert "nn.Sequential(*[Mlp(16, 8, **dd) for _ in range(12)])" in code


def test_instances_differ_by_arguments_not_by_class(tmp_path):
    """One class per block: its sizes are its parameters (`hidden`) and input widths (`dim`)."""
    code = source(tmp_path, LIB + "model m() { input x: [B, 4, 8] h = a: mlp(x, 16) return b: mlp(h, 32) }")
    assert code.count("class Mlp(") == 1 and "class Mlp2" not in code
    assert "def __init__(self, hidden: int, dim: int, *, device=None, dtype=None)" in code
    assert "self.fc1 = nn.Linear(dim, hidden, **dd)" in code and "self.fc2 = nn.Linear(hidden, dim, **dd)" in code
    assert "self.a = Mlp(16, 8, **dd)" in code and "self.b = Mlp(32, 8, **dd)" in code


def test_a_block_whose_instances_differ_in_structure_gets_a_named_variant(tmp_path):
    """Each instance has a layer the other lacks (`ln`, `proj`): no optional sub-chain, two classes."""
    text = (
        "block b(x: [B, C], norm: bool) { if norm { x = ln: layer_norm(x) } else { x = proj: linear(x, C) }\n"
        "    return fc: linear(x, 8) }\n"
        "model m() { input x: [B, 8] return b2: b(b1: b(x, true), false) }"
    )
    code = source(tmp_path, text)
    names = [n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)]
    assert names == ["B", "BProj", "M"]


def test_instances_differing_by_an_optional_layer_share_one_class(tmp_path):
    """`if norm { x = ln(x) }`: one class taking `norm`, the layer built under it, forward choosing."""
    text = (
        "block b(x: [B, C], norm: bool) { if norm { x = ln: layer_norm(x) } return fc: linear(x, 8) }\n"
        "model m() { input x: [B, 8] return b2: b(b1: b(x, true), false) }"
    )
    code = source(tmp_path, text)
    names = [n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)]
    assert names == ["B", "M"]
    assert "self.ln = None\n        if norm:\n            self.ln = nn.LayerNorm(" in code
    assert "x = x if self.ln is None else self.ln(x)" in code
    assert "self.b1 = B(True, 8, **dd)" in code and "self.b2 = B(False, 8, **dd)" in code


def test_an_optional_shortcut_is_one_class_as_timms_bottleneck(tmp_path):
    """A shortcut projected in one instance and the identity in the others (ResNet's downsample)."""
    text = (
        "block b(x: [B, C], down: bool = false) { shortcut = x\n"
        "    if down { shortcut = proj: linear(x, 8) }\n"
        "    return fc: linear(x, 8) + shortcut }\n"
        "model m() { input x: [B, 4] x = b1: b(x, true) return b3: b(b2: b(x)) }"
    )
    code = source(tmp_path, text)
    assert [n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)] == ["B", "M"]
    assert "shortcut = x if self.proj is None else self.proj(x)" in code
    assert "if self.proj is not None:" in code  # init_weights skips the absent layer
    assert "self.b1 = B(4, down=True, **dd)" in code and "self.b2 = B(8, **dd)" in code


def test_resnet50_has_one_bottleneck_class():
    """Issue 13's bar: at most 4 classes in generated/resnet50.py (timm's resnet.py: one Bottleneck)."""
    from tests.conftest import ROOT

    tree = ast.parse((ROOT / "generated" / "resnet50.py").read_text())
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == ["Bottleneck", "Resnet50"]


def test_taps_use_a_module_list(tmp_path):
    code = source(
        tmp_path, LIB + "model m() { input x: [B, 4, 8] y = blocks: repeat 3 mlp(x, 16) return blocks[0] + y }"
    )
    assert "nn.ModuleList(" in code and "blocks_out.append(y)" in code and "return blocks_out[0] + y" in code


def test_hostile_block_docs_cannot_escape_the_docstring(tmp_path):
    text = (
        'block b(x) { """evil \\"\\"\\" + print(1) + "\\" ok""" return x }\nmodel m() { input x: [B, 8] return b(x) }'
    )
    code = generate(compile_text(tmp_path, text), "spec.arch")
    tree = ast.parse(code)
    (block,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "B"]
    assert ast.get_docstring(block, clean=False) == 'evil \\"\\"\\" + print(1) + "\\" ok'
    kinds = (ast.Expr, ast.Import, ast.ImportFrom, ast.Assign, ast.ClassDef)
    assert all(isinstance(n, kinds) or (isinstance(n, ast.FunctionDef) and n.name == "m") for n in tree.body)
    assert sum(isinstance(n, ast.Expr) for n in tree.body) == 1  # the module docstring, nothing else


def test_hostile_names_and_docs_are_escaped(tmp_path):
    text = (
        "block class(x) { return fc: linear(x, 2) }\n"
        'model lambda() { input x: [B, 8]\n return class(x) }\nmodel v = lambda() "evil \\"\\"\\" doc"'
    )
    code = generate(compile_text(tmp_path, text, model="v"), "spec.arch")
    tree = ast.parse(code)
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == ["Class", "V"]
    assert "self.class_ = Class(**dd)" in code  # an automatic label is made safe; a written one must be


def test_header_is_deterministic_and_marked(tmp_path):
    code = source(tmp_path, LIB + "model m() { input x: [B, 4, 8] return mlp(x, 16) }")
    assert code.startswith("# Generated by archgraph from spec.arch (model `m`). DO NOT EDIT.\n")
    assert "@generated" in code.splitlines()[2]


def test_automatic_names_never_shadow_module_attributes(tmp_path):
    """An unlabelled call is named after its block; a block named `forward` must not replace the method."""
    text = (
        "block forward(x) { return fc: linear(x, 8) }\nblock training(x) { return fc: linear(x, 8) }\n"
        "block __init__(x) { return fc: linear(x, 8) }\n"
        "model m() { input x: [B, 8] return training(forward(__init__(x))) }"
    )
    code = source(tmp_path, text)
    assert "self.forward_ = Forward(**dd)" in code and "self.training_ = Training(**dd)" in code
    assert "self.v__init__ = VInit(**dd)" in code
    assert "self.forward =" not in code and "self.training =" not in code


CONCAT = "model m() { input x: [B, 4, 8] return concat(cls_token: parameter([1, 1, 16]), fc: linear(x, 16)) }"


def test_a_value_read_twice_by_one_call_is_computed_once(tmp_path):
    """concat reads its batch source twice (`.expand(<x>.shape[0], ...)` and the element): never inline it."""
    code = source(tmp_path, CONCAT)
    assert code.count("self.fc(x)") == 1
    assert "h = self.fc(x)" in code and "self.cls_token.expand(h.shape[0], -1, -1), h]" in code


@pytest.mark.torch  # builds and runs the module: not in the torch-free subset
def test_a_value_read_twice_by_one_call_counts_its_flops_once(tmp_path):
    torch = pytest.importorskip("torch")
    import archgraph
    from tests.torch.tiny import flop_count

    (tmp_path / "spec.arch").write_text(CONCAT)
    model = archgraph.build(tmp_path / "spec.arch", "m").eval()
    assert flop_count(model, torch.randn(1, 4, 8)) == archgraph.analyze(tmp_path / "spec.arch", "m")["flops"] == 1024


def test_loop_locals_never_overwrite_a_live_value(tmp_path):
    """A tapped repeat keeps its outputs in `<attr>_out`: a value of that name, live across the loop, is renamed."""
    text = (
        "block b(x) { return fc: linear(x, 8) }\n"
        "model m() { input x: [B, 4, 8] blocks_out = fc0: linear(x, 8) y = blocks: repeat 3 b(x)\n"
        "    return blocks[0] + y + blocks_out }"
    )
    code = source(tmp_path, text)
    assert "blocks_out_1 = self.fc0(x)" in code and "blocks_out = []" in code
    assert "return blocks_out[0] + y + blocks_out_1" in code


def test_a_loop_variable_is_reserved():
    assert sanitize("block") == "block_"


def test_forward_arguments_are_distinct(tmp_path):
    """`lambda` is made `lambda_`: an input already called `lambda_` must not get the same name."""
    text = (
        "block b(lambda: [B, 8], lambda_: [B, 8]) { return lambda * 2 + lambda_ }\n"
        "model m() { input x: [B, 8] input y: [B, 8] return b(x, y) }"
    )
    code = source(tmp_path, text)
    assert "def forward(self, lambda_: torch.Tensor, lambda__1: torch.Tensor)" in code
    assert "return lambda_ * 2 + lambda__1" in code


def test_forward_arguments_avoid_the_loop_locals():
    loop = Stmt([], [], [], [], [], locals=("blocks_out",))
    assert _arguments(["blocks_out", "x", "x"], [loop]) == ["blocks_out_1", "x", "x_1"]


def test_no_generated_class_is_numbered():
    """A class name ends in a digit only when the block's or model's own name does (`Layer1`,
    `VitB16`), or a variant's name ends with the layer that differs (`AttendNoLayernorm2`: an
    `Attend` without its `layernorm2`): instances differ by arguments, and variants are named
    after what differs."""
    import re

    from tests.conftest import ROOT

    spec_files = [*(ROOT / "specs").rglob("*.arch"), *(ROOT / "archgraph" / "std").rglob("*.arch")]
    spec_text = "\n".join(p.read_text() for p in spec_files)
    own_names = {camel(word) for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", spec_text)}
    for path in sorted((ROOT / "generated").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name[-1].isdigit():
                variant = re.fullmatch(r"([A-Z][A-Za-z0-9]*?)(?:No)?([A-Z][a-z]*\d+)", node.name)
                named_after_a_layer = variant is not None and {variant[1], variant[2]} <= own_names
                assert node.name in own_names or named_after_a_layer, (path.name, node.name)


@pytest.mark.parametrize(
    "statement",
    [
        "self.blocks = nn.ModuleList([ClassAttentionBlock(16, 768, mlp_ratio=mlp_ratio_token_only, "
        "init_values=init_values, norm_eps=norm_eps, **dd) for _ in range(depth_token_only)])",
        "(q, k, v) = F.linear(x, self.in_proj_weight, self.in_proj_bias).unflatten(-1, (3, self.num_heads, -1))"
        ".permute(2, 0, 3, 1, 4).unbind(0)",
        "x = checkpoint(block, x, memory, tgt_mask, memory_mask, use_reentrant=False) if checkpointed "
        "else block(x, memory, tgt_mask, memory_mask)",
        "nn.init.normal_(self.sr.weight, std=(2 / (self.sr.kernel_size[0] * self.sr.kernel_size[1] * "
        "self.sr.out_channels // self.sr.groups)) ** 0.5)",
        "return (a + b) * (c - d) * (eeeeeeeeeeeeeeeeeeeeeeee + ffffffffffffffffffffffffffff) - "
        "gggggggggggggggggggggggggggggg ** (h - i)",
        "return {'logits': self.class_labels_classifier(h), 'pred_boxes': "
        "torch.sigmoid(self.bbox_predictor(h)), 'aux': h}",
    ],
)
def test_long_statements_are_split_within_100_characters_to_the_same_code(statement):
    """The generator's line splitting (layout._wrap): every line within 100 characters, the
    statement unchanged (these are the kinds of line generated/ held over 100 characters)."""
    from archgraph.codegen.layout import _wrap

    line = "        " + statement
    lines = _wrap(line)
    assert len(lines) > 1 and all(len(x) <= 100 for x in lines), lines
    assert not any(x.rstrip().endswith("((") for x in lines), lines  # a nested operation parenthesized once
    text = "\n".join(x[8:] for x in lines)
    assert ast.dump(ast.parse(text)) == ast.dump(ast.parse(statement))


def test_stages_differing_only_in_listed_widths_share_one_class(tmp_path):
    """A group repeat whose iterations take their widths from a list (no formula of the block's
    parameters gives `widths[i]`) is one class with those widths as arguments (codegen/lift.py),
    not a class per iteration; the model builds them in a loop indexing its list (codegen/loops.py),
    the first stage's input width its own, as timm writes a stage loop."""
    text = (
        "model m(widths = [8, 16, 32]) { input x: [B, 4]\n"
        "    stages: repeat 3 as i { x = gelu(fc: linear(x, widths[i])) }\n"
        "    return head: linear(x, 2) }"
    )
    code = source(tmp_path, text)
    classes = [n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)]
    assert classes == ["Stages", "M"], classes
    assert "[Stages(4 if i == 0 else widths[i - 1], widths[i], **dd) for i in range(len(widths))]" in code
    assert "widths: tuple = (8, 16, 32)" in code
    assert "nn.Linear(fc_in_features, fc_out_features, **dd)" in code


def test_a_flag_an_integer_parameter_sets_fits_as_the_specs_condition():
    """`sr_ratio > 1` from PVT's stages (sr_ratios 8, 4, 2, 1); never a bound two lists meet by
    chance (num_heads 1, 2, 5, 8 would give `num_heads < 8`)."""
    from archgraph.codegen.fit import Fitter

    envs = [
        {"num_heads": h, "sr_ratio": r, "i": i} for i, (h, r) in enumerate(zip([1, 2, 5, 8], [8, 4, 2, 1], strict=True))
    ]
    fitter = Fitter(envs, ["num_heads", "sr_ratio", "i"])
    assert fitter.formula((True, True, True, False), True) == "sr_ratio > 1"
    assert fitter.formula((True, False, False, False), True) == "i == 0"
    assert fitter.formula((False, True, True, True), True) == "i > 0"
    assert fitter.formula((True, False, True, False), True) is None


# A model family's definition: a block in a repeat, a flag that adds a layer; the tests add its variants.
FAMILY = (
    "block b(x: [B, C]) { return x + gelu(fc: linear(x, C)) }\n"
    "model m(width = 16, depth = 2, extra = false) { input x: [B, 4]\n"
    "    x = blocks: repeat depth b(stem: linear(x, width))\n"
    "    if extra { x = gelu(post: linear(x, width)) }\n"
    "    return head: linear(x, 2) }\n"
)


def _lowered(tmp_path, text: str) -> list:
    """Every model of the spec `text` (written as family.arch, loaded and checked), lowered at its defaults."""
    path = tmp_path / "family.arch"
    path.write_text(text)
    program = load(path)
    check(program)
    return [lower(program, name, {}) for name in program.models]


def test_a_family_is_one_class_named_after_the_definition_it_varies(tmp_path):
    """Models that vary one definition (`model m_small = m(width = 8)`) are one class named after it,
    every model an entry function, as timm's `VisionTransformer` and `vit_base_patch16_224()`; a
    second class set apart by a flag its models turn on is named by the flag (DeiT's `VitDistilled`)."""
    from archgraph.codegen import generate_file

    variants = (
        'model m_small = m(width = 8) "small"\n'
        'model m_large = m(width = 32, depth = 3) "large"\n'
        'model m_small_extra = m_small(extra = true) "small, extra"\n'
        'model m_large_extra = m_large(extra = true) "large, extra"\n'
    )
    graphs = [g for g in _lowered(tmp_path, FAMILY + variants) if g.name != "m"]  # the four that vary `m`
    tree = ast.parse(generate_file(graphs, "family.arch"))
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    entries = {n.name: n.returns.id for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert classes == ["B", "M", "MExtra"], classes
    assert entries == {"m_small": "M", "m_large": "M", "m_small_extra": "MExtra", "m_large_extra": "MExtra"}


def test_models_that_cannot_share_classes_get_each_their_own_merged(tmp_path, monkeypatch, no_disk_cache):
    """When the classes fitted over all of a file's models are not distinct (a model's class split in
    two), each model's classes are fitted alone and merged: every model is then a class of its own
    or an entry function calling the class of a model that differs only in defaults."""
    import archgraph.codegen as codegen
    from archgraph.codegen import families
    from archgraph.codegen.assemble import merge

    variants = 'model m_small = m(width = 8) "small"\nmodel m_small_extra = m_small(extra = true) "small, extra"\n'
    graphs = _lowered(tmp_path, FAMILY + variants)
    fitted = codegen.generate_file(graphs, "family.arch")
    merged_models = []
    monkeypatch.setattr(families, "_distinct", lambda result: False)
    monkeypatch.setattr(families, "merge", lambda names, results: merged_models.append(names) or merge(names, results))
    code = codegen.generate_file(graphs, "family.arch")
    assert merged_models == [["m", "m_small", "m_small_extra"]]
    assert code == fitted  # here the two ways agree
    tree = ast.parse(code)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    entries = {n.name: n.returns.id for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert classes == ["B", "M", "MSmallExtra"], classes
    assert entries == {"m": "M", "m_small": "M", "m_small_extra": "MSmallExtra"}, entries  # one per model
    assert "model_args = dict(width=8)" in code


def test_a_parameter_declared_float_is_fitted_as_one(tmp_path):
    """A block parameter declared `float` and given integers (`mlp_ratios: [8, 8, 4, 4]` into `mlp_ratio:
    float`) is fitted as a float, so its formulas hold for any ratio a caller passes: `int(C * ratio)` as
    timm and Hugging Face write it, not `C * ratio` (a float width for ratio 4.5); its default reads 4.0."""
    text = (
        "block mlp(x: [B, C], ratio: float = 4) { return fc2: linear(gelu(fc1: linear(x, C * ratio)), C) }\n"
        "model m(width = 16, ratio = 2) { input x: [B, 4]\n"
        "    return head: linear(mlp(stem: linear(x, width), ratio), 2) }\n"
    )
    code = source(tmp_path, text)
    assert "ratio: float = 4.0" in code and "nn.Linear(C, int(C * ratio), **dd)" in code, code


def test_a_ratio_given_as_an_integer_by_one_model_shares_the_float_class(tmp_path):
    """A parameter one model gives as an integer (`mlp_ratio = 4`) and another as a float (`4.5`; the
    definition's default is `4.0`) is a float in the classes they share (`mlp_ratio: float`,
    `int(dim * mlp_ratio)`), not a class per type; the integer model's entry passes it as a float."""
    from archgraph.codegen import generate_file

    small = "embed_dim = 64, depth = 2, num_heads = 2, img_size = 32, patch_size = 8, num_classes = 10"
    text = (f'import "std/vit.arch"\nmodel whole = vit({small}, mlp_ratio = 4) "an integer ratio"\n'
            f'model wide = vit({small}, mlp_ratio = 4.5) "a fractional ratio"\n')  # fmt: skip
    code = generate_file(_lowered(tmp_path, text), "family.arch")
    tree = ast.parse(code)
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == [
        "PatchEmbed", "Attention", "Mlp", "EncoderBlock", "Vit"]  # fmt: skip
    assert "mlp_ratio: float = 4.0" in code and "int(dim * mlp_ratio)" in code and "mlp_ratio: int" not in code
    assert "model_args = dict(mlp_ratio=4.5)" in code


@pytest.mark.parametrize(
    ("values", "formula"),
    [
        ((512**0.5, 1024**0.5), "d_model ** 0.5"),  # the Transformer's embedding scale, sqrt(d_model)
        ((512**-0.5, 1024**-0.5), "d_model ** -0.5"),  # its embedding's init std
        ((48**-0.5, 96**-0.5), "(dim // num_heads) ** -0.5"),  # an attention head's scale (CaiT)
    ],
)
def test_square_roots_of_sizes_fit_as_formulas(values, formula):
    """A width's square root is a formula of the sizes, not a magic float, so models that differ in
    width share a class (CaiT's ten variants one class; the Transformer base and big one)."""
    from archgraph.codegen.fit import Fitter

    envs = [{"d_model": 512, "dim": 192, "num_heads": 4}, {"d_model": 1024, "dim": 384, "num_heads": 4}]
    fitter = Fitter(envs, ["d_model", "dim", "num_heads"])
    assert fitter.formula(values, True) == formula


def test_a_lifted_size_is_named_after_the_parameter_it_fills(tmp_path):
    """A stage's per-stage sizes, lifted into arguments (`lift.py`), take the names of the block
    parameters they are passed to and `depth` for a repeat's count, not `size`, `size_1`."""
    text = (
        "block blk(x: [B, C], mult: int) { return x + fc2: linear(gelu(fc1: linear(x, C * mult)), C) }\n"
        "model m(depths = [1, 2, 3], mults = [2, 4, 3]) { input x: [B, 8]\n"
        "    stages: repeat 3 as i { x = blocks: repeat (depths[i]) blk(x, mults[i]) }\n"
        "    return head: linear(x, 2) }"
    )
    code = source(tmp_path, text)
    assert "nn.Sequential(*[Blk(mult, 8, **dd) for _ in range(depth)])" in code
    assert "Stages(mults[i], depths[i], grad_checkpointing=grad_checkpointing, **dd)" in code


def test_names_a_sibling_refused_are_tried_last_with_the_same_result(tmp_path, monkeypatch):
    """A model's trials try the names its file's earlier models did not keep one by one, after the
    others (`families._Trials.kept`): fewer builds than finding them again by halving, and the same
    lowerings kept in the same order, so the same classes."""
    from archgraph.codegen import families
    from archgraph.codegen.memo import Views

    text = (
        "block b(x: [B, C]) { return x + gelu(fc: linear(x, C)) }\n"
        "model m(width = 16, depth = 2, k = 3, classes = 2, hidden = 8) { input x: [B, 4]\n"
        "    x = blocks: repeat depth b(stem: linear(x, width))\n"
        "    if k == 3 { x = gelu(post: linear(x, hidden)) }\n"
        "    return head: linear(x, classes) }\n"
    )
    (graph,) = _lowered(tmp_path, text)
    numeric, lists = families._tried(graph)
    trials = []
    for refused in (set(), {"k"}):
        views = Views()
        shape = families._names(families.build([graph], set(), views, write=False))
        found = families._Trials(graph, shape, {*numeric, *lists}, views)
        builds: list[int] = []
        monkeypatch.setattr(found, "_keeps", lambda graphs, keeps=found._keeps, n=builds: n.append(1) or keeps(graphs))
        graphs, allowed = found.kept([*numeric, *lists], set(lists), refused)
        trials.append(([g.params for g in graphs], allowed, len(builds)))
    (alone, allowed, halving), (again, allowed_again, ordered) = trials
    assert "k" not in allowed and {"width", "depth", "classes", "hidden"} <= allowed, allowed
    assert (again, allowed_again) == (alone, allowed)
    assert ordered < halving, (ordered, halving)
