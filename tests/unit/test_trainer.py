"""The training loop on tiny in-memory data: it learns, resumes exactly, cancels cleanly."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset

from stmanet.config import TRAIN_PRESETS, InputSpec, TrainConfig
from stmanet.engine.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
from stmanet.engine.events import CheckpointSaved, EpochEnded, RunCancelled, RunFinished
from stmanet.engine.trainer import (
    RESUME_FILE,
    CancelToken,
    TrainData,
    Trainer,
    TrainingCancelled,
    build_model,
    frozen_modules,
    mix_batch,
    parse_source,
    resolve_input,
    seed_everything,
    split_by_class,
)
from stmanet.errors import ConfigError
from stmanet.models import create_model

CLASSES = ["red", "green", "blue"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ColourClips(Dataset):
    """Clips whose class is the colour channel that is brighter: learnable in a few steps."""

    def __init__(self, count: int, seed: int, on_item=None) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(count) % len(CLASSES)
        self.clips = torch.randn(count, 3, 8, 32, 32, generator=g) * 0.5
        for i, label in enumerate(self.labels.tolist()):
            self.clips[i, label] += 1.0
        self.epoch = 0
        self.on_item = on_item
        self.served = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        self.served += 1
        if self.on_item is not None:
            self.on_item(self.epoch, self.served)
        # a little per-epoch noise, drawn from (epoch, item) like the real data sets do
        g = torch.Generator().manual_seed(self.epoch * 10_000 + int(i))
        return self.clips[i] + 0.1 * torch.randn(self.clips[i].shape, generator=g), \
            int(self.labels[i])


def config(tmp_path: Path, name: str = "run", **changes) -> TrainConfig:
    # seed 10: a run that reaches 100% validation accuracy by epoch 3. Whether 4 epochs get
    # there depends on the seed: over seeds 0-19, 15-17 runs did (the others fell short).
    base = dict(model="stmanet_r10", model_overrides={"width": 0.125}, frames=8,
                frame_stride=1, size=32, epochs=4, batch_size=8, lr=0.05, lr_step=2,
                workers=0, device="cpu", output=str(tmp_path / name), seed=10)
    return TrainConfig(**{**base, **changes})


def data(on_item=None, train: int = 36) -> TrainData:
    return TrainData(ColourClips(train, 0, on_item), list(CLASSES), ColourClips(18, 1))


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "final.safetensors"))


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted 4-epoch run to compare interrupted ones with."""
    tmp = tmp_path_factory.mktemp("reference")
    events = []
    result = Trainer(config(tmp), data(), on_event=events.append).run()
    (tmp / "events.json").write_text(json.dumps([e.to_dict() for e in events]))
    return result.run_dir


