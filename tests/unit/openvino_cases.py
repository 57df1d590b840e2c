"""The optional OpenVINO backend: the same predictions as PyTorch in fp32, an INT8 file that
agrees with the model, and clear refusals (docs/model.md, "OpenVINO and INT8"). Run by
test_openvino_backend.py in a process of its own."""

import shutil

import numpy as np
import pytest
import torch

from stmanet.bundled import bundled_demo_model
from stmanet.cli import main
from stmanet.engine.checkpoint import load_checkpoint, save_checkpoint
from stmanet.engine.inference import Predictor
from stmanet.errors import ConfigError

pytest.importorskip("openvino")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEMO_VIDEO = bundled_demo_model().parents[1] / "videos" / "demo.mp4"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Converted models go to a folder of the test's, not the user's cache."""
    monkeypatch.setenv("STMANET_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def demo():
    return load_checkpoint(bundled_demo_model())


@pytest.fixture(scope="module")
def torch_result(demo):
    return Predictor(demo, "cpu", attention=True).predict(DEMO_VIDEO)


def test_fp32_openvino_predicts_what_pytorch_predicts(demo, torch_result):
    """Every window: the same label, scores and novelty to 1e-4, the same attention maps."""
    predictor = Predictor(demo, "cpu", attention=True, backend="openvino", batch_size=3)
    assert (predictor.backend, predictor.precision) == ("openvino", "fp32")
    got = predictor.predict(DEMO_VIDEO)  # 40 windows in batches of 3: the last one padded
    assert len(got.windows) == len(torch_result.windows) == 40
    for a, b in zip(got.windows, torch_result.windows, strict=True):
        assert a.label == b.label and a.known == b.known
        assert a.score == pytest.approx(b.score, abs=1e-4)
        assert a.novelty == pytest.approx(b.novelty, abs=1e-4)
        for x, y in zip(a.temporal_attention + a.spatial_attention,
                        b.temporal_attention + b.spatial_attention, strict=True):
            np.testing.assert_allclose(x, y, atol=1e-4)
    np.testing.assert_allclose(got.window_scores, torch_result.window_scores, atol=1e-4)


def test_a_model_is_converted_once_and_then_read_from_the_cache(demo, monkeypatch):
    from stmanet.engine import openvino_backend

    first = Predictor(demo, "cpu", backend="openvino")
    kept = list(openvino_backend.cache_folder().glob("*.xml"))
    assert len(kept) == 1 and kept[0].with_suffix(".bin").is_file()

    def no_conversion(_loaded):
        raise AssertionError("converted again")

    real_conversion = openvino_backend.convert
    monkeypatch.setattr(openvino_backend, "convert", no_conversion)
    again = Predictor(demo, "cpu", backend="openvino")
    clip = torch.randn(1, 3, demo.metadata.input.frames, demo.metadata.input.size,
                       demo.metadata.input.size)
    torch.testing.assert_close(again.run_batch(clip)[0], first.run_batch(clip)[0])

    # a conversion kept by another version of OpenVINO or stmanet is made again
    converted = []
    monkeypatch.setattr(openvino_backend, "convert",
                        lambda loaded: converted.append(1) or real_conversion(loaded))
    monkeypatch.setattr(openvino_backend, "_made_by", lambda: "another version")
    Predictor(demo, "cpu", backend="openvino")
    assert converted == [1]


def test_a_cache_that_cannot_be_written_is_passed_over(demo, tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("STMANET_CACHE_DIR", str(blocked))
    predictor = Predictor(demo, "cpu", backend="openvino")
    assert predictor.precision == "fp32"


def test_calibration_takes_at_most_its_share_of_windows(demo):
    from stmanet.engine.openvino_backend import video_windows

    windows = list(video_windows([DEMO_VIDEO] * 5, demo, limit=3))
    assert len(windows) == 3
    assert len(list(video_windows([DEMO_VIDEO], demo, limit=7))) == 7


def test_an_int8_export_agrees_with_the_model_and_predicts_the_demo(demo, torch_result,
                                                                     tmp_path, capsys):
    out = tmp_path / "demo_int8.xml"
    assert main(["export", str(bundled_demo_model()), "--format", "openvino", "--int8",
                 "--calibration", str(DEMO_VIDEO), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "INT8 OpenVINO" in printed and "top class" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_int8.bin", "demo_int8.xml"]
    predictor = Predictor(demo, "cpu", ir=out)
    assert (predictor.backend, predictor.precision) == ("openvino", "int8")
    got = predictor.predict(DEMO_VIDEO)
    same = sum(a.label == b.label for a, b in zip(got.windows, torch_result.windows,
                                                  strict=True))
    assert same >= 0.95 * len(got.windows)


def test_the_command_line_runs_an_exported_fp32_file(tmp_path, capsys):
    out = tmp_path / "demo.xml"
    assert main(["export", str(bundled_demo_model()), "--format", "openvino",
                 "-o", str(out)]) == 0
    assert "outputs within" in capsys.readouterr().out
    output = tmp_path / "predictions.json"
    assert main(["predict", str(DEMO_VIDEO), "--ir", str(out), "-o", str(output),
                 "--progress", "none"]) == 0
    assert output.is_file()


def test_a_file_made_from_another_model_is_refused(demo, tmp_path):
    out = tmp_path / "demo.xml"
    assert main(["export", str(bundled_demo_model()), "--format", "openvino",
                 "-o", str(out)]) == 0
    other = load_checkpoint(bundled_demo_model())
    with torch.no_grad():
        next(other.model.parameters()).add_(0.01)
    path = tmp_path / "fine_tuned.safetensors"
    save_checkpoint(path, other.model, other.metadata)
    with pytest.raises(ConfigError, match="made from another model file"):
        Predictor(load_checkpoint(path), "cpu", ir=out)


def test_the_suffix_xml_chooses_the_openvino_format(tmp_path, capsys):
    out = tmp_path / "demo.xml"
    assert main(["export", str(bundled_demo_model()), "-o", str(out)]) == 0
    assert "openvino" in capsys.readouterr().out and out.with_suffix(".bin").is_file()
    out.with_suffix(".bin").unlink()
    with pytest.raises(ConfigError, match=r"demo\.bin, are missing"):
        Predictor(load_checkpoint(bundled_demo_model()), "cpu", ir=out)


def test_auto_device_is_the_cpu_for_openvino():
    import argparse

    from stmanet.cli.common import inference_device

    args = argparse.Namespace(device="auto", backend="openvino", ir=None)
    assert str(inference_device(args)) == "cpu"


def test_bad_requests_are_refused_with_one_line(demo, tmp_path, capsys):
    with pytest.raises(ConfigError, match="runs on the CPU"):
        Predictor(demo, "cuda", backend="openvino")
    with pytest.raises(ConfigError, match="no such OpenVINO model file"):
        Predictor(demo, "cpu", ir=tmp_path / "missing.xml")
    not_ir = tmp_path / "notes.xml"
    not_ir.write_text("<notes/>")
    with pytest.raises(ConfigError, match=r"notes\.xml"):
        Predictor(demo, "cpu", ir=not_ir)
    model = tmp_path / "demo.safetensors"
    shutil.copy(bundled_demo_model(), model)
    assert main(["export", str(model), "--format", "openvino", "--int8"]) == 2
    assert "--calibration" in capsys.readouterr().err
    assert main(["export", str(model), "--format", "onnx", "--int8",
                 "--calibration", str(DEMO_VIDEO)]) == 2
    assert "--format openvino" in capsys.readouterr().err
    assert main(["export", str(model), "--format", "openvino", "-o",
                 str(tmp_path / "demo.onnx")]) == 2
    assert "written to a .xml file" in capsys.readouterr().err
    assert main(["predict", str(DEMO_VIDEO), "--backend", "openvino", "--device",
                 "cuda"]) == 2
    assert "runs on the CPU" in capsys.readouterr().err
    assert main(["evaluate", str(model), "--data", f"folder:{tmp_path}", "--backend",
                 "openvino", "--save-model", str(tmp_path / "m.safetensors")]) == 2
    assert "--save-model go with the model's own network" in capsys.readouterr().err


def test_a_folder_is_analysed_with_openvino_and_says_so(tmp_path, capsys):
    import json

    out = tmp_path / "results"
    assert main(["predict", str(DEMO_VIDEO), "--backend", "openvino", "--output-dir",
                 str(out), "--progress", "none"]) == 0
    capsys.readouterr()
    (result,) = out.glob("*.json")
    data = json.loads(result.read_text())
    assert data["settings"]["backend"] == "openvino"
    assert len(data["segments"]) >= 9  # the demo's ten drills, as PyTorch finds them
