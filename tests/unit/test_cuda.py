"""The CUDA path: the same answers as the CPU, training with mixed precision, a GPU-trained
model used on a CPU. Skipped where no CUDA device is present (CI has none)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from stmanet.config import InputSpec, TrainConfig
from stmanet.engine.checkpoint import CheckpointMetadata, LoadedModel, load_checkpoint
from stmanet.engine.inference import Predictor
from stmanet.engine.trainer import TrainData, Trainer, autocast_dtype
from stmanet.models import create_model, stmanet_loss

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CLASSES = ["red", "green", "blue"]


def small_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("stmanet_r18", len(CLASSES), width=0.25, **overrides)
    with torch.no_grad():  # open the zero-initialised branches so they count in the output
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.5)
    return model.eval()


# cuDNN convolutions use TF32 by default (about 3 significant digits): hence the tolerances.
def test_gpu_forward_matches_the_cpu():
    model = small_model()
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.cuda()(x.cuda())
    torch.testing.assert_close(gpu.logits.cpu(), cpu.logits, rtol=1e-2, atol=5e-3)
    for a, b in zip(gpu.spatial_attention, cpu.spatial_attention, strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-2, atol=2e-3)
    for a, b in zip(gpu.temporal_attention, cpu.temporal_attention, strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-2, atol=2e-3)


def test_mixed_precision_training_step_gives_finite_gradients_everywhere():
    model = small_model().cuda().train()
    dtype = autocast_dtype("auto", torch.device("cuda"))
    assert dtype in (torch.bfloat16, torch.float16)
    x = torch.randn(4, 3, 16, 64, 64, device="cuda").contiguous(
        memory_format=torch.channels_last_3d)
    y = torch.tensor([0, 1, 2, 0], device="cuda")
    with torch.autocast("cuda", dtype=dtype):
        out = model(x)
        terms = stmanet_loss(out, y, lambda_spatial=0.01, lambda_temporal=0.001)
    terms.total.backward()
    assert torch.isfinite(terms.total)
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


class ColourClips(torch.utils.data.Dataset):
    """Clips whose class is the brighter colour channel."""

    def __init__(self, count: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(count) % len(CLASSES)
        self.clips = torch.randn(count, 3, 8, 32, 32, generator=g) * 0.5
        for i, label in enumerate(self.labels.tolist()):
            self.clips[i, label] += 1.0

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.clips[i], int(self.labels[i])


def test_a_model_trained_on_the_gpu_with_amp_learns_and_loads_on_the_cpu(tmp_path: Path):
    config = TrainConfig(model="stmanet_r10", model_overrides={"width": 0.125}, frames=8,
                         frame_stride=1, size=32, epochs=4, batch_size=8, lr=0.05, lr_step=2,
                         workers=0, device="cuda", amp="auto", output=str(tmp_path / "run"))
    data = TrainData(ColourClips(36, 0), list(CLASSES), ColourClips(18, 1))
    result = Trainer(config, data).run()
    loaded = load_checkpoint(result.model_path)  # onto the CPU
    assert loaded.metadata.report["val_acc"] > 0.9
    assert next(loaded.model.parameters()).device.type == "cpu"
    clips = torch.stack([ColourClips(18, 1)[i][0] for i in range(6)])
    with torch.no_grad():
        predicted = loaded.model.eval()(clips).logits.argmax(1)
    assert predicted.tolist() == [0, 1, 2, 0, 1, 2]


def test_the_predictor_on_the_gpu_gives_the_cpu_s_windows(tmp_path: Path):
    model = small_model()
    spec = InputSpec(frames=8, frame_stride=2, size=64)
    loaded = LoadedModel(model, CheckpointMetadata(model.config, CLASSES, spec), Path("mem"))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for _ in range(40)]
    cpu = Predictor(loaded, "cpu").predict_frames(frames, len(frames), 25.0).windows
    gpu = Predictor(loaded, "cuda").predict_frames(frames, len(frames), 25.0).windows
    assert len(cpu) > 1
    assert [w.start_frame for w in gpu] == [w.start_frame for w in cpu]
    for a, b in zip(gpu, cpu, strict=True):
        assert a.label == b.label
        np.testing.assert_allclose(sorted(a.scores), sorted(b.scores), rtol=1e-2, atol=3e-3)
