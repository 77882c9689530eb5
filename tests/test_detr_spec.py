"""DETR's spec without torch (issue 14): parameter and trainable counts against
../shared/reference/architectures.md section 5, `model` as a label, and the docs/language.md example."""

from __future__ import annotations

import re

import archgraph
from tests.conftest import ROOT

SPEC = ROOT / "specs/detr.arch"


def test_trainable_counts_follow_detr_main_py():
    """Section 5: R50 41,524,768 in all, 41,302,368 with requires_grad (stem conv 9,408 and layer1 212,992
    frozen); without training the backbone, its convolutions (23,454,912 in the breakdown) are frozen too."""
    data = archgraph.analyze(SPEC, "detr_r50")
    assert (data["params"], data["trainable_params"]) == (41_524_768, 41_524_768 - 9_408 - 212_992)
    fixed = archgraph.analyze(SPEC, "detr_r50", overrides={"train_backbone": False})
    assert fixed["trainable_params"] == 41_524_768 - 23_454_912


def test_model_is_a_label_and_keys_follow_hf():
    paths = {row["layer"] for row in archgraph.analyze(SPEC, "detr_r50", depth=3)["rows"]}
    assert {"model", "model.backbone", "model.input_projection", "model.encoder", "model.decoder"} <= paths


def test_the_language_docs_detr_example(tmp_path):
    """docs/language.md section 4's example; counts by hand: conv1 32 * 3 * 7 * 7 = 4,704 (frozen),
    conv2 32 * 32 * 3 * 3 = 9,216, input_projection 32 * 64 + 64 = 2,112; the frozen batch norm none."""
    text = (ROOT / "docs/language.md").read_text()
    block = re.search(r"```\n(block detr_core.*?)```", text, re.S).group(1)
    spec = tmp_path / "tiny_detr.arch"
    spec.write_text(block)
    data = archgraph.analyze(spec)
    assert (data["params"], data["trainable_params"]) == (4_704 + 9_216 + 2_112, 9_216 + 2_112)
    assert data["memory"]["buffers"] == {"model.position_embedding": 32 * 48 * 64}  # h*w tokens x D
