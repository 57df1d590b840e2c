"""The whole learning path on generated drills: `stmanet synth`, `stmanet train --preset demo`,
`stmanet evaluate` on clips of seeds never used in training.

The slowest test of the suite (about 20 minutes on 2 cores): it trains the demo recipe (40
epochs) on 60 clips per drill instead of 100, and asks for 90% top-1 where the shipped demo
model reaches more (docs/training.md). With 30 epochs the result sat at the threshold
(0.89-0.90 of 200 clips, jogging the weak class) and moved with the seed's draws.
"""

import json

import pytest

from stmanet.cli import main
from stmanet.data import synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # and one loading process: 2 cores


@pytest.mark.slow
def test_a_small_model_learns_generated_drills_to_90_percent(tmp_path):
    train = synthetic.generate_dataset(tmp_path / "train", clips_per_class=60, seed=1000,
                                       workers=2)
    test = synthetic.generate_dataset(tmp_path / "test", clips_per_class=20, seed=2000,
                                      workers=2)
    run = tmp_path / "run"
    assert main(["train", "--preset", "demo", "--data", f"folder:{train}", "--epochs", "40",
                 "--workers", "1", "--device", "cpu", "--output", str(run),
                 "--progress", "none"]) == 0
    assert main(["evaluate", str(run / "final.safetensors"), "--data", f"folder:{test}",
                 "--output-dir", str(tmp_path / "eval"), "--workers", "1",
                 "--device", "cpu", "--progress", "none"]) == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["top1"] >= 0.9, report["per_class"]
