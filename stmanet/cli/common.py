"""What the subcommands share: argument types, devices, model files, video lists,
smoothing options."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence


def parse_frame_size(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT`, e.g. 160x120."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 160x120, got {text!r}"
                                         ) from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"frame size {text!r} is too small (16x16 at least)")
    return width, height


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def novelty_threshold(text: str) -> float:
    """A novelty threshold: a finite number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def parse_override(text: str) -> tuple[str, object]:
    """`key=value` with value read as bool, int, float or text."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    value: object = raw
    if raw.lower() in ("true", "false", "on", "off"):
        value = raw.lower() in ("true", "on")
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    return key.strip(), value


def progress_mode(requested: str) -> str:
    if requested == "auto":
        return "bar" if sys.stderr.isatty() else "none"
    return requested


def device_arg(name: str):  # -> torch.device
    from stmanet.engine.distributed import resolve_device

    return resolve_device(name)


def model_file(given: str | None):  # -> Path
    from pathlib import Path

    from stmanet.engine.inference import bundled_demo_model
    from stmanet.errors import ConfigError

    checkpoint = Path(given) if given else bundled_demo_model()
    if checkpoint is None:
        raise ConfigError("no --checkpoint given and no demo model is installed "
                          "(resources/models/demo.safetensors): train one with `stmanet "
                          "train`, or pass --checkpoint MODEL.safetensors")
    return checkpoint


def smoothing_options(args: argparse.Namespace) -> dict[str, object]:
    from stmanet.engine.segmentation import check_smoothing

    check_smoothing(args.smoothing, args.switch_penalty, args.median_frames, args.weighting)
    return {"smoothing": args.smoothing, "switch_penalty": args.switch_penalty,
            "median_frames": args.median_frames, "weighting": args.weighting,
            "refine": not args.no_refine}


def expand_videos(given: Sequence[str]) -> list[str]:
    """The videos to predict: files as given, a folder as the video files directly in it."""
    from pathlib import Path

    from stmanet.data.sources import VIDEO_EXTENSIONS
    from stmanet.errors import VideoError

    videos: list[str] = []
    for text in given:
        path = Path(text)
        if not path.is_dir():
            videos.append(text)
            continue
        found = sorted(str(p) for p in path.iterdir() if p.is_file()
                       and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))
        if not found:
            raise VideoError(path, f"a folder with no videos ({', '.join(VIDEO_EXTENSIONS)})")
        videos.extend(found)
    return videos


def read_class_names(text: str) -> list[str]:
    from pathlib import Path

    from stmanet.errors import ConfigError
    from stmanet.fileio import read_text_file

    path = Path(text)
    from_file = path.exists()
    if from_file:
        lines = read_text_file(path).splitlines()
        names = []
        for line in lines:
            parts = line.strip().split()
            # "1 ApplyEyeMakeup" (UCF-101's classInd.txt) or one name per line
            if len(parts) == 2 and parts[0].isdigit():
                names.append(parts[1])
            elif line.strip():
                names.append(line.strip())
    else:
        names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"no class names in {text!r}: give a file with one name per line "
                          "or a comma-separated list")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        where = f"{text}: " if from_file else ""
        raise ConfigError(f"{where}class names must be unique; listed more than once: "
                          f"{', '.join(twice)}")
    return names


def add_unknown_flags(p: argparse.ArgumentParser) -> None:
    """--novelty-threshold / --sensitivity: where the model calls footage not a known action
    (`set_unknown_flags` applies them)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--novelty-threshold", type=novelty_threshold, metavar="VALUE",
                       help="call a window not a known action above this novelty (default: "
                            "the model's threshold; --sensitivity moves it by name)")
    group.add_argument("--sensitivity", choices=("low", "normal", "high"),
                       help="how readily windows are called not a known action: the "
                            "threshold that keeps 99%%, 95%% (the model's) or 90%% of new "
                            "footage of the model's actions known")


