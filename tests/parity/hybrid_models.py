"""Spec models with a convolutional part, and the timm models test_hybrid_parity.py checks them against.

Shared with test_timm_parity.py, whose "every spec model has a reference" check reads it.
"""

from __future__ import annotations

# archgraph model -> (timm model, constructor kwargs)
CONV_TIMM = {
    "vit_r50_b16": ("vit_base_r50_s16_224", {"num_classes": 1000}),  # timm's default cfg is headless (in21k)
    "vit_r50_b16_384": ("vit_base_r50_s16_384", {}),
    "vit_r26_s32": ("vit_small_r26_s32_224", {}),
    "vit_r26_s32_384": ("vit_small_r26_s32_384", {}),
    "vit_r50_l32": ("vit_large_r50_s32_224", {}),
    "vit_r50_l32_384": ("vit_large_r50_s32_384", {}),
    # keys equal timm's, the shortcut's numbered downsample.0 / .1 included (archgraph/std/resnet.arch)
    "resnet50": ("resnet50", {}),
}
HYBRIDS = [name for name in CONV_TIMM if name != "resnet50"]
