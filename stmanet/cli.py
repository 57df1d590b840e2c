"""The `stmanet` command line. Each subcommand is a `_cmd_*` function over the engine.

Exit codes: 0 done; 2 refused before the work (a bad option or input, an output that cannot be
written: one line on stderr naming the file); 1 the work failed part way (a write that failed,
some of several videos unreadable: what could be done is kept and the failure named); 130 (or
128 + signal) interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from stmanet.errors import STMANetError

log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace], int]


def _cmd_summary(args: argparse.Namespace) -> int:
    from stmanet.engine.summary import summarize

    overrides = dict(args.set or [])
    print(summarize(args.model, num_classes=args.classes, frames=args.frames, size=args.size,
                    overrides=overrides).to_text())
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from stmanet.models import list_models

    for name, description in list_models().items():
        print(f"{name:20s} {description}")
    return 0


def _parse_frame_size(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT`, e.g. 160x120."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 160x120, got {text!r}"
                                         ) from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"frame size {text!r} is too small (16x16 at least)")
    return width, height


def _cmd_synth(args: argparse.Namespace) -> int:
    import time

    from stmanet.data.synthetic import DRILLS, NON_DRILLS, generate_dataset
    from stmanet.errors import ConfigError
    from stmanet.fileio import check_output_folder

    drills = [d.strip() for d in args.drills.split(",") if d.strip()] if args.drills else (
        [] if args.non_drills else list(DRILLS))
    drills += list(NON_DRILLS) if args.non_drills else []
    unknown = [d for d in drills if d not in DRILLS + NON_DRILLS]
    if unknown:
        raise ConfigError(f"unknown drill {unknown[0]!r}; known drills: {', '.join(DRILLS)}; "
                          f"footage that is no drill: {', '.join(NON_DRILLS)}")
    check_output_folder(args.out_dir)
    started = time.perf_counter()

    step = max(1, args.clips_per_class)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"  {done}/{total} clips", flush=True)

    print(f"writing {len(drills)} drills x {args.clips_per_class} clips to {args.out_dir}: "
          f"{', '.join(drills)}")
    out = generate_dataset(args.out_dir, clips_per_class=args.clips_per_class, seed=args.seed,
                           frames=args.frames, fps=args.fps, size=args.size, drills=drills,
                           progress=progress, workers=args.workers)
    print(f"done in {time.perf_counter() - started:.1f} s: {out} (classes in "
          f"{out / 'classes.txt'})")
    return 0


def _cmd_sequence(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from stmanet.data.synthetic import render_sequence, write_video
    from stmanet.errors import ConfigError
    from stmanet.fileio import atomic_write_text, check_output_file

    plan: list[tuple[str, float]] = []
    for item in args.drills.split(","):
        drill, sep, seconds = item.strip().partition(":")
        try:
            plan.append((drill.strip(), float(seconds)))
        except ValueError:
            raise ConfigError(f"expected DRILL:SECONDS, got {item.strip()!r}") from None
        if not sep:
            raise ConfigError(f"expected DRILL:SECONDS, got {item.strip()!r}")
    output = Path(args.output)
    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"the video is written as MPEG-4: name it .mp4, not {output.name}")
    check_output_file(output)
    check_output_file(output.with_suffix(".json"))
    frames, segments = render_sequence(plan, seed=args.seed, fps=args.fps, size=args.size)
    write_video(output, frames, args.fps)
    timeline = {"fps": args.fps, "frames": len(frames),
                "segments": [{"label": s.drill, "start_frame": s.start_frame,
                              "end_frame": s.end_frame} for s in segments]}
    atomic_write_text(output.with_suffix(".json"), json.dumps(timeline, indent=1) + "\n")
    print(f"{output}: {len(frames)} frames ({len(frames) / args.fps:.1f} s), "
          f"{len(segments)} drills; timeline in {output.with_suffix('.json')}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _parse_override(text: str) -> tuple[str, object]:
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


# ------------------------------------------------ training, evaluation, prediction, import

def _progress_mode(requested: str) -> str:
    if requested == "auto":
        return "bar" if sys.stderr.isatty() else "none"
    return requested


def _train_config_from_args(args: argparse.Namespace):  # -> TrainConfig
    import dataclasses

    from stmanet.config import TRAIN_PRESETS, TrainConfig
    from stmanet.engine.trainer import resolve_input, resume_config
    from stmanet.errors import ConfigError

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if "model_overrides" in given:
        given["model_overrides"] = dict(given["model_overrides"])
    if args.resume:
        from pathlib import Path

        config = resume_config(Path(args.resume))
        changeable = {"epochs", "workers", "device"}
        refused = sorted(set(given) - changeable)
        if refused:
            raise ConfigError(f"a resumed run keeps its settings; only --epochs, --workers "
                              f"and --device may change (not {', '.join(refused)})")
        return config.replace(**given, output=str(Path(args.resume)))
    preset = given.pop("preset", None)
    base: dict[str, object] = {}
    if preset is not None:
        if preset not in TRAIN_PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; known presets: "
                              f"{', '.join(TRAIN_PRESETS)}")
        base = dict(TRAIN_PRESETS[preset])
    overrides = {**dict(base.get("model_overrides", {})), **given.get("model_overrides", {})}
    config = TrainConfig(**{**base, **given, "model_overrides": overrides, "preset": preset})
    # with --init the model's input spec, but --frames, --frame-stride, --size given here win
    return resolve_input(config, given=set(given))


def _cmd_train(args: argparse.Namespace) -> int:
    import os
    import signal

    from stmanet.engine.distributed import init_distributed
    from stmanet.engine.events import JsonLinesWriter, RunFailed, TrainingProgressBar
    from stmanet.engine.trainer import (
        CancelToken,
        TrainingCancelled,
        cancel_on_signals,
        run_training,
    )
    from stmanet.fileio import check_output_folder

    # under torchrun only the first process reports and logs below warnings
    is_main = os.environ.get("RANK", "0") == "0"
    mode = _progress_mode(args.progress) if is_main else "none"
    if not is_main:
        logging.getLogger().setLevel(logging.WARNING)
    sink = None
    if mode == "json":
        sink = JsonLinesWriter(sys.stdout)
    elif mode == "bar":
        sink = TrainingProgressBar(sys.stderr)
    token = CancelToken()
    context = None
    try:
        config = _train_config_from_args(args)
        if is_main:
            check_output_folder(config.output)
        context = init_distributed(config.device)
        with cancel_on_signals(token):
            result = run_training(config, resume=bool(args.resume), on_event=sink,
                                  cancel=token, context=context)
    except TrainingCancelled as exc:
        print(f"stmanet train: {exc}", file=sys.stderr)
        return 128 + (exc.signal or signal.SIGINT)
    except Exception as exc:
        if isinstance(sink, JsonLinesWriter):  # the reading program learns why, too
            sink(RunFailed(str(exc) or type(exc).__name__))
        raise
    finally:
        if isinstance(sink, TrainingProgressBar):
            sink.close()
        if context is not None:
            context.close()
    if is_main and mode != "json":
        best = ("" if result.best_val_acc is None
                else f" (best validation accuracy {result.best_val_acc:.4f}, "
                     f"epoch {result.best_epoch})")
        print(f"model: {result.model_path}{best}")
        print(f"run folder: {result.run_dir}")
    return 0


def _device_arg(name: str):  # -> torch.device
    from stmanet.engine.distributed import resolve_device

    return resolve_device(name)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import csv
    import io
    from pathlib import Path

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.events import ProgressBar
    from stmanet.engine.inference import evaluate
    from stmanet.engine.metrics import plot_confusion, write_confusion_csv
    from stmanet.engine.openset import NO_STATISTICS
    from stmanet.engine.openset_eval import evaluate_open_set
    from stmanet.engine.openset_windows import WindowCollector, fit_from_specs
    from stmanet.engine.trainer import load_index
    from stmanet.errors import CheckpointError
    from stmanet.fileio import atomic_write_text, check_output_file, check_output_folder

    checkpoint = Path(args.checkpoint)
    out_dir = Path(args.output_dir) if args.output_dir else checkpoint.parent / "evaluation"
    check_output_folder(out_dir)
    if args.save_model:
        check_output_file(args.save_model)
    device = _device_arg(args.device)
    loaded = load_checkpoint(checkpoint, device=device)
    index = load_index(args.data, annotations=args.annotations, split=args.split,
                       subset=args.subset)
    bar = ProgressBar(sys.stderr) if _progress_mode(args.progress) == "bar" else None

    def progress(done: int, total: int, what: str = "evaluate") -> None:
        if bar is not None:
            bar.draw(done, total, prefix=what, suffix="videos")

    data_options = {"annotations": args.annotations, "split": args.split, "device": device,
                    "batch_size": args.batch_size, "workers": args.workers}
    if args.openset_data:
        loaded.openset = fit_from_specs(loaded, args.openset_data, args.openset_val_data,
                                        on_progress=progress, **data_options)
        print(loaded.openset.summary())
    if args.open_set and loaded.openset is None:  # refused before the work, not after
        raise CheckpointError(checkpoint, f"{NO_STATISTICS}: fit them with --openset-data "
                              "TRAINING_DATA for the open-set evaluation")
    collector = WindowCollector() if args.open_set else None
    try:
        result = evaluate(loaded, index, device=device, batch_size=args.batch_size,
                          workers=args.workers, on_progress=progress, on_windows=collector)
        open_set = None if collector is None else evaluate_open_set(
            loaded, collector.result(index, args.data), args.open_set, subset=args.subset,
            threshold=args.novelty_threshold, on_progress=progress, **data_options)
    finally:
        if bar is not None:
            bar.close()
    report = result.report
    report.extra.update(checkpoint=str(checkpoint), data=args.data, subset=args.subset,
                        split=args.split)
    report.write_json(out_dir / "report.json")
    write_confusion_csv(out_dir / "confusion.csv", report.confusion_array, report.class_names)
    plot_confusion(out_dir / "confusion.png", report.confusion_array, report.class_names,
                   title=f"{checkpoint.name} on {args.data}")
    buffer = io.StringIO()
    rows = result.per_video_rows()
    writer = csv.DictWriter(buffer, fieldnames=["video", "label", "predicted", "score",
                                                "correct"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "per_video.csv", buffer.getvalue())
    print(report.to_text())
    if result.skipped:
        print(f"\n{len(result.skipped)} unreadable videos skipped (see the warnings)")
    if open_set is not None:
        import json

        atomic_write_text(out_dir / "openset.json", json.dumps(open_set.to_dict(), indent=1))
        print("\n" + open_set.to_text())
    print(f"\nreport, confusion matrix (CSV, PNG) and per-video results in {out_dir}")
    if args.save_model:
        import dataclasses

        from stmanet.engine.checkpoint import save_checkpoint

        metadata = dataclasses.replace(loaded.metadata, report=report.to_dict())
        saved = save_checkpoint(args.save_model, loaded.model.cpu(), metadata,
                                openset=loaded.openset)
        kept = "" if loaded.openset is None else " and its open-set statistics"
        print(f"model with this report in its metadata{kept}: {saved}")
    return 0


def _cmd_openset(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stmanet.engine.checkpoint import load_checkpoint, save_checkpoint
    from stmanet.engine.events import ProgressBar
    from stmanet.engine.openset_windows import fit_from_specs
    from stmanet.fileio import check_output_file

    output = Path(args.output or args.checkpoint)
    check_output_file(output)
    device = _device_arg(args.device)
    loaded = load_checkpoint(args.checkpoint, device=device)
    bar = ProgressBar(sys.stderr) if _progress_mode(args.progress) == "bar" else None
    try:
        stats = fit_from_specs(loaded, args.data, args.val_data, annotations=args.annotations,
                               split=args.split, device=device, batch_size=args.batch_size,
                               workers=args.workers, on_progress=None if bar is None else (
                                   lambda done, total, what: bar.draw(done, total, what)))
    finally:
        if bar is not None:
            bar.close()
    save_checkpoint(output, loaded.model.cpu(), loaded.metadata, openset=stats)
    print(f"{stats.summary()}\n{output}: the model with these statistics (its weights and "
          "metadata unchanged)")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.events import ProgressBar
    from stmanet.engine.inference import Predictor, bundled_demo_model, write_predictions
    from stmanet.errors import ConfigError, VideoError, printable_path
    from stmanet.fileio import check_output_file

    checkpoint = Path(args.checkpoint) if args.checkpoint else bundled_demo_model()
    if checkpoint is None:
        raise ConfigError("no --checkpoint given and no demo model is installed "
                          "(resources/models/demo.safetensors): train one with `stmanet "
                          "train`, or pass --checkpoint MODEL.safetensors")
    if args.output and Path(args.output).suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"{args.output}: choose a .csv or .json file for the predictions")
    if args.output:
        check_output_file(args.output)
    videos = _expand_videos(args.videos)
    device = _device_arg(args.device)
    predictor = Predictor(load_checkpoint(checkpoint, device=device), device,
                          batch_size=args.batch_size, top_k=args.top_k,
                          attention=args.attention, novelty_threshold=args.novelty_threshold)
    if args.sensitivity:
        predictor.set_sensitivity(args.sensitivity)
    info = predictor.model_info()
    for note in info["notes"]:
        if args.attention or "attention" not in note:
            print(f"stmanet predict: note: {printable_path(checkpoint)}: {note}",
                  file=sys.stderr)
    show_bar = _progress_mode(args.progress) == "bar"
    results = []
    failed: list[VideoError] = []
    for video in videos:
        bar = ProgressBar(sys.stderr) if show_bar else None

        def progress(done: int, total: int, bar=bar, name=Path(video).name) -> None:
            if bar is not None:
                bar.draw(done, total, prefix=name, suffix="windows")

        try:
            results.append(predictor.predict(video, hop=args.hop, on_progress=progress))
        except VideoError as exc:  # the other videos' results are kept
            if len(videos) == 1:
                raise
            failed.append(exc)
            print(f"stmanet predict: error: {exc}", file=sys.stderr)
        finally:
            if bar is not None:
                bar.close()
    if args.output and results:
        write_predictions(args.output, results, attention=args.attention, model=info)
        windows = sum(len(r.windows) for r in results)
        unknown = sum(r.unknown_windows or 0 for r in results)
        told = f", {unknown} of them not a known action" if predictor.can_tell_unknowns else ""
        print(f"{windows} window predictions of {len(results)} video(s) written to "
              f"{args.output}{told}")
    elif not args.output:
        for r in results:
            top = ", ".join(f"{name} {score:.3f}" for name, score in r.top(3))
            told = ("" if r.unknown_windows is None else
                    f" ({r.unknown_windows} of {len(r.windows)} windows not a known action)")
            print(f"{printable_path(r.path)}: {top}{told}")
            for w in r.windows:
                verdict = "" if w.known is None else (
                    f"  novelty {w.novelty:.3g}" if w.known else
                    f"  NOT A KNOWN ACTION (novelty {w.novelty:.3g})")
                print(f"  {w.start_s:8.2f}-{w.end_s:8.2f} s  frames {w.start_frame:6d}-"
                      f"{w.end_frame:6d}  {w.label} {w.score:.3f}{verdict}")
    if failed:
        print(f"stmanet predict: error: {len(failed)} of {len(videos)} videos could not be "
              f"read: {', '.join(printable_path(e.path) for e in failed)}", file=sys.stderr)
        return 1
    return 0


def _expand_videos(given: Sequence[str]) -> list[str]:
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


def _read_class_names(text: str) -> list[str]:
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


def _cmd_import_hara(args: argparse.Namespace) -> int:
    from stmanet.config import InputSpec
    from stmanet.engine.checkpoint import import_hara, save_checkpoint
    from stmanet.fileio import check_output_file
    from stmanet.models import model_config

    check_output_file(args.output)
    names = _read_class_names(args.classes)
    config = model_config(args.model, len(names), **dict(args.set or []))
    spec = InputSpec(frames=args.frames, frame_stride=args.frame_stride, size=args.size)
    loaded = import_hara(args.pth, config, names, input_spec=spec)
    save_checkpoint(args.output, loaded.model, loaded.metadata)
    print(f"{args.output}: {args.model} with {len(names)} classes, backbone from {args.pth} "
          f"(classifier {loaded.metadata.provenance.get('classifier')})")
    return 0


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, e.g. --lr-step for lr_step; unset flags keep the
    preset's or the config's default."""
    import dataclasses
    import typing

    from stmanet.config import TRAIN_PRESETS, TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        if "flag" in meta and meta["flag"] is None:
            continue  # set by the run, not on the command line (mean, std)
        flag = "--" + meta.get("flag", f.name.replace("_", "-"))
        default = f.default if f.default is not dataclasses.MISSING else None
        text = meta.get("help", "")
        kwargs: dict[str, object] = {"dest": f.name, "default": argparse.SUPPRESS}
        kind = hints[f.name]
        args_of = typing.get_args(kind)
        if args_of and type(None) in args_of:  # X | None
            kind = next(a for a in args_of if a is not type(None))
        if f.name == "model_overrides":
            kwargs.update(type=_parse_override, action="append", metavar="KEY=VALUE")
        elif kind is bool:
            kwargs.update(action=argparse.BooleanOptionalAction)
            text += f" (default: {'on' if default else 'off'})"
        else:
            kwargs["type"] = kind if kind in (int, float) else str
            if f.name == "preset":
                kwargs["choices"] = sorted(TRAIN_PRESETS)
            elif "choices" in meta:
                kwargs["choices"] = meta["choices"]
            if default not in (None, ""):
                text += f" (default: {default})"
        p.add_argument(flag, help=text, **kwargs)


