"""`stmanet export`: the demo model as ONNX and as a PyTorch exported program, with the logits
and all eight attention maps, giving the model's own outputs."""

import json

import numpy as np
import pytest

from stmanet.bundled import bundled_demo_model
from stmanet.cli import main
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.export import (
    example_clip,
    export_model,
    output_names,
    reference_outputs,
    run_onnx,
    run_pt2,
)
from stmanet.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def demo():
    return load_checkpoint(bundled_demo_model())


def test_the_outputs_are_the_logits_and_eight_attention_maps(demo):
    names = output_names(demo.model)
    assert names[0] == "logits" and len(names) == 9
    assert names[1:5] == [f"temporal_attention_{i}" for i in range(2, 6)]
    assert names[5:] == [f"spatial_attention_{i}" for i in range(2, 6)]


def assert_close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)  # fp32 rounding


def test_the_exported_program_gives_the_models_outputs_for_any_batch(demo, tmp_path):
    path = export_model(demo, tmp_path / "demo.pt2")
    for batch in (1, 3):
        clip = example_clip(demo, batch=batch, seed=5)
        assert_close(run_pt2(path, clip), reference_outputs(demo, clip))
    assert [p.name for p in tmp_path.iterdir()] == ["demo.pt2"]  # no partial file left


def test_the_onnx_file_gives_the_models_outputs_and_carries_its_metadata(demo, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    path = export_model(demo, tmp_path / "demo.onnx")
    clip = example_clip(demo, batch=2, seed=7)
    assert_close(run_onnx(path, clip), reference_outputs(demo, clip))
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == list(demo.metadata.class_names)
    assert json.loads(props["input_spec"])["frames"] == demo.metadata.input.frames
    assert json.loads(props["output_names"]) == output_names(demo.model)
    assert [o.name for o in proto.graph.output] == output_names(demo.model)


def test_the_command_exports_and_checks(tmp_path, capsys):
    out = tmp_path / "demo.pt2"
    assert main(["export", str(bundled_demo_model()), "--format", "pt2", "-o", str(out)]) == 0
    line = capsys.readouterr().out
    assert str(out) in line and "outputs within" in line and out.is_file()


def test_a_file_name_without_a_known_suffix_is_refused(demo, tmp_path):
    with pytest.raises(ConfigError, match=r"demo\.bin"):
        export_model(demo, tmp_path / "demo.bin")


def test_a_missing_folder_is_refused_by_the_command(tmp_path, capsys):
    out = tmp_path / "nowhere" / "demo.onnx"
    assert main(["export", str(bundled_demo_model()), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]
