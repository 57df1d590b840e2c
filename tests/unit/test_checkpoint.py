"""Checkpoints: our format, Hara et al.'s import, and every kind of bad file."""

import json
import logging
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from stmanet.bundled import bundled_demo_model
from stmanet.config import InputSpec
from stmanet.engine.checkpoint import (
    FORMAT_VERSION,
    CheckpointMetadata,
    hara_state_in_our_names,
    import_hara,
    load_checkpoint,
    provenance,
    read_metadata,
    save_checkpoint,
    save_hara_format,
    upgrade_state_dict,
)
from stmanet.errors import CheckpointError
from stmanet.models import ResNet3D, create_model, model_config

TINY = {"width": 0.125}
CLASSES = ["jumping_jacks", "squats", "lunges"]


def clip() -> torch.Tensor:
    return torch.randn(2, 3, 16, 32, 32)


def saved_model(tmp_path: Path, name: str = "stmanet_r18") -> tuple[Path, torch.nn.Module]:
    model = create_model(name, len(CLASSES), **TINY).eval()
    with torch.no_grad():  # a trained-looking model: open the zero-initialised branches
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.normal_()
                m.running_mean.normal_()
        model.head.fc.weight.normal_()  # stages 2-4 too
    meta = CheckpointMetadata(model.config, CLASSES, InputSpec(frames=16, size=32),
                              provenance("test"), report={"top1": 0.5})
    path = save_checkpoint(tmp_path / "model.safetensors", model, meta)
    return path, model


def test_save_and_load_reproduce_the_model(tmp_path):
    path, model = saved_model(tmp_path)
    loaded = load_checkpoint(path)
    assert loaded.metadata.class_names == CLASSES
    assert loaded.metadata.input.frames == 16 and loaded.metadata.report == {"top1": 0.5}
    assert loaded.metadata.model == model.config
    assert not loaded.model.training
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x).logits, model(x).logits)


def test_metadata_is_readable_without_the_weights(tmp_path):
    path, _ = saved_model(tmp_path)
    meta = read_metadata(path)
    assert meta.provenance["source"] == "test"
    assert CheckpointMetadata.from_json(meta.to_json()) == meta


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path, model = saved_model(tmp_path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        Path(args[1]).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("stmanet.engine.checkpoint.save_file", crash)
    meta = read_metadata(path)
    with pytest.raises(OSError):
        save_checkpoint(path, model, meta)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("prefix", ["", "module."])
def test_hara_checkpoint_imports_into_the_backbone_and_reproduces_it(tmp_path, prefix):
    hara = ResNet3D(18, width=0.125, num_classes=700).eval()
    with torch.no_grad():
        for m in hara.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_var.uniform_(0.5, 2.0)
    pth = tmp_path / "r3d18_K_200ep.pth"
    save_hara_format(pth, hara, arch="resnet-18", prefix=prefix)

    same_classes = [f"k{i}" for i in range(700)]
    loaded = import_hara(pth, model_config("stmanet_r18", 700, **TINY), same_classes)
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x).logits, hara(x))
    assert loaded.metadata.provenance["classifier"] == "kept"

    new = import_hara(pth, model_config("stmanet_r18", 3, **TINY), CLASSES)
    assert new.model.head.fc.out_features == 3
    assert new.metadata.provenance["classifier"] == "new"
    with torch.no_grad():  # the backbone features are Hara's exactly
        torch.testing.assert_close(new.model.backbone.forward_features(x)[-1],
                                   hara.forward_features(x)[-1])
    # and it saves and reloads in our format
    out = save_checkpoint(tmp_path / "imported.safetensors", new.model, new.metadata)
    assert load_checkpoint(out).metadata.class_names == CLASSES


# ------------------------------------------------ files of older versions, Hara et al.'s names

