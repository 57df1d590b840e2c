"""`stmanet summary` and `stmanet models` as a user runs them."""

import re

from stmanet.cli import main


def test_summary_reports_parameters_gflops_and_stage_shapes(capsys):
    assert main(["summary", "stmanet_r18", "--frames", "16", "--size", "64", "--classes", "5",
                 "--set", "width=0.25"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"parameters\s+\d+\.\d\d M", out)
    assert re.search(r"GFLOPs\s+\d+\.\d\d", out)
    assert "1 x 3 x 16 x 64 x 64" in out
    for stage, shape in [(2, "8 x 16 x 16"), (3, "4 x 8 x 8"), (4, "2 x 4 x 4"), (5, "1 x 2 x 2")]:
        assert re.search(rf"^\s+{stage}\s+\d+\s+{shape}\s+on\s+on", out, re.M)


def test_summary_of_an_unknown_model_says_which_exist(capsys):
    assert main(["summary", "resnet9000"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet9000'" in err and "stmanet_r50" in err


def test_switch_overrides_show_in_the_summary(capsys):
    assert main(["summary", "stmanet_r10", "--frames", "16", "--size", "32",
                 "--set", "width=0.125", "--set", "sda=off"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+2\s+\d+\s+8 x 8 x 8\s+on\s+off", out, re.M)


def test_models_lists_the_variants(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "r3d50" in out and "stmanet_r50" in out and "stmanet_r18_lite" in out


def test_compute_budget_at_the_papers_input_size():
    from stmanet.engine.summary import summarize

    base = summarize("r3d50", frames=32, size=112)
    full = summarize("stmanet_r50", frames=32, size=112)
    # Hara et al.'s 3D ResNet-50, 101 classes: 46.41 M parameters, 40.27 GFLOPs
    assert round(base.parameters / 1e6, 2) == 46.41
    assert round(base.gflops, 2) == 40.27
    assert full.flops <= 1.30 * base.flops