def set_unknown_flags(predictor, args: argparse.Namespace) -> None:
    """Move a Predictor's novelty threshold as `add_unknown_flags`'s options say (ConfigError
    naming the model file when it cannot tell unknowns)."""
    if args.sensitivity:
        predictor.set_sensitivity(args.sensitivity)
    elif args.novelty_threshold is not None:
        predictor.set_novelty_threshold(args.novelty_threshold)


def add_smoothing_flags(p: argparse.ArgumentParser) -> None:
    from stmanet.engine import segmentation as seg

    p.add_argument("--smoothing", choices=seg.SMOOTHING, default=seg.DEFAULT_SMOOTHING,
                   help="per-frame smoothing (default viterbi; see docs/training.md)")
    p.add_argument("--switch-penalty", type=float, default=seg.DEFAULT_SWITCH_PENALTY,
                   help="viterbi: cost of a change of action, in log-score units "
                        f"(default {seg.DEFAULT_SWITCH_PENALTY:g})")
    p.add_argument("--median-frames", type=int, default=seg.DEFAULT_MEDIAN_FRAMES,
                   help=f"median: frames of the running median, odd "
                        f"(default {seg.DEFAULT_MEDIAN_FRAMES})")
    p.add_argument("--weighting", choices=seg.WEIGHTINGS, default=seg.DEFAULT_WEIGHTING,
                   help="how the windows covering a frame are averaged: centre (each by "
                        "how near the frame is to its middle; the default) or uniform")
    p.add_argument("--no-refine", action="store_true",
                   help="leave each change of action where the windows put it, instead of "
                        "placing it on the frames' pictures (see docs/training.md)")


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    """--backend and --ir: what runs the network (engine/inference.py, inference_network)."""
    p.add_argument("--backend", choices=("torch", "openvino"), default="torch",
                   help="what runs the network: torch (default) or openvino (CPU only; pip "
                        "install 'stmanet-coach[openvino]')")
    p.add_argument("--ir", metavar="FILE.xml",
                   help="an OpenVINO model made from this model file by `stmanet export "
                        "--format openvino` (e.g. --int8); implies --backend openvino")


def inference_device(args: argparse.Namespace):  # -> torch.device
    """--device, where `auto` is the CPU when OpenVINO runs the network (it runs nowhere
    else)."""
    if args.backend == "openvino" or args.ir:
        if args.device not in ("auto", "cpu"):
            from stmanet.errors import ConfigError

            raise ConfigError(f"the OpenVINO backend runs on the CPU, not on {args.device}: "
                              "leave out --device or use --device cpu")
        return device_arg("cpu")
    return device_arg(args.device)


def backend_options(args: argparse.Namespace) -> dict[str, object]:
    """Predictor's backend keywords from add_backend_flags' flags."""
    return {"backend": args.backend, "ir": args.ir}


def predictor_from_args(args: argparse.Namespace):  # -> Predictor
    from pathlib import Path

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.inference import Predictor, bundled_demo_model
    from stmanet.errors import ConfigError

    checkpoint = Path(args.checkpoint) if args.checkpoint else bundled_demo_model()
    if checkpoint is None:
        raise ConfigError("no --checkpoint given and no demo model is installed: pass "
                          "--checkpoint MODEL.safetensors, --segments FILE or --whole")
    device = inference_device(args)
    predictor = Predictor(load_checkpoint(checkpoint, device=device), device,
                          **backend_options(args))
    set_unknown_flags(predictor, args)
    return predictor


def parse_seconds(text: str) -> tuple[float, float]:
    """`MIN-MAX` seconds, e.g. 5-30."""
    try:
        lo, hi = (float(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX seconds, e.g. 5-30, got {text!r}"
                                         ) from None
    if not 0 < lo <= hi < math.inf:
        raise argparse.ArgumentTypeError(f"need 0 < MIN <= MAX, got {text!r}")
    return lo, hi