def write_old_version_file(path: Path, model: torch.nn.Module, *, stage_heads: bool = False,
                           ) -> Path:
    """`model` as the versions before the one-module head wrote it: the classifier as
    `backbone.fc` over stage 5 plus, with MF on, `fusion.weight` over stages 2-4 (no bias),
    `stage_heads` in the metadata, and with it on one linear head per stage."""
    from safetensors.torch import save_file

    state = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    weight, bias = model.head.fc.weight.detach(), model.head.fc.bias.detach()
    c5 = model.backbone.stage_channels[-1]
    state["backbone.fc.weight"], state["backbone.fc.bias"] = weight[:, -c5:], bias
    if model.config.mf:
        state["fusion.weight"] = weight[:, :-c5]
    if stage_heads:
        for i, c in enumerate(model.backbone.stage_channels):
            state[f"stage_heads.{i}.weight"] = torch.randn(model.config.num_classes, c)
            state[f"stage_heads.{i}.bias"] = torch.randn(model.config.num_classes)
    meta = json.loads(CheckpointMetadata(model.config, CLASSES, InputSpec(frames=16, size=32),
                                         provenance("test")).to_json())
    meta["model"]["stage_heads"] = stage_heads
    meta["format_version"] = 1
    save_file({k: v.contiguous() for k, v in state.items()}, str(path),
              metadata={"stmanet": json.dumps(meta)})
    return path


@pytest.mark.parametrize("name,overrides", [("stmanet_r18", {}), ("r3d18", {}),
                                            ("stmanet_r18", {"mf": False})])
def test_a_model_file_of_an_older_version_predicts_as_it_did(tmp_path, name, overrides, caplog):
    model = create_model(name, len(CLASSES), **TINY, **overrides).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.normal_()
        model.head.fc.weight.normal_()
    path = write_old_version_file(tmp_path / "old.safetensors", model)
    with caplog.at_level(logging.INFO):
        loaded = load_checkpoint(path)
    assert "stage_heads" not in caplog.text
    assert loaded.metadata.model == model.config and loaded.metadata.format_version == 1
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x).logits, model(x).logits)
    # saved again, it is a file of this version: the new names, and a format older
    # versions refuse with a clear message instead of failing on the names
    again = save_checkpoint(tmp_path / "again.safetensors", loaded.model, loaded.metadata)
    assert read_metadata(again).format_version == FORMAT_VERSION == 2
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(again).model(x).logits, model(x).logits)


def test_a_model_file_with_per_stage_heads_loads_without_them(tmp_path, caplog):
    """Per-stage heads are gone; their weights (never trained, never in the predictions) are
    left out, with a note in the log."""
    _, model = saved_model(tmp_path)
    old = write_old_version_file(tmp_path / "heads.safetensors", model, stage_heads=True)
    with caplog.at_level(logging.INFO, logger="stmanet.engine.checkpoint"):
        loaded = load_checkpoint(old)
    assert "heads.safetensors" in caplog.text and "8 per-stage head weights" in caplog.text
    assert not any(k.startswith("stage_heads") for k in loaded.model.state_dict())
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x).logits, model(x).logits)


def test_old_names_map_onto_the_head():
    k, c5, c234 = 3, 8, 5
    fc_w, fc_b, fusion = torch.randn(k, c5), torch.randn(k), torch.randn(k, c234)
    conv = torch.randn(2, 2, 1, 1, 1)
    state, retired = upgrade_state_dict(
        {"backbone.conv1.weight": conv, "backbone.fc.weight": fc_w, "backbone.fc.bias": fc_b,
         "fusion.weight": fusion, "stage_heads.0.weight": torch.zeros(k, 2)}, c234 + c5)
    assert set(state) == {"backbone.conv1.weight", "head.fc.weight", "head.fc.bias"}
    assert retired == ["stage_heads.0.weight"]
    assert torch.equal(state["head.fc.weight"], torch.cat([fusion, fc_w], 1))  # stages 2-4, 5
    assert state["head.fc.bias"] is fc_b and state["backbone.conv1.weight"] is conv
    # MF off: the stage-5 classifier is the head
    state, _ = upgrade_state_dict({"backbone.fc.weight": fc_w, "backbone.fc.bias": fc_b}, c5)
    assert state["head.fc.weight"] is fc_w
    # Hara et al.'s names: their network is the backbone, their fc the head's stage-5 block
    state = hara_state_in_our_names({"conv1.weight": conv, "fc.weight": fc_w, "fc.bias": fc_b},
                                    c234 + c5)
    assert set(state) == {"backbone.conv1.weight", "head.fc.weight", "head.fc.bias"}
    assert torch.equal(state["head.fc.weight"], torch.cat([torch.zeros(k, c234), fc_w], 1))
    # current names pass unchanged; old weights that do not fit together keep their names
    current = {"head.fc.weight": fc_w, "head.fc.bias": fc_b}
    assert upgrade_state_dict(current, c5) == (current, [])
    odd = {"backbone.fc.weight": fc_w, "backbone.fc.bias": fc_b, "fusion.weight": torch.zeros(7)}
    assert upgrade_state_dict(odd, c234 + c5)[0] == odd


