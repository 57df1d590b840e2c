"""Checks shared by the tests of the model's inference forms (fast paths, prepared
copies): a model whose every branch adds something, and the comparison of two outputs."""

import torch


def trained_looking(model: torch.nn.Module) -> torch.nn.Module:
    """Norms with non-trivial weights and statistics, so that every branch adds something."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return model


def assert_same_output(got, want):
    torch.testing.assert_close(got.logits, want.logits, rtol=1e-4, atol=1e-5)
    for a, b in zip(got.temporal_attention + got.spatial_attention,
                    want.temporal_attention + want.spatial_attention, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
