"""The network: shapes, switches, zero-start equivalence, attention and losses."""

import itertools

import pytest
import torch

from stmanet.config import ModelConfig
from stmanet.errors import ConfigError
from stmanet.models import (
    ResNet3D,
    STMANet,
    create_model,
    list_models,
    model_config,
    stmanet_loss,
)
from stmanet.models.losses import align_spatial, diversity, spatial_diversity, temporal_diversity

TINY = {"width": 0.125}  # 8 channels at the stem: every depth runs in milliseconds


def clip(batch: int = 2, frames: int = 16, size: int = 32) -> torch.Tensor:
    return torch.randn(batch, 3, frames, size, size)


@pytest.mark.parametrize("depth", [10, 18, 34, 50, 101])
def test_every_depth_gives_logits_and_four_stages(depth):
    model = create_model(f"stmanet_r{depth}", 7, **TINY).eval()
    with torch.no_grad():
        out = model(clip())
    expansion = 4 if depth >= 50 else 1
    assert out.logits.shape == (2, 7)
    assert [f.shape[1] for f in out.stage_features] == [c * expansion for c in (8, 16, 32, 64)]
    assert out.stage_sizes == [(8, 8, 8), (4, 4, 4), (2, 2, 2), (1, 1, 1)]


@pytest.mark.parametrize("tda,sda,mf", list(itertools.product([False, True], repeat=3)))
def test_every_switch_combination(tda, sda, mf):
    model = create_model("stmanet_r18", 5, tda=tda, sda=sda, mf=mf, **TINY).eval()
    with torch.no_grad():
        out = model(clip(frames=32, size=64))
    assert out.logits.shape == (2, 5)
    sizes = [(16, 16, 16), (8, 8, 8), (4, 4, 4), (2, 2, 2)]
    assert out.stage_sizes == sizes
    for a_s, a_t, (t, h, w) in zip(out.spatial_attention, out.temporal_attention, sizes,
                                   strict=True):
        assert (a_s is not None) == sda and (a_t is not None) == tda
        if sda:
            assert a_s.shape == (2, h * w, h * w)
        if tda:
            assert a_t.shape == (2, t, t)
    channels = [8, 16, 32, 64]
    assert model.head.fc.in_features == (sum(channels) if mf else channels[-1])


def test_baseline_is_the_plain_backbone():
    model = create_model("r3d50", 101)
    assert model.config.is_baseline
    names = set(model.state_dict())
    assert all(n.startswith(("backbone.", "head.")) for n in names)
    assert "backbone.layer1.0.conv3.weight" in names
    assert {n for n in names if n.startswith("head.")} == {"head.fc.weight", "head.fc.bias"}
    assert model.head.fc.weight.shape == (101, 2048)  # stage 5 only


def test_reference_figures_of_r3d50():
    # Hara et al.'s 3D ResNet-50 with 101 classes: 46.41 M parameters
    model = create_model("r3d50", 101)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 46.41


def plain_resnet_of(model: STMANet) -> ResNet3D:
    """Hara et al.'s plain network (ResNet3D.forward) with the model's 3D ResNet weights and the
    stage-5 block of its classifier as their `fc`."""
    cfg = model.config
    plain = ResNet3D(cfg.depth, width=cfg.width, num_classes=cfg.num_classes).eval()
    fc = model.head.fc
    plain.load_state_dict({**model.backbone.state_dict(),
                           "fc.weight": fc.weight[:, -model.backbone.stage_channels[-1]:],
                           "fc.bias": fc.bias})
    return plain


@pytest.mark.parametrize("name", ["stmanet_r18", "stmanet_r50", "r3d18"])
def test_fresh_stmanet_predicts_exactly_what_its_backbone_does(name):
    model = create_model(name, 6, **TINY).eval()
    x = clip(frames=32, size=64)
    with torch.no_grad():
        full = model(x).logits
        bare = plain_resnet_of(model)(x)
    torch.testing.assert_close(full, bare, rtol=0, atol=1e-6)
    # the stage 2-4 columns start at zero; stage 5's as a plain classifier's would
    c5 = model.backbone.stage_channels[-1]
    weight = model.head.fc.weight
    assert not weight[:, :-c5].any()
    assert weight[:, -c5:].abs().max() <= c5 ** -0.5 and weight[:, -c5:].std() > 0.2 * c5 ** -0.5