def test_an_old_file_whose_classifier_parts_do_not_fit_is_refused_clearly(tmp_path):
    path, model = saved_model(tmp_path)
    old = write_old_version_file(tmp_path / "odd.safetensors", model)
    from safetensors.torch import load_file, save_file

    state = load_file(str(old))
    state["fusion.weight"] = torch.zeros(7, 3)
    save_file(state, str(old), metadata={"stmanet": read_metadata(path).to_json()})
    with pytest.raises(CheckpointError,
                       match=r"odd\.safetensors.*unexpected weights.*backbone\.fc"):
        load_checkpoint(old)


HARA_R3D50 = Path(__file__).parent / "data" / "hara_r3d50_keys.json"


def fake_hara_weights(manifest: list, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of every key and shape in the manifest, scaled like trained weights
    (activations neither vanish nor explode over 16 blocks)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in manifest:
        if dtype == "int64":  # BatchNorm's num_batches_tracked
            state[key] = torch.tensor(123_456, dtype=torch.int64)
        elif len(shape) == 5:  # convolutions: variance-keeping scale
            fan_in = shape[1] * shape[2] * shape[3] * shape[4]
            state[key] = torch.randn(shape, generator=g) * (2 / fan_in) ** 0.5
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(".weight") and not key.startswith("fc."):  # BatchNorm scale
            state[key] = torch.rand(shape, generator=g) * 0.3 + 0.2
        else:  # BatchNorm shift and mean, fc
            state[key] = torch.randn(shape, generator=g) * 0.05
    return state


def test_hara_r3d50_kinetics_checkpoint_imports_completely_and_reproduces_their_network(
        tmp_path):
    """Every key and shape of Hara et al.'s r3d50_K_200ep.pth (tests/unit/data/hara_r3d50_keys.json,
    listed from their models/resnet.py, not from ours): the import takes every weight and the
    imported ST-MANet computes what their 3D ResNet does."""
    manifest = json.loads(HARA_R3D50.read_text())
    keys = manifest["keys"]
    assert len(keys) == 320 and keys[-2][:2] == ["fc.weight", [700, 2048]]
    fake = fake_hara_weights(keys)
    pth = tmp_path / "r3d50_K_200ep.pth"
    torch.save({**manifest["checkpoint"], "state_dict": fake}, pth)

    config = model_config("stmanet_r50", 700)
    loaded = import_hara(pth, config, [f"k{i}" for i in range(700)])
    assert loaded.metadata.provenance["classifier"] == "kept"
    # every one of their weights has its place in the model, and no two share one
    ours = hara_state_in_our_names(fake, loaded.model.head.fc.in_features)
    assert len(ours) == len(fake)
    model_state = loaded.model.state_dict()
    for key, value in ours.items():
        assert model_state[key].shape == value.shape, key
        if key != "head.fc.weight":
            assert torch.equal(model_state[key], value), key
    c5 = 2048
    assert torch.equal(model_state["head.fc.weight"][:, -c5:], fake["fc.weight"])
    assert not model_state["head.fc.weight"][:, :-c5].any()
    # their network, built from the same tensors under their own names
    reference = ResNet3D(50, num_classes=700).eval()
    reference.load_state_dict(fake, strict=True)
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        want = reference(x)
        got = loaded.model(x).logits
    assert want.std() > 0.01  # the weights give logits that differ between classes
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ bad files, clear errors

def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("these are my training notes\n" * 20)
    with pytest.raises(CheckpointError, match=r"notes\.safetensors.*not an ST-MANet model"):
        load_checkpoint(text)
    pth = tmp_path / "notes.pth"
    pth.write_text("these are my training notes\n" * 20)
    with pytest.raises(CheckpointError, match=r"notes\.pth.*not a PyTorch checkpoint"):
        import_hara(pth, model_config("stmanet_r18", 3), CLASSES)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nowhere.safetensors")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        import_hara(tmp_path / "empty.pth", model_config("stmanet_r18", 3), CLASSES)


def test_a_pth_opened_as_a_model_points_to_the_import(tmp_path):
    pth = tmp_path / "r3d18.pth"
    save_hara_format(pth, ResNet3D(18, width=0.125))
    with pytest.raises(CheckpointError, match="import-hara"):
        load_checkpoint(pth)


def test_wrong_architecture(tmp_path):
    pth = tmp_path / "r3d18_K_200ep.pth"
    save_hara_format(pth, ResNet3D(18, width=0.125, num_classes=700))
    with pytest.raises(CheckpointError, match=r"r3d18_K_200ep\.pth.*3D ResNet-18.*depth-50"):
        import_hara(pth, model_config("stmanet_r50", 3, **TINY), CLASSES)
    odd = tmp_path / "odd.pth"
    state = ResNet3D(18, width=0.125).state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("layer3.1.")}
    torch.save({"state_dict": state}, odd)
    with pytest.raises(CheckpointError, match=r"odd\.pth.*unrecognised 3D ResNet layout"):
        import_hara(odd, model_config("stmanet_r18", 3, **TINY), CLASSES)
    image_net = tmp_path / "resnet2d.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)},
               image_net)
    with pytest.raises(CheckpointError, match="not a 3D network"):
        import_hara(image_net, model_config("stmanet_r18", 3), CLASSES)