def _add_engine_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model (runs under torchrun for several GPUs or machines)",
        description="Train ST-MANet. Defaults are the paper's recipe; every option is stored "
                    "in the run folder's config.json. Under `torchrun --nproc_per_node N -m "
                    "stmanet train ...` every process trains on its share of the data.")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its folder (its config is kept)")
    p.add_argument("--progress", choices=("auto", "json", "bar", "none"), default="auto",
                   help="json: one event per line on stdout (for programs); bar: a terminal "
                        "progress bar; auto: bar on a terminal, else none")
    _add_train_flags(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="test protocol on a data set: top-1/top-5, per-class "
                                        "accuracy, confusion matrix")
    p.add_argument("checkpoint", help="model file (.safetensors)")
    p.add_argument("--data", required=True, metavar="KIND:PATH",
                   help="test data, e.g. ucf101:/data/UCF-101 or folder:/data/drills")
    p.add_argument("--annotations", help="folder of the official split files")
    p.add_argument("--split", type=int, default=1, help="official split (default 1)")
    p.add_argument("--subset", choices=("train", "test"), default="test",
                   help="subset of an official data set (default test)")
    p.add_argument("--output-dir", help="where report.json, confusion.csv/.png and "
                                        "per_video.csv go (default: beside the checkpoint, "
                                        "in evaluation/)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument("--workers", type=int, default=2, help="video-decoding processes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--progress", choices=("auto", "bar", "none"), default="auto")
    p.add_argument("--save-model", metavar="FILE", help="also write the model with this "
                   "evaluation report in its metadata to FILE (.safetensors), with its "
                   "open-set statistics (those of --openset-data when given)")
    p.add_argument("--openset-data", metavar="KIND:PATH",
                   help="fit the model's open-set statistics on this data, the model's "
                        "training data (class means and covariance of every window's "
                        "features); they replace those in the file")
    p.add_argument("--openset-val-data", metavar="KIND:PATH",
                   help="with --openset-data: set the novelty threshold so that 95%% of this "
                        "data's windows stay known (default: of the training windows)")
    p.add_argument("--open-set", metavar="KIND:PATH",
                   help="footage of actions the model does not know (held-out classes, or "
                        "none at all): report AUROC, the unknown windows caught and the known "
                        "accuracy kept (openset.json)")
    p.add_argument("--novelty-threshold", type=float, metavar="VALUE",
                   help="the threshold of the --open-set report (default: the model's)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("openset", help="fit a model's open-set statistics (what it needs to "
                                       "call footage of none of its actions unknown)",
                       description="Fit the class means and shared covariance of the model's "
                                   "features on every window of its training data, set the "
                                   "novelty threshold so that 95%% of the validation windows "
                                   "(without --val-data: of the training windows, each scored "
                                   "without its own clip) stay known, and write them into the "
                                   "model file; weights and metadata stay as they are.")
    p.add_argument("checkpoint", help="model file (.safetensors)")
    p.add_argument("--data", required=True, metavar="KIND:PATH",
                   help="the model's training data, e.g. folder:data/drills-train")
    p.add_argument("--val-data", metavar="KIND:PATH",
                   help="clips of the model's classes it was not trained on (the threshold)")
    p.add_argument("-o", "--output", help="model file to write (default: the model itself)")
    p.add_argument("--annotations", help="folder of the official split files")
    p.add_argument("--split", type=int, default=1, help="official split (default 1)")
    p.add_argument("--batch-size", type=_positive_int, default=8,
                   help="windows per forward pass")
    p.add_argument("--workers", type=int, default=2, help="video-decoding processes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--progress", choices=("auto", "bar", "none"), default="auto")
    p.set_defaults(func=_cmd_openset)

    p = sub.add_parser("predict", help="per-window action predictions for videos")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--checkpoint", help="model file (default: the bundled demo model)")
    p.add_argument("-o", "--output", help="write the predictions to FILE.csv or FILE.json "
                                          "(default: a table on the terminal)")
    p.add_argument("--hop", type=_positive_int,
                   help="source frames between window starts (default: the window length)")
    p.add_argument("--top-k", type=_positive_int, default=5,
                   help="labels per window (default 5)")
    p.add_argument("--batch-size", type=_positive_int, default=8,
                   help="windows per forward pass")
    p.add_argument("--attention", action="store_true",
                   help="include the mean attention maps per stage (JSON output)")
    unknown = p.add_mutually_exclusive_group()
    unknown.add_argument("--novelty-threshold", type=float, metavar="VALUE",
                         help="call a window not a known action above this novelty (default: "
                              "the model's threshold)")
    unknown.add_argument("--sensitivity", choices=("low", "normal", "high"),
                         help="how readily windows are called not a known action: the "
                              "threshold that keeps 99%%, 95%% (the model's) or 90%% of the "
                              "windows it was set on known")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--progress", choices=("auto", "bar", "none"), default="auto")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("import-hara", help="turn Hara et al.'s Kinetics weights (.pth) into "
                                           "an ST-MANet model file")
    p.add_argument("pth", help="e.g. r3d50_K_200ep.pth")
    p.add_argument("--model", required=True, help="model of the same depth, e.g. stmanet_r50")
    p.add_argument("--classes", required=True, metavar="FILE_OR_LIST",
                   help="class names: a file (one per line, or UCF-101's classInd.txt) or a "
                        "comma-separated list")
    p.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    p.add_argument("--set", type=_parse_override, action="append", metavar="KEY=VALUE",
                   help="override a model option (repeatable)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (default 32)")
    p.add_argument("--frame-stride", type=int, default=2, help="source-frame stride (default 2)")
    p.add_argument("--size", type=int, default=112, help="crop side (default 112)")
    p.set_defaults(func=_cmd_import_hara)


