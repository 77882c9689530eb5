"""`archgraph load-weights` / `load_pretrained`: what fits loads, a position embedding of another grid
is resampled, and a checkpoint that does not fit is a report or a clear error, never a traceback."""

from __future__ import annotations

import os
import stat

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from archgraph.cli import main  # noqa: E402
from archgraph.pretrained import WeightsMismatchError  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

SPEC = ROOT / "specs" / "vit.arch"
SMALL = {"img_size": 32, "embed_dim": 32, "depth": 1, "num_heads": 2, "num_classes": 10}
SET = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]


def _cli(capsys, checkpoint, out, *extra):
    code = main(["load-weights", str(SPEC), str(checkpoint), "-o", str(out), *SET, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_checkpoint_of_another_resolution_loads_with_pos_embed_resampled(tmp_path, capsys):
    bigger = archgraph.build(SPEC, **{**SMALL, "img_size": 48})  # 1 + 3x3 tokens -> 1 + 2x2
    torch.save(bigger.state_dict(), tmp_path / "ckpt.pth")
    code, out, _ = _cli(capsys, tmp_path / "ckpt.pth", tmp_path / "out.pth")
    assert code == 0
    assert "resampled pos_embed: [1, 10, 32] -> [1, 5, 32]" in out
    # 1 block x 12 tensors + patch_embed.proj 2 + cls_token + pos_embed + norm 2 + head 2 = 20
    assert "missing (newly initialised): 0" in out and "loaded 20 of the model's 20 tensors" in out
    saved = torch.load(tmp_path / "out.pth", weights_only=True)
    torch.testing.assert_close(saved["blocks.0.attn.qkv.weight"], bigger.state_dict()["blocks.0.attn.qkv.weight"])
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.pth").stat().st_mode) == 0o666 & ~umask  # as `open` makes it, not 0600


@pytest.mark.parametrize(
    ("shape", "why"),
    [((1, 5, 16), "another width"), ((1, 6, 32), "6 tokens: no prefix plus square grid")],
)
def test_a_pos_embed_that_cannot_be_resampled_is_reported_not_loaded(tmp_path, capsys, shape, why):
    state = archgraph.build(SPEC, **SMALL).state_dict()
    state["pos_embed"] = torch.zeros(shape)
    torch.save(state, tmp_path / "ckpt.pth")
    code, out, err = _cli(capsys, tmp_path / "ckpt.pth", tmp_path / "out.pth")
    assert code == 1 and not (tmp_path / "out.pth").exists(), why
    assert "the model: 1 tensor of another shape\n" in err and "Traceback" not in err
    code, out, err = _cli(capsys, tmp_path / "ckpt.pth", tmp_path / "out.pth", "--partial")
    assert code == 0 and (tmp_path / "out.pth").exists(), why
    mismatch = f"shape mismatch, not loaded (newly initialised): 1 (pos_embed)\n  pos_embed: checkpoint {list(shape)}, "
    assert mismatch + "model [1, 5, 32]" in out
    assert "missing (newly initialised): 0" in out and "Traceback" not in err


def test_an_unreadable_checkpoint_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    for checkpoint in (tmp_path / "absent.pth", tmp_path / "garbage.pth"):
        code, _, err = _cli(capsys, checkpoint, tmp_path / "out.pth")
        assert code == 1 and f"error: cannot read checkpoint {checkpoint}" in err and "Traceback" not in err
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    code, _, err = _cli(capsys, tmp_path / "tensor.pth", tmp_path / "out.pth")
    assert code == 1 and "holds a Tensor, not a state_dict" in err
    assert not (tmp_path / "out.pth").exists()


def test_a_checkpoint_of_another_width_fails_with_a_short_summary_and_writes_nothing(tmp_path, capsys):
    """ViT-S weights into a ViT-Ti: every tensor but one has another shape (issue 16 saw 150 lines and exit 0)."""
    wider = archgraph.build(SPEC, **{**SMALL, "embed_dim": 64, "depth": 12})
    torch.save(wider.state_dict(), tmp_path / "ckpt.pth")
    code, out, err = _cli(capsys, tmp_path / "ckpt.pth", tmp_path / "out.pth", "--set", "depth=12")
    assert code == 1 and out == "" and not (tmp_path / "out.pth").exists()
    # 12 blocks x 12 tensors + patch_embed 2 + cls_token, pos_embed, norm 2, head weight: all but head.bias
    assert "the model: 151 tensors of another shape\n" in err and "loaded 1 of the model's 152 tensors" in err
    assert "  ... and 146 more" in err and len(err.splitlines()) < 15, err
    assert "nothing was written; --partial loads what fits" in err


def test_the_api_is_strict_unless_asked_and_a_failed_load_changes_nothing():
    model = archgraph.build(SPEC, **SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = archgraph.build(SPEC, **SMALL).state_dict()
    state["extra.weight"] = torch.zeros(2)
    del state["head.bias"]
    with pytest.raises(WeightsMismatchError) as failed:
        archgraph.load_pretrained(model, state)
    assert failed.value.report.unexpected == ["extra.weight"] and failed.value.report.missing == ["head.bias"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    report = archgraph.load_pretrained(model, state, strict=False)
    assert not report.complete and len(report.loaded) == len(before) - 1
    torch.testing.assert_close(model.state_dict()["head.weight"], state["head.weight"])


@pytest.mark.parametrize(
    ("arguments", "said"),
    [(("model", "vit.pt"), "found the path 'vit.pt'; read it first"), (("model", None), "found NoneType"),
     (("model", [1]), "found list"), (("vit.pt", "state_dict"), "model: expected a torch.nn.Module, found str"),
     (("model", "state_dict", "no"), "strict: expected true or false, found 'no'")],
)  # fmt: skip
def test_the_api_checks_its_arguments(arguments, said):
    """A path where the state_dict goes (an easy mistake), a model that is not one, a strict flag that is not
    a bool: an ArgumentError (a ValueError and TypeError) that says which, never an AttributeError from inside."""
    model = archgraph.build(SPEC, **SMALL)
    given = {"model": model, "state_dict": model.state_dict()}
    with pytest.raises(archgraph.ArgumentError, match=said):
        archgraph.load_pretrained(*(given.get(a, a) if isinstance(a, str) else a for a in arguments[:2]),
                                  *arguments[2:])  # fmt: skip
    assert archgraph.WeightsMismatchError is WeightsMismatchError


@pytest.mark.parametrize(
    ("options", "said"),
    [({"device": "gpu"}, "device='gpu': not a device torch knows"), ({"dtype": "bfloat16"}, r"\(torch.bfloat16\)"),
     ({"dtype": 16}, "dtype: expected a torch.dtype")],
)  # fmt: skip
def test_build_checks_device_and_dtype_before_building(options, said):
    with pytest.raises(archgraph.ArgumentError, match=said):
        archgraph.build(SPEC, **SMALL, **options)
    if not torch.cuda.is_available():
        with pytest.raises(archgraph.ArgumentError, match="device='cuda': no CUDA device here"):
            archgraph.build(SPEC, **SMALL, device="cuda")