def test_the_classifier_is_one_linear_map_over_the_pooled_stages():
    """Multi-level fusion as docs/model.md writes it: logits = W [GAP(Z2); ...; GAP(Z5)] + b,
    with dropout (off in eval) before it; with MF off, W reads stage 5 only."""
    for mf in (True, False):
        model = create_model("stmanet_r18", 5, mf=mf, **TINY).eval()
        with torch.no_grad():
            model.head.fc.weight.normal_()  # a trained-looking head: every stage counts
        x = clip(frames=32, size=64)
        with torch.no_grad():
            out = model(x)
        stages = out.stage_features if mf else out.stage_features[-1:]
        want = torch.cat(stages, 1) @ model.head.fc.weight.T + model.head.fc.bias
        torch.testing.assert_close(out.logits, want)
        assert [tuple(f.shape) for f in out.stage_features] == [(2, 8), (2, 16), (2, 32), (2, 64)]
    with pytest.raises(TypeError, match="without a classifier"):
        model.backbone(x)  # ST-MANet's 3D ResNet leaves classifying to the head


def test_attention_rows_are_distributions():
    model = create_model("stmanet_r18", 4, **TINY).eval()
    with torch.no_grad():
        out = model(clip(frames=32, size=64))
    for a in out.spatial_attention + out.temporal_attention:
        assert a is not None and (a >= 0).all()
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))


def test_attention_depends_on_the_input():
    model = create_model("stmanet_r18", 4, **TINY).eval()
    with torch.no_grad():
        a, b = model(clip(batch=2, frames=32, size=64)).spatial_attention[0]
    assert not torch.allclose(a, b)


def test_diversity_is_low_for_different_maps_and_high_for_equal_ones():
    torch.manual_seed(1)
    same = torch.softmax(torch.randn(3, 16, 16), -1)
    assert diversity([same, same, same]).item() == pytest.approx(1.0, abs=1e-5)
    # four maps that attend to disjoint places: no overlap at all
    disjoint = []
    for i in range(4):
        m = torch.zeros(3, 16, 16)
        m[:, :, i * 4:(i + 1) * 4] = 0.25
        disjoint.append(m)
    assert diversity(disjoint).item() == pytest.approx(0.0, abs=1e-6)
    random_maps = [torch.softmax(4 * torch.randn(3, 16, 16), -1) for _ in range(4)]
    value = diversity(random_maps).item()
    assert 0.0 <= value < diversity([same] * 4).item()


def test_diversity_losses_of_a_forward_pass_lie_in_unit_interval():
    model = create_model("stmanet_r18", 4, **TINY)
    out = model(clip(frames=32, size=64))
    for value in (spatial_diversity(out), temporal_diversity(out)):
        assert 0.0 <= value.item() <= 1.0 + 1e-6


def test_align_spatial_keeps_the_query_and_key_layout():
    # a map in which every query attends to its own place stays diagonal when pooled
    attn = torch.eye(16).reshape(1, 16, 16)
    pooled = align_spatial(attn, (4, 4), (2, 2))
    assert pooled.shape == (1, 4, 4)
    off = pooled - torch.diag_embed(pooled.diagonal(dim1=1, dim2=2))
    assert off.abs().max() == 0 and (pooled.diagonal(dim1=1, dim2=2) > 0).all()


def test_temporal_term_is_skipped_when_the_last_stage_has_one_time_step():
    model = create_model("stmanet_r18", 4, **TINY)
    out = model(clip(frames=16, size=32))
    assert out.stage_sizes[-1][0] == 1
    assert temporal_diversity(out).item() == 0.0


def test_total_loss_combines_the_terms():
    model = create_model("stmanet_r18", 4, **TINY)
    out = model(clip(frames=32, size=64))
    target = torch.tensor([0, 3])
    terms = stmanet_loss(out, target, lambda_spatial=0.5, lambda_temporal=0.25)
    expected = (terms.classification + 0.5 * terms.spatial_diversity
                + 0.25 * terms.temporal_diversity)
    torch.testing.assert_close(terms.total, expected)
    plain = stmanet_loss(out, target, lambda_spatial=0, lambda_temporal=0)
    torch.testing.assert_close(plain.total, plain.classification)