def test_training_learns_and_writes_the_run_folder(reference_run):
    rows = [json.loads(line) for line in (reference_run / "metrics.jsonl").read_text()
            .splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert max(r["val_acc"] for r in rows) > 0.9  # chance is 1/3
    assert [r["lr"] for r in rows] == pytest.approx([0.05, 0.05, 0.005, 0.005])
    saved = json.loads((reference_run / "config.json").read_text())
    assert TrainConfig.from_dict(saved) == config(reference_run.parent)
    best = load_checkpoint(reference_run / "best.safetensors")
    assert best.metadata.class_names == CLASSES
    assert best.metadata.input == InputSpec(frames=8, frame_stride=1, size=32)
    assert best.metadata.report["val_acc"] == max(r["val_acc"] for r in rows)
    assert all(r["val_windows"] == 18 for r in rows)  # one window per in-memory clip
    assert best.metadata.provenance["config"]["lr"] == 0.05
    events = json.loads((reference_run.parent / "events.json").read_text())
    kinds = [e["type"] for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("EpochEnded") == 4 and "StepProgress" in kinds
    assert events[-1]["model_path"].endswith("best.safetensors")


def test_the_kept_models_validation_report_is_written_beside_it(reference_run):
    rows = [json.loads(line) for line in (reference_run / "metrics.jsonl").read_text()
            .splitlines()]
    report = json.loads((reference_run / "report.json").read_text())
    kept = report["selection"]["epoch"]
    kept_row = rows[kept - 1]
    assert report["class_names"] == CLASSES and report["subset"] == "validation"
    assert report["epoch"] == kept and report["selection"]["reason"]
    assert report["top1"] == pytest.approx(kept_row["val_clip_acc"])  # one window a clip
    assert report["window_top1"] == pytest.approx(kept_row["val_acc"])
    assert load_checkpoint(reference_run / "best.safetensors").metadata.report["epoch"] == kept
    assert report["count"] == 18 and sum(map(sum, report["confusion"])) == 18
    for k, name in enumerate(CLASSES):  # per-class accuracy is the confusion row's diagonal
        assert report["per_class"][name] == pytest.approx(
            report["confusion"][k][k] / sum(report["confusion"][k]))
    csv_rows = (reference_run / "confusion.csv").read_text().splitlines()
    assert csv_rows[0].split(",")[1:] == CLASSES and len(csv_rows) == 4
    finished = json.loads((reference_run.parent / "events.json").read_text())[-1]
    assert finished["report"]["validation"] == report


def test_resume_after_a_stop_at_an_epoch_boundary_gives_identical_weights(tmp_path,
                                                                         reference_run):
    cfg = config(tmp_path)
    with pytest.raises(TrainingCancelled) as stopped:
        Trainer(cfg, data(), stop_after_epoch=2).run()
    assert stopped.value.checkpoint == tmp_path / "run" / RESUME_FILE
    assert not (tmp_path / "run" / "final.safetensors").exists()
    Trainer(cfg, data(), resume=True).run()
    assert same(final_weights(tmp_path / "run"), final_weights(reference_run))
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 5  # header + 4 epochs, none twice


def test_cancel_mid_epoch_saves_a_usable_checkpoint_and_resumes_exactly(tmp_path,
                                                                        reference_run):
    token = CancelToken()

    def cancel_during_epoch_two(epoch: int, served: int) -> None:
        if epoch == 1 and served > 36 + 12:  # the second batch of epoch 2 is loading
            token.cancel()

    events = []
    with pytest.raises(TrainingCancelled, match="resume with"):
        Trainer(config(tmp_path), data(cancel_during_epoch_two), cancel=token,
                on_event=events.append).run()
    cancelled = [e for e in events if isinstance(e, RunCancelled)]
    assert len(cancelled) == 1 and (cancelled[0].epoch, cancelled[0].step) == (1, 2)
    path = Path(cancelled[0].checkpoint)
    state = torch.load(path, map_location="cpu", weights_only=True)  # no code, only data
    assert (state["epoch"], state["step"]) == (1, 2)
    model = create_model("stmanet_r10", 3, width=0.125)
    model.load_state_dict(state["model"])  # the weights are complete
    Trainer(config(tmp_path), data(), resume=True).run()
    assert same(final_weights(tmp_path / "run"), final_weights(reference_run))


def test_a_cancel_during_validation_resumes_with_that_validation(tmp_path, reference_run):
    token = CancelToken()

    class CancellingVal(ColourClips):
        def __getitem__(self, i):
            if self.epoch == 0 and i == 0:
                token.cancel()
            return super().__getitem__(i)

    d = data()
    d.val = CancellingVal(18, 1)
    with pytest.raises(TrainingCancelled):
        Trainer(config(tmp_path), d, cancel=token).run()
    state = torch.load(tmp_path / "run" / RESUME_FILE, weights_only=True)
    assert (state["epoch"], state["step"]) == (0, 5)  # all 5 steps of epoch 1 done
    Trainer(config(tmp_path), data(), resume=True).run()
    assert same(final_weights(tmp_path / "run"), final_weights(reference_run))


RUN_BEFORE_HEAD = Path(__file__).parent / "data" / "run_before_head"


def test_a_run_of_an_older_version_resumes_as_it_would_have_gone_on(tmp_path):
    """tests/unit/data/run_before_head: checkpoint.pt after epoch 1 of 2 and final.safetensors
    of the same run, both written by the version whose classifier was `backbone.fc` plus
    `fusion` (with AdamW: the classifier's moments and step must follow it into the head).
    Resumed here, the run ends where it ended there."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(RUN_BEFORE_HEAD / RESUME_FILE, run)
    cfg = config(tmp_path, epochs=2, model_overrides={"width": 0.03125, "dropout": 0.0},
                 optimizer="adamw", lr=0.01, seed=0)
    Trainer(cfg, data(train=12), resume=True).run()
    got = load_checkpoint(run / "final.safetensors").model.state_dict()
    want = load_checkpoint(RUN_BEFORE_HEAD / "final.safetensors").model.state_dict()
    assert got.keys() == want.keys()
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_data_loading_processes_do_not_change_the_result(tmp_path):
    a = Trainer(config(tmp_path, "a", epochs=1), data(train=18)).run()
    b = Trainer(config(tmp_path, "b", epochs=1, workers=2), data(train=18)).run()
    assert same(final_weights(a.run_dir), final_weights(b.run_dir))


def test_a_new_run_never_overwrites_an_old_one(tmp_path):
    Trainer(config(tmp_path, epochs=1), data(train=9)).run()
    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(config(tmp_path, epochs=1), data(train=9)).run()


def test_without_validation_data_the_final_model_is_the_result(tmp_path):
    events = []
    d = TrainData(ColourClips(12, 0), list(CLASSES))
    result = Trainer(config(tmp_path, epochs=1), d, on_event=events.append).run()
    assert result.model_path == result.final_path and result.best_val_acc is None
    assert not (result.run_dir / "best.safetensors").exists()
    assert isinstance(events[-1], RunFinished) and events[-1].best_val_acc is None
    assert any(isinstance(e, CheckpointSaved) and e.kind == "model" for e in events)
    assert isinstance(next(e for e in events if isinstance(e, EpochEnded)).train_loss, float)


@pytest.mark.parametrize("mode", ["backbone", "early", "head"])
def test_frozen_parts_keep_their_weights_and_statistics(tmp_path, mode):
    cfg = config(tmp_path, epochs=1, freeze=mode)
    seed_everything(cfg.seed)  # the weights the run starts from
    model, _ = build_model(cfg, CLASSES)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(cfg, data(train=16)).run()
    after = load_file(str(tmp_path / "run" / "final.safetensors"))
    frozen_names = {f"{name}." for name, module in model.named_modules()
                    if any(module is m for m in frozen_modules(model, mode))}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "something must train"
    assert not {k for k in changed if k.startswith(tuple(frozen_names))}
    assert "head.fc.weight" in changed
    if mode == "head":
        assert any(k.startswith("spatial.") for k in changed)
    if mode == "early":
        assert any(k.startswith("backbone.layer4.") for k in changed)


def test_fine_tuning_from_a_model_with_other_classes_remakes_the_classifier(tmp_path):
    source = create_model("stmanet_r10", 5, width=0.125)
    meta = CheckpointMetadata(source.config, [f"c{i}" for i in range(5)],
                              InputSpec(frames=8, size=32, mean=(0.5, 0.5, 0.5)))
    path = save_checkpoint(tmp_path / "source.safetensors", source, meta)
    cfg = config(tmp_path, init=str(path), model="stmanet_r50")  # --model: the init's wins
    model, origin = build_model(cfg, CLASSES)
    assert model.config.depth == 10 and model.config.num_classes == 3
    assert origin["classifier"] == "new"
    assert resolve_input(cfg).input_spec.mean == (0.5, 0.5, 0.5)
    assert torch.equal(model.state_dict()["backbone.conv1.weight"],
                       source.state_dict()["backbone.conv1.weight"])
    # the same classes in another order: the classifier rows follow their names
    names = ["c4", "c0", "c1", "c2", "c3"]
    model, origin = build_model(cfg, names)
    assert origin["classifier"] == "reordered"
    assert torch.equal(model.head.fc.weight[0], source.head.fc.weight[4])
    assert torch.equal(model.head.fc.bias[0], source.head.fc.bias[4])


def test_a_run_from_an_init_model_trains_and_saves_with_its_input_spec(tmp_path):
    source = create_model("stmanet_r10", 3, width=0.125)
    init_spec = InputSpec(frames=6, frame_stride=4, size=48, mean=(0.8, 0.2, 0.1),
                          std=(0.1, 0.9, 3.0))
    path = save_checkpoint(tmp_path / "source.safetensors", source,
                           CheckpointMetadata(source.config, list(CLASSES), init_spec))
    cfg = config(tmp_path, init=str(path), epochs=1)
    # frames, stride and size the caller set are kept; mean and std are always the model's
    assert resolve_input(cfg).input_spec == InputSpec(8, 1, 32, init_spec.mean, init_spec.std)
    assert resolve_input(cfg, given=("size",)).input_spec == InputSpec(
        6, 4, 32, init_spec.mean, init_spec.std)
    result = Trainer(cfg, data(train=12)).run()
    written = TrainConfig.from_dict(json.loads((result.run_dir / "config.json").read_text()))
    assert written == resolve_input(cfg)
    assert load_checkpoint(result.final_path).metadata.input == written.input_spec


def test_split_by_class_is_stratified_and_reproducible():
    from stmanet.data.clips import ClipIndex, ClipRecord

    records = [ClipRecord(Path(f"{c}_{i}.mp4"), c) for c in range(3) for i in range(10)]
    index = ClipIndex(records, CLASSES)
    train, val = split_by_class(index, 0.2, seed=5)
    assert len(train) == 24 and len(val) == 6
    assert sorted(r.label for r in val.records) == [0, 0, 1, 1, 2, 2]
    assert not {r.path for r in train.records} & {r.path for r in val.records}
    again = split_by_class(index, 0.2, seed=5)[1]
    assert [r.path for r in again.records] == [r.path for r in val.records]


def test_data_sources_are_parsed_as_kind_and_path():
    assert parse_source("ucf101:/data/UCF-101") == ("ucf101", Path("/data/UCF-101"))
    assert parse_source("/data/drills") == ("folder", Path("/data/drills"))
    with pytest.raises(ConfigError, match="unknown data kind"):
        parse_source("kinetics:/data/k400")


def test_train_config_validates_and_round_trips():
    cfg = TrainConfig(data="folder:/x", model_overrides={"tda": False}, freeze="early",
                      mean=(0.5, 0.25, 0.125))
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.input_spec.mean == (0.5, 0.25, 0.125)
    with pytest.raises(ConfigError, match="std must be 3"):
        TrainConfig.from_dict({"std": 0.5})
    with pytest.raises(ConfigError, match="std must be 3 positive"):
        TrainConfig.from_dict({"std": [0.5, 0.0, 0.5]})
    assert (cfg.lr, cfg.momentum, cfg.epochs, cfg.batch_size, cfg.lr_step) == (
        0.01, 0.9, 90, 32, 15)
    assert (cfg.lambda_spatial, cfg.lambda_temporal) == (0.01, 0.001)
    with pytest.raises(ConfigError, match="freeze"):
        TrainConfig(freeze="everything")
    with pytest.raises(ConfigError, match="not both"):
        TrainConfig(init="a.safetensors", hara="b.pth")
    with pytest.raises(ConfigError, match="unknown training option"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    assert all(set(p) <= set(TrainConfig.__dataclass_fields__) for p in TRAIN_PRESETS.values())


def test_adamw_with_a_cosine_schedule_also_resumes_exactly(tmp_path):
    cfg = config(tmp_path, epochs=3, optimizer="adamw", schedule="cosine", lr=0.003)
    whole = Trainer(config(tmp_path, "whole", epochs=3, optimizer="adamw", schedule="cosine",
                           lr=0.003), data(train=18)).run()
    assert [round(r["lr"], 6) for r in whole.history] == [0.003, 0.00225, 0.00075]
    with pytest.raises(TrainingCancelled):
        Trainer(cfg, data(train=18), stop_after_epoch=1).run()
    Trainer(cfg, data(train=18), resume=True).run()
    assert same(final_weights(tmp_path / "run"), final_weights(whole.run_dir))


def test_mixup_blends_clips_and_labels_alike_and_a_seeded_run_repeats():
    # clip i is all i and of class i: a blend's value is then its target's mean class
    clips = torch.stack([torch.full((3, 2, 4, 4), float(i)) for i in range(4)])
    labels = torch.arange(4)
    torch.manual_seed(3)
    mixed, target, major = mix_batch(clips, labels, 4, 0.4)
    assert torch.allclose(target.sum(1), torch.ones(4))
    assert torch.allclose(mixed[:, 0, 0, 0, 0], target @ torch.arange(4.0))
    assert torch.allclose(mixed.amin(dim=(1, 2, 3, 4)), mixed.amax(dim=(1, 2, 3, 4)))
    assert torch.equal(major, target.argmax(1))  # the label of the larger share
    assert not torch.equal(mixed, clips)  # Beta(0.4, 0.4) drew a blend, not 0 or 1
    torch.manual_seed(3)
    again = mix_batch(clips, labels, 4, 0.4)
    assert torch.equal(again[0], mixed) and torch.equal(again[1], target)
    with pytest.raises(ConfigError, match="mixup"):
        TrainConfig(mixup=-0.1)


def test_a_mixup_run_learns_and_resumes_exactly(tmp_path):
    whole = Trainer(config(tmp_path, "whole", epochs=3, mixup=0.4), data(train=18)).run()
    assert whole.history[-1]["train_loss"] < whole.history[0]["train_loss"]
    cfg = config(tmp_path, epochs=3, mixup=0.4)
    with pytest.raises(TrainingCancelled):
        Trainer(cfg, data(train=18), stop_after_epoch=1).run()
    Trainer(cfg, data(train=18), resume=True).run()
    assert same(final_weights(tmp_path / "run"), final_weights(whole.run_dir))