def test_wrong_shapes(tmp_path):
    state = ResNet3D(18, width=0.125).state_dict()
    state["layer2.0.conv1.weight"] = torch.zeros(3, 3, 3, 3, 3)
    pth = tmp_path / "bad_shapes.pth"
    torch.save({"state_dict": state}, pth)
    with pytest.raises(CheckpointError, match=r"bad_shapes\.pth.*wrong shape.*layer2\.0\.conv1"):
        import_hara(pth, model_config("stmanet_r18", 3, **TINY), CLASSES)

    path, _ = saved_model(tmp_path)
    meta = read_metadata(path)
    other = create_model("stmanet_r18", 3, width=0.25)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path),
              metadata={"stmanet": meta.to_json()})
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_checkpoint(path)


def test_truncated_files(tmp_path):
    path, _ = saved_model(tmp_path)
    data = path.read_bytes()
    for cut in (5, 100, len(data) // 3, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"model\.safetensors.*(damaged|truncated)"):
            load_checkpoint(path)

    pth = tmp_path / "r3d18.pth"
    save_hara_format(pth, ResNet3D(18, width=0.125))
    data = pth.read_bytes()
    pth.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"r3d18\.pth.*damaged or truncated"):
        import_hara(pth, model_config("stmanet_r18", 3, **TINY), CLASSES)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "r3d50_K_200ep.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "payload": _RunsCode(marker)},
               evil)
    with pytest.raises(CheckpointError, match=r"r3d50_K_200ep\.pth.*refused.*run code"):
        import_hara(evil, model_config("stmanet_r50", 3), CLASSES)
    assert not marker.exists()

    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps(_RunsCode(marker)))
    with pytest.raises(CheckpointError, match=r"legacy\.pth"):
        import_hara(legacy, model_config("stmanet_r50", 3), CLASSES)
    assert not marker.exists()


def test_a_zip_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "photos.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(CheckpointError, match=r"photos\.pth"):
        import_hara(path, model_config("stmanet_r18", 3), CLASSES)


def test_loading_a_model_draws_no_random_weights_first(monkeypatch):
    """The file's weights go straight into a model built shape-only: no time spent on a
    random initialisation that the weights then replace."""
    drawn = []
    real = torch.nn.init.kaiming_normal_

    def spy(tensor, *args, **kwargs):
        drawn.append(tensor.device.type)
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "kaiming_normal_", spy)
    loaded = load_checkpoint(bundled_demo_model())
    assert drawn and set(drawn) == {"meta"}
    assert not any(t.is_meta for t in loaded.model.state_dict().values())