def test_every_parameter_learns_from_the_total_loss():
    model = create_model("stmanet_r50", 4, dropout=0.0, **TINY)
    x, target = clip(frames=32, size=64), torch.tensor([1, 2])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # at the start the zero-initialised norms hold the branches shut but do receive gradient
    stmanet_loss(model(x), target).total.backward()
    norms = [m.weight for m in model.modules()
             if isinstance(m, torch.nn.BatchNorm3d) and m.weight.abs().sum() == 0]
    assert norms and all(w.grad is not None and w.grad.abs().sum() > 0 for w in norms)
    opt.step()
    opt.zero_grad()
    # after one step every parameter receives gradient
    stmanet_loss(model(x), target).total.backward()
    silent = [n for n, p in model.named_parameters()
              if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert silent == []


def test_registry_names_and_overrides():
    names = list_models()
    assert {"r3d50", "stmanet_r50", "stmanet_r18_lite"} <= set(names)
    model = create_model("stmanet_r50", 10, tda=False, **TINY)
    assert model.temporal is None and model.spatial is not None
    assert model_config("stmanet_r18_lite").width == 0.5
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("resnet9000")
    with pytest.raises(ConfigError, match="unknown model option"):
        create_model("stmanet_r50", 10, colour="red")
    with pytest.raises(ConfigError, match=r"unknown model option.*stage_heads"):
        create_model("stmanet_r50", 10, stage_heads=True)  # per-stage heads are gone
    with pytest.raises(ConfigError, match="depth"):
        ModelConfig(depth=42)


def test_config_round_trips_through_a_dict():
    cfg = model_config("stmanet_r18_lite", 12, tda=False)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(STMANet(cfg), STMANet)


def spec_tda(m, z, g):
    """TDA written from docs/model.md with einsum, as an independent yardstick for the module."""
    b, _, t, _, _ = z.shape
    q, k = m.query_key(torch.cat([z, g], dim=1)).split(m.qk_dim, dim=1)
    q, k = (x.transpose(1, 2).reshape(b, t, -1) for x in (q, k))
    attn = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1)

    def mix(x):
        return torch.einsum("bts,bcshw->bcthw", attn, x)

    d_t = m.out_norm(m.out(mix(m.value(z))))
    g = torch.relu(m.agg_norm(m.agg_conv(mix(g))))
    if m.last:
        return d_t + m.agg_fuse_norm(g), g, attn
    pooled = torch.nn.functional.adaptive_avg_pool3d(g, [(n + 1) // 2 for n in g.shape[2:]])
    return d_t, pooled, attn


@pytest.mark.parametrize("channels,size", [(16, 8), (64, 2)])
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_temporal_aggregation_computes_what_the_spec_says(channels, size, last, training):
    from stmanet.models.attention import TemporalAggregation

    torch.manual_seed(3)
    module = TemporalAggregation(channels, channels // 2, channels, qk_dim=4, value_dim=8,
                                 last=last)
    with torch.no_grad():  # trained-looking norms, so that every branch adds something
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.running_var.uniform_(0.5, 2.0)
    module.train(training)
    z = torch.randn(2, channels, 4, size, size)
    g = torch.randn(2, channels // 2, 4, size, size)
    with torch.no_grad():
        got = module(z, g)
        want = spec_tda(module, z, g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def spec_sda(m, z):
    """SDA written from docs/model.md with einsum, as an independent yardstick for the module."""
    d = m.split_sizes[0]
    q, k, v = m.query_key_value(z).split(m.split_sizes, dim=1)  # (B, *, T, H, W)
    logits = torch.einsum("bcthw,bctxy->bhwxy", q, k).flatten(3).flatten(1, 2)
    attn = torch.softmax(logits / (d * z.shape[2]) ** 0.5, dim=-1)  # (B, HW, HW)
    mixed = torch.einsum("bpq,bctq->bctp", attn, v.flatten(3)).reshape(v.shape)
    return m.out_norm(m.out(mixed)), attn


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("training", [False, True])
def test_spatial_aggregation_computes_what_the_spec_says(size, training):
    from stmanet.models.attention import SpatialAggregation

    torch.manual_seed(4)
    module = SpatialAggregation(16, qk_dim=4, value_dim=8)
    with torch.no_grad():
        module.out_norm.weight.uniform_(0.5, 1.5)
        module.out_norm.running_var.uniform_(0.5, 2.0)
    module.train(training)
    z = torch.randn(2, 16, 3, size, size)
    with torch.no_grad():
        got = module(z)
        want = spec_sda(module, z)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
