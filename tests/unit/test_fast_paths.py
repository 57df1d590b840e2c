"""The CPU fast paths (stmanet.models.fast) compute what the plain model computes."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_checks import assert_same_output, trained_looking
from torch import nn

from stmanet.bundled import bundled_demo_model, bundled_demo_video
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.inference import Predictor
from stmanet.models import create_model
from stmanet.models.attention import SpatialAggregation, TemporalAggregation, pool_half
from stmanet.models.fast import (
    FastConv3x3x3,
    FastSpatialAggregation,
    FastTemporalAggregation,
    use_cpu_fast_paths,
    use_plain_forms,
)
from stmanet.models.fast import pool_half as fast_pool_half

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REFERENCE = Path(__file__).parent / "data" / "demo_predictions.json"


@pytest.mark.parametrize("batch_size", [1, 8])
def test_the_demo_model_predicts_the_demo_video_as_it_always_has(batch_size):
    """Every window of resources/videos/demo.mp4: the same top-1 label, and every class's
    score within 1e-4 of the ones recorded before the model was rewritten."""
    reference = json.loads(REFERENCE.read_text())["windows"]
    predictor = Predictor(load_checkpoint(bundled_demo_model()), batch_size=batch_size, top_k=10)
    windows = predictor.predict(bundled_demo_video()).windows
    assert [w.start_frame for w in windows] == [r["start_frame"] for r in reference]
    assert [w.label for w in windows] == [r["labels"][0] for r in reference]
    for got, want in zip(windows, reference, strict=True):
        scores = dict(zip(got.labels, got.scores, strict=True))
        np.testing.assert_allclose([scores[label] for label in want["labels"]], want["scores"],
                                   rtol=0, atol=1e-4)


@pytest.mark.parametrize("name,overrides", [("stmanet_r10", {"width": 0.5}),
                                            ("stmanet_r18_lite", {})])
@pytest.mark.parametrize("batch,frames,size", [(1, 16, 64), (1, 8, 56), (2, 8, 64)])
def test_the_fast_model_computes_what_the_plain_model_computes(name, overrides, batch, frames,
                                                               size):
    """Even sizes (pair-sum pooling) and odd ones (7x7 stages, adaptive pooling); one clip
    (oneDNN's 3x3x3 convolutions) and two."""
    torch.manual_seed(1)
    plain = trained_looking(create_model(name, 5, **overrides)).eval()
    fast = use_cpu_fast_paths(copy.deepcopy(plain))
    assert {type(m) for m in fast.modules()} >= {FastTemporalAggregation, FastSpatialAggregation,
                                                 FastConv3x3x3}
    assert fast.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(batch, 3, frames, size, size)
    with torch.no_grad():
        assert_same_output(fast(x), plain(x))
    with torch.inference_mode():
        assert_same_output(fast(x), plain(x))


def test_switching_back_and_forth_keeps_the_weights_and_the_answer():
    torch.manual_seed(2)
    model = trained_looking(create_model("stmanet_r18_lite", 5)).eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        before = model(x)
        use_cpu_fast_paths(use_cpu_fast_paths(model))  # twice: no harm
        fast = model(x)
        use_plain_forms(model)
        after = model(x)
    assert not any(type(m).__module__ == "stmanet.models.fast" for m in model.modules())
    assert_same_output(fast, before)
    torch.testing.assert_close(after.logits, before.logits, rtol=0, atol=0)


def test_a_fast_model_in_training_is_the_plain_model():
    """Training mode or gradient enabled: the plain forward, gradients and all."""
    torch.manual_seed(3)
    plain = create_model("stmanet_r10", 5, width=0.25)
    fast = use_cpu_fast_paths(copy.deepcopy(plain))
    x = torch.randn(1, 3, 8, 56, 56)
    for model in (plain, fast):
        torch.manual_seed(0)  # the same dropout
        model(x).logits.sum().backward()
    for (name, p), q in zip(plain.named_parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("channels,size", [(16, 8), (64, 2)])  # many positions / few positions
@pytest.mark.parametrize("last", [False, True])
def test_fast_temporal_aggregation(channels, size, last):
    torch.manual_seed(4)
    plain = trained_looking(TemporalAggregation(channels, channels // 2, channels, qk_dim=4,
                                                value_dim=8, last=last)).eval()
    fast = use_cpu_fast_paths(copy.deepcopy(plain))
    assert type(fast) is FastTemporalAggregation
    z = torch.randn(2, channels, 4, size, size)
    g = torch.randn(2, channels // 2, 4, size, size)
    with torch.no_grad():
        for a, b in zip(fast(z, g), plain(z, g), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [7, 8])
def test_fast_spatial_aggregation(size):
    torch.manual_seed(5)
    plain = trained_looking(SpatialAggregation(32, qk_dim=4, value_dim=8)).eval()
    fast = use_cpu_fast_paths(copy.deepcopy(plain))
    assert type(fast) is FastSpatialAggregation
    z = torch.randn(1, 32, 4, size, size)
    with torch.no_grad():
        for a, b in zip(fast(z), plain(z), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 4, 6, 8), (1, 2, 4, 7, 7), (1, 2, 1, 4, 4)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_pair_sum_pooling_is_the_plain_average_pool(shape, layout):
    x = torch.randn(shape).contiguous(memory_format=layout)
    torch.testing.assert_close(fast_pool_half(x), pool_half(x))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [7, 14])
def test_onednn_3x3x3_convolution_is_nn_conv3d(stride, size):
    torch.manual_seed(6)
    conv = nn.Conv3d(16, 24, kernel_size=3, stride=stride, padding=1, bias=False)
    fast = use_cpu_fast_paths(copy.deepcopy(conv))
    assert type(fast) is FastConv3x3x3
    x = torch.randn(1, 16, 4, size, size)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), conv(x), rtol=1e-4, atol=1e-5)
