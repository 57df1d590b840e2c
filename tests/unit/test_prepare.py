"""A model prepared for inference (stmanet.models.prepare) computes what the model computes,
compiles and exports, and leaves the model it was made from as it was."""

import pytest
import torch
from model_checks import assert_same_output, trained_looking
from torch import nn

from stmanet.engine.export import ExportedOutputs
from stmanet.models import create_model
from stmanet.models.attention import pool_half
from stmanet.models.fast import FastConv3x3x3, FastMaxPool3d
from stmanet.models.prepare import (
    PortableTemporalAggregation,
    averaging_matrix,
    pool_half_portable,
    prepare_for_inference,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def model(name="stmanet_r18_lite", seed=1, **overrides):
    torch.manual_seed(seed)
    return trained_looking(create_model(name, 5, **overrides)).eval()


@pytest.mark.parametrize("name,overrides", [("stmanet_r10", {"width": 0.5}),
                                            ("stmanet_r18_lite", {})])
@pytest.mark.parametrize("portable", [False, True])
@pytest.mark.parametrize("batch,frames,size", [(1, 16, 64), (1, 8, 56), (2, 8, 64)])
def test_the_prepared_model_computes_what_the_model_computes(name, overrides, portable, batch,
                                                             frames, size):
    plain = model(name, **overrides)
    prepared = prepare_for_inference(plain, "cpu", portable=portable)
    x = torch.randn(batch, 3, frames, size, size)
    with torch.no_grad():
        got, want = prepared(x), plain(x)
    assert_same_output(got, want)
    for a, b in zip(got.stage_features, want.stage_features, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_every_norm_after_a_convolution_is_folded_and_the_model_given_is_untouched():
    plain = model()
    keys = plain.state_dict().keys()
    prepared = prepare_for_inference(plain, "cpu")
    # what is left: the closing norms of the last TDA's fused aggregation branch (it follows a
    # ReLU, not a convolution)
    left = [n for n, m in prepared.named_modules() if isinstance(m, nn.BatchNorm3d)]
    assert left == ["temporal.3.agg_fuse_norm"]
    assert plain.state_dict().keys() == keys
    assert any(isinstance(m, nn.BatchNorm3d) for m in plain.backbone.layer1.modules())
    kinds = {type(m) for m in prepared.modules()}
    assert {FastConv3x3x3, FastMaxPool3d} <= kinds
    assert not any(p.requires_grad for p in prepared.parameters())
    assert not any(m.training for m in prepared.modules())  # else the fast forms stand aside


def test_the_portable_form_is_plain_pytorch():
    prepared = prepare_for_inference(model(), "cpu", portable=True)
    assert not any(type(m).__module__ == "stmanet.models.fast" for m in prepared.modules())
    assert any(type(m) is PortableTemporalAggregation for m in prepared.modules())


@pytest.mark.parametrize("shape", [(1, 2, 4, 7, 7), (2, 3, 5, 6, 9), (1, 1, 3, 3, 3)])
def test_matrix_pooling_is_the_adaptive_average_pool(shape):
    x = torch.randn(*shape)
    torch.testing.assert_close(pool_half_portable(x), pool_half(x), rtol=1e-6, atol=1e-6)
    assert averaging_matrix(7).sum(1).allclose(torch.ones(4))


def test_the_portable_form_exports_and_the_exported_program_agrees():
    plain = model()
    prepared = ExportedOutputs(prepare_for_inference(plain, "cpu", portable=True))
    x = torch.randn(1, 3, 8, 64, 64)
    program = torch.export.export(prepared, (x,))
    with torch.no_grad():
        got, want = program.module()(x), ExportedOutputs(plain)(x)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


_COMPILE_CHECK = """
import sys
import torch
sys.path.insert(0, {tests!r})
from model_checks import assert_same_output
from test_prepare import model
from stmanet.models.prepare import prepare_for_inference

plain = model()
compiled = torch.compile(prepare_for_inference(plain, "cpu", portable=True))
x = torch.randn(1, 3, 8, 64, 64)
with torch.no_grad():
    assert_same_output(compiled(x), plain(x))
print("compiled and agrees")
"""


@pytest.mark.slow
def test_the_portable_form_compiles():
    """In a process of its own: torch.compile's generated C++ is loaded into the process,
    and what the suite loaded before (Qt, OpenVINO's runtime) is no part of what is checked
    here (the program itself never compiles)."""
    import subprocess
    import sys
    from pathlib import Path

    script = _COMPILE_CHECK.format(tests=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiled and agrees" in done.stdout
