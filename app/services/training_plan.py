"""Fine-tuning from the app: what a run starts from, its `stmanet train` flags, and whether
the label project is ready for it.

`FineTuneSettings` is one run as the fine-tuning dialog describes it; `train_arguments` turns
it into the flags of the command that app/services/training.py runs. `check_project` reads
the project as the trainer will and says in plain words what stands in the way of training.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from stmanet.errors import STMANetError

MIN_SEGMENTS_PER_CLASS = 3
"""With fewer, a class cannot give clips to both training and validation and be learnt."""

FEW_SEGMENTS_PER_CLASS = 10
"""Below this the model will be rough: worth saying, not a reason to refuse."""

FREEZE_CHOICES: dict[str, tuple[str, str]] = {
    "backbone": ("The last layer only",
                 "Fastest. The network keeps what it knows and only learns your action names. "
                 "Good with a few clips per action."),
    "early": ("The last stages and the attention",
              "The usual choice: the early layers (edges, simple motion) stay fixed."),
    "none": ("Everything",
             "Slowest; needs the most clips, or the model forgets what it knew."),
}
"""--freeze value: (what the user reads, a longer explanation)."""

SCRATCH_MODEL = "stmanet_r18_lite"
DEFAULT_INPUT = (16, 2, 112)  # frames, frame stride, crop size for a model without its own


# ----------------------------------------------------------------------------- the run

def training_devices() -> list[str]:
    """Devices a run can use: auto and cpu always, cuda when a CUDA GPU is there."""
    import torch

    return ["auto", "cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@dataclass(frozen=True)
class BaseModel:
    """What a run starts from.

    kind: "model" (an ST-MANet .safetensors: the demo model, the model in use, any file;
    --init), "kinetics" (Hara et al.'s Kinetics .pth; --hara with the ResNet of the same
    depth) or "scratch" (no pretrained weights)."""

    kind: str
    path: Path | None = None
    label: str = ""
    depth: int | None = None  # kinetics: the 3D ResNet depth of the .pth

    @property
    def model_name(self) -> str:
        if self.kind == "kinetics":
            return f"stmanet_r{self.depth or 50}"
        return SCRATCH_MODEL


def kinetics_depth(path: Path) -> int | None:
    """The ResNet depth a Hara et al. file name tells (r3d50_K_200ep.pth -> 50), if any."""
    match = re.search(r"r(?:3d)?(10|18|34|50|101)(?!\d)", path.name.lower())
    return int(match.group(1)) if match else None


def model_input(path: Path) -> tuple[int, int, int] | None:
    """(frames, frame stride, crop size) an ST-MANet model file was trained with, read from
    its header (the weights are not loaded); None when the file cannot say."""
    from stmanet.engine.checkpoint import read_metadata

    try:
        spec = read_metadata(path).input
    except (STMANetError, OSError, ValueError):
        return None
    return spec.frames, spec.frame_stride, spec.size


@dataclass(frozen=True)
class FineTuneSettings:
    """One fine-tuning run as the dialog describes it; `train_arguments` turns it into
    `stmanet train` flags."""

    project: Path
    base: BaseModel
    run_dir: Path
    freeze: str = "early"
    epochs: int = 15
    lr: float = 0.002
    batch_size: int = 8
    val_share: float = 0.2
    device: str = "auto"
    input: tuple[int, int, int] = DEFAULT_INPUT  # frames, frame stride, size
    workers: int = 1
    extra: tuple[str, ...] = ()  # further `stmanet train` flags, written by the user
    # statistics that judge each window with its mirror image (two forward passes a window:
    # better at telling footage of no trained action, half as fast); False: each alone
    openset_mirror: bool = True


def default_workers() -> int:
    """Video-decoding processes: leave the window and the training process a core each."""
    return max(0, min(4, (os.cpu_count() or 1) - 2))


def train_arguments(settings: FineTuneSettings) -> list[str]:
    """`stmanet train` flags for `settings`. AdamW with a cosine schedule: on a few hundred
    clips of one's own it learns in far fewer epochs than the paper's SGD recipe."""
    s = settings
    frames, stride, size = s.input
    args = ["--data", f"project:{s.project}", "--val-share", f"{s.val_share:g}",
            "--epochs", str(s.epochs), "--lr", f"{s.lr:g}", "--batch-size", str(s.batch_size),
            "--optimizer", "adamw", "--schedule", "cosine", "--weight-decay", "0.01",
            "--frames", str(frames), "--frame-stride", str(stride), "--size", str(size),
            "--device", s.device, "--workers", str(s.workers)]
    base = s.base
    if base.kind == "model" and base.path is not None:
        args += ["--init", str(base.path), "--freeze", s.freeze]
    elif base.kind == "kinetics" and base.path is not None:
        args += ["--hara", str(base.path), "--model", base.model_name, "--freeze", s.freeze]
    else:  # nothing pretrained to keep
        args += ["--model", base.model_name, "--freeze", "none"]
    if not s.openset_mirror:
        args.append("--no-openset-mirror")
    # the user's own flags may change any of the above, but not where the run goes or how
    # it reports
    return [*args, *s.extra, "--output", str(s.run_dir), "--progress", "json"]


# ----------------------------------------------------------------------- is there enough

@dataclass(frozen=True)
class ProjectCheck:
    """Whether a label project has enough to train on. `problems` block training; `notes`
    are worth knowing. Both are plain sentences for the user."""

    project: Path
    classes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # usable segments per class
    missing_videos: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def segments(self) -> int:
        return sum(self.counts.values())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def check_project(project: Path, *,
                  min_segments: int = MIN_SEGMENTS_PER_CLASS) -> ProjectCheck:
    """Read the label project as the trainer will (`project:FILE`) and say, in plain words,
    what stands in the way of training: too few segments of a class, a single class, videos
    that cannot be found."""
    from stmanet.data.sources import load_source

    project = Path(project)
    try:
        index = load_source("project", project)
    except STMANetError as exc:
        text = str(exc)
        if "none of the" in text and "exist" in text:
            text = ("None of the project's videos can be found. Were they moved or renamed? "
                    f"({exc})")
        elif "no labelled segment" in text or "has no classes" in text:
            text = "Nothing is labelled yet: mark segments of each action in the videos first."
        return ProjectCheck(project, problems=[text])
    classes = list(index.class_names)
    counts = dict(zip(classes, index.class_counts(), strict=True))
    missing = [s.path for s in index.skipped]
    problems: list[str] = []
    notes: list[str] = []
    if missing:
        shown = ", ".join(p.name for p in missing[:3]) + (" …" if len(missing) > 3 else "")
        notes.append(f"{_plural(len(missing), 'video')} of the project cannot be found "
                     f"({shown}); their segments are left out.")
    used = [name for name in classes if counts[name] > 0]
    left_out = " that can be used" if missing else ""
    if len(used) < 2:
        only = f" (only “{used[0]}” has segments{left_out})" if used else ""
        problems.append("A model learns to tell actions apart, so it needs at least two: "
                        f"label segments of a second action{only}.")
    for name in classes:
        n = counts[name]
        if n == 0 and len(used) >= 2:
            problems.append(f"“{name}” has no labelled segments{left_out}: label at least "
                            f"{min_segments}, or remove the action from the project.")
        elif 0 < n < min_segments:
            problems.append(f"“{name}” has only {_plural(n, 'segment')}{left_out}: label at "
                            f"least {min_segments}, so that some can be kept aside to check "
                            "the model.")
    videos: dict[int, set[str]] = {}
    for record in index.records:
        videos.setdefault(int(record.label), set()).add(str(record.path))
    single = [classes[c] for c, seen in sorted(videos.items())
              if len(seen) == 1 and counts[classes[c]] >= min_segments]
    if single and len(used) >= 2:
        names = ", ".join(f"“{name}”" for name in single[:3]) + (" …" if len(single) > 3 else "")
        notes.append(f"All the segments of {names} come from one video, so none of "
                     f"{'it' if len(single) == 1 else 'them'} can be kept aside to check the "
                     "model (a video's segments stay together): label "
                     f"{'it' if len(single) == 1 else 'them'} in a second video as well.")
    if not problems:
        fewest = min(counts[name] for name in used)
        if fewest < FEW_SEGMENTS_PER_CLASS:
            notes.append(f"With {fewest}–{max(counts.values())} segments per action the "
                         "model will be rough; ten or more per action, from different "
                         "videos, work much better.")
    return ProjectCheck(project, classes, counts, missing, problems, notes)