def build_parser(prog: str = "stmanet") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="ST-MANet action recognition: models, training, prediction.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("summary", help="parameters, GFLOPs and per-stage shapes of a model")
    p.add_argument("model", help="model name (see `stmanet models`)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (default 32)")
    p.add_argument("--size", type=int, default=112, help="crop side in pixels (default 112)")
    p.add_argument("--classes", type=int, default=101, help="number of classes (default 101)")
    p.add_argument("--set", type=_parse_override, action="append", metavar="KEY=VALUE",
                   help="override a model option, e.g. --set tda=off (repeatable)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("models", help="list the named model variants")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("synth", help="generate a folder-per-class data set of drill videos",
                       description="Render procedural drill clips (stick figures doing "
                                   "physical-education drills) as OUT_DIR/<drill>/*.mp4 plus "
                                   "OUT_DIR/classes.txt. The same seed gives the same videos.")
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the data set into")
    p.add_argument("--clips-per-class", type=int, default=20, help="clips per drill (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--frames", type=int, default=96, help="frames per clip (default 96)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    p.add_argument("--size", type=_parse_frame_size, default=(160, 120), metavar="WxH",
                   help="frame size (default 160x120)")
    p.add_argument("--drills", metavar="LIST",
                   help="comma-separated drills (default: all, see stmanet.data.synthetic); "
                        "footage that is no drill may be listed too (idle, walk_across, "
                        "empty_scene, camera_shake)")
    p.add_argument("--non-drills", action="store_true",
                   help="write footage that is no drill (a figure at rest, walking through the "
                        "picture, an empty room, a shaking camera), to check that a model "
                        "calls it unknown; instead of the drills, or beside those of --drills")
    p.add_argument("--workers", type=int, default=1,
                   help="processes rendering clips side by side (default 1; the files are the "
                        "same for any number)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("sequence", help="render one video of several drills one after another, "
                                        "with its expected timeline",
                       description="Render one figure doing several drills in a row as OUT.mp4, "
                                   "and the timeline it shows (which drill from which frame to "
                                   "which) as OUT.json, the format `stmanet-app --self-test` "
                                   "checks predictions against. The same seed gives the same "
                                   "video.")
    p.add_argument("output", metavar="OUT.mp4", help="video file to write")
    p.add_argument("--drills", metavar="DRILL:SECONDS,...", required=True,
                   help="the drills in order with their durations, e.g. "
                        "jumping_jacks:5,squats:5,walking:6")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    p.add_argument("--size", type=_parse_frame_size, default=(320, 240), metavar="WxH",
                   help="frame size (default 320x240)")
    p.set_defaults(func=_cmd_sequence)
    _add_engine_commands(sub)
    return parser


def command_names() -> list[str]:
    """The subcommands (train, predict, ...), for a program that passes them on to `main`, as
    the desktop program does with `stmanet-app train ...`."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def main(argv: Sequence[str] | None = None, *, prog: str = "stmanet") -> int:
    """Run one subcommand; `prog` is the program name shown in usage and error messages."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Command = args.func
    try:
        return func(args)
    except STMANetError as exc:
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write that failed part way: a full disk, a vanished folder
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc)
        print(f"{prog} {args.command}: error: {where}cannot write: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
