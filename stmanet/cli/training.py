"""Models and training: `stmanet summary`, `models`, `train`, `evaluate`, `openset`,
`import-hara`, `export`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from stmanet.cli.common import (
    add_backend_flags,
    add_unknown_flags,
    backend_options,
    device_arg,
    expand_videos,
    inference_device,
    parse_override,
    positive_int,
    progress_mode,
    read_class_names,
)

if TYPE_CHECKING:
    from stmanet.engine.openset import OpenSetStats


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
    mode = progress_mode(args.progress) if is_main else "none"
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
                else f" (epoch {result.best_epoch}, validation accuracy "
                     f"{result.best_val_acc:.4f})")
        print(f"model: {result.model_path}{best}")
        if result.selection is not None and result.best_val_acc is not None:
            print(f"kept: {result.selection['reason']}")
        print(f"run folder: {result.run_dir}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import csv
    import io
    from pathlib import Path

    from stmanet.data.training_data import load_index
    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.evaluation import evaluate
    from stmanet.engine.events import ProgressBar
    from stmanet.engine.metrics import plot_confusion, write_confusion_csv
    from stmanet.engine.openset import NO_STATISTICS, checked_threshold
    from stmanet.engine.openset_eval import evaluate_open_set
    from stmanet.engine.openset_windows import WindowCollector, fit_from_specs
    from stmanet.errors import CheckpointError, ConfigError
    from stmanet.fileio import atomic_write_text, check_output_file, check_output_folder

    checkpoint = Path(args.checkpoint)
    if args.backend != "torch" or args.ir:
        given = [flag for flag, value in (("--save-model", args.save_model),
                                          ("--open-set", args.open_set),
                                          ("--openset-data", args.openset_data)) if value]
        if given:
            raise ConfigError(f"{' and '.join(given)} go with the model's own network: leave "
                              "out --backend openvino and --ir (the accuracy of an OpenVINO "
                              "run is not the model file's)")
    if (args.sensitivity or args.novelty_threshold is not None) and not args.open_set:
        raise ConfigError("--sensitivity and --novelty-threshold set the threshold of the "
                          "--open-set report: give --open-set KIND:PATH")
    if args.openset_mirror is not None and not args.openset_data:
        flag = "--openset-mirror" if args.openset_mirror else "--no-openset-mirror"
        raise ConfigError(f"{flag} goes with --openset-data (the statistics already in the "
                          "model file stay as they were fitted)")
    out_dir = Path(args.output_dir) if args.output_dir else checkpoint.parent / "evaluation"
    check_output_folder(out_dir)
    if args.save_model:
        check_output_file(args.save_model)
    device = inference_device(args)
    loaded = load_checkpoint(checkpoint, device=device)
    index = load_index(args.data, annotations=args.annotations, split=args.split,
                       subset=args.subset)
    bar = ProgressBar(sys.stderr) if progress_mode(args.progress) == "bar" else None

    def progress(done: int, total: int, what: str = "evaluate") -> None:
        if bar is not None:
            bar.draw(done, total, prefix=what, suffix="videos")

    data_options = {"annotations": args.annotations, "split": args.split, "device": device,
                    "batch_size": args.batch_size, "workers": args.workers}
    if args.openset_data:
        loaded.openset = fit_from_specs(loaded, args.openset_data, args.openset_val_data,
                                        mirror=args.openset_mirror is not False,  # on unless off
                                        on_progress=progress,
                                        **data_options)
        _say_fitted(loaded.openset)
    if args.open_set and loaded.openset is None:  # refused before the work, not after
        raise CheckpointError(checkpoint, f"{NO_STATISTICS}: fit them with --openset-data "
                              "TRAINING_DATA for the open-set evaluation")
    mirror = loaded.openset is not None and loaded.openset.mirror
    collector = WindowCollector(mirror) if args.open_set else None
    try:
        result = evaluate(loaded, index, device=device, batch_size=args.batch_size,
                          workers=args.workers, on_progress=progress, on_windows=collector,
                          windows_mirror=mirror, **backend_options(args))
        open_set = None if collector is None else evaluate_open_set(
            loaded, collector.result(index, args.data), args.open_set, subset=args.subset,
            threshold=checked_threshold(loaded.openset, checkpoint,
                                        args.sensitivity or args.novelty_threshold),
            on_progress=progress, **data_options)
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
    device = device_arg(args.device)
    loaded = load_checkpoint(args.checkpoint, device=device)
    bar = ProgressBar(sys.stderr) if progress_mode(args.progress) == "bar" else None
    try:
        stats = fit_from_specs(loaded, args.data, args.val_data, annotations=args.annotations,
                               split=args.split, device=device, batch_size=args.batch_size,
                               workers=args.workers, score=args.score, mirror=args.mirror,
                               on_progress=None if bar is None else (
                                   lambda done, total, what: bar.draw(done, total, what)))
    finally:
        if bar is not None:
            bar.close()
    save_checkpoint(output, loaded.model.cpu(), loaded.metadata, openset=stats)
    _say_fitted(stats)
    views = ("; it now predicts every window averaged with its mirror image, two passes of "
             "the network (--no-mirror: each window once)" if stats.mirror else "")
    print(f"{output}: the model with these statistics (its weights and metadata "
          f"unchanged{views})")
    return 0


OPENSET_SCORES = ("auto", "mahalanobis+relative+softmax", "mahalanobis+softmax", "mahalanobis",
                  "energy", "max_logit", "max_softmax")
"""`stmanet openset --score`: "auto" and `stmanet.engine.openset.SCORES` (not imported here,
so that the parser is built without torch)."""


def _say_fitted(stats: OpenSetStats) -> None:
    """What fitted open-set statistics are (stdout) and, set on few clips, the warning."""
    print(stats.summary())
    if note := stats.calibration_note():
        print(f"warning: {note}", file=sys.stderr)


def _cmd_import_hara(args: argparse.Namespace) -> int:
    from stmanet.config import InputSpec
    from stmanet.engine.checkpoint import import_hara, save_checkpoint
    from stmanet.fileio import check_output_file
    from stmanet.models import model_config

    check_output_file(args.output)
    names = read_class_names(args.classes)
    config = model_config(args.model, len(names), **dict(args.set or []))
    spec = InputSpec(frames=args.frames, frame_stride=args.frame_stride, size=args.size)
    loaded = import_hara(args.pth, config, names, input_spec=spec)
    save_checkpoint(args.output, loaded.model, loaded.metadata)
    print(f"{args.output}: {args.model} with {len(names)} classes, backbone from {args.pth} "
          f"(classifier {loaded.metadata.provenance.get('classifier')})")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.export import SUFFIXES, check_export, export_model, export_target
    from stmanet.errors import ConfigError
    from stmanet.fileio import check_output_file

    fmt = args.format or ("openvino" if args.int8 else None)
    if args.output:  # the format follows from the suffix unless given
        output = Path(args.output)
    else:
        fmt = fmt or "onnx"
        output = Path(args.model).with_suffix(SUFFIXES[fmt])
    output, fmt = export_target(check_output_file(output), fmt)
    if args.int8 and fmt != "openvino":
        raise ConfigError(f"{output}: --int8 writes the OpenVINO format (--format openvino)")
    if args.int8 and not args.calibration:
        raise ConfigError("--int8 needs --calibration VIDEO_OR_FOLDER: footage like what the "
                          "model will see, to set INT8's ranges on")
    if args.calibration and not args.int8:
        raise ConfigError("--calibration goes with --int8")
    calibration = [Path(v) for v in expand_videos(args.calibration)] if args.int8 else None
    loaded = load_checkpoint(args.model)
    what = "INT8 OpenVINO" if args.int8 else fmt
    print(f"exporting {args.model} as {what} ...", file=sys.stderr)
    export_model(loaded, output, fmt, calibration=calibration)
    if args.int8:
        return _report_int8(loaded, output, calibration or [])
    difference = check_export(loaded, output, fmt)
    if difference is None:
        check = "not checked: onnxruntime is not installed"
    elif difference > 1e-3:
        output.unlink(missing_ok=True)
        if fmt == "openvino":
            output.with_suffix(".bin").unlink(missing_ok=True)
        print(f"stmanet export: error: {output}: the exported model's outputs differ from the "
              f"model's by {difference:.1e} (relative); the file was removed", file=sys.stderr)
        return 1
    else:
        check = f"outputs within {difference:.1e} of the model's"
    size = output.stat().st_size
    if fmt == "openvino":
        size += output.with_suffix(".bin").stat().st_size
    print(f"{output}: {fmt}, {size / 1e6:.1f} MB{' with its .bin' if fmt == 'openvino' else ''}"
          f"; {check}")
    return 0


INT8_BAR = 0.95  # the agreement below which `stmanet export --int8` warns


def _report_int8(loaded, output, calibration) -> int:
    """What `stmanet export --int8` prints: the file, and how often it agrees with the
    model on the calibration windows (INT8_BAR: the share below which it warns)."""
    from stmanet.engine.openvino_backend import agreement, video_windows

    shares = agreement(loaded, output, video_windows(calibration, loaded, limit=100))
    size = (output.stat().st_size + output.with_suffix(".bin").stat().st_size) / 1e6
    print(f"{output}: INT8 OpenVINO, {size:.1f} MB with its .bin; against the model on up to "
          "100 calibration windows:")
    for name, share in shares.items():
        print(f"  {name:22s} {100 * share:5.1f}% "
              f"{'the same' if name == 'top class' else 'peak in the same place or next to it'}")
    worst = min(shares.values())
    if worst < INT8_BAR:
        print(f"warning: {output}: below {100 * INT8_BAR:.0f}% agreement; check it on your own "
              "footage before using it (or use the fp32 backend)", file=sys.stderr)
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
            kwargs.update(type=parse_override, action="append", metavar="KEY=VALUE")
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The summary, models, train, evaluate, openset, import-hara subcommands."""
    p = sub.add_parser("summary", help="parameters, GFLOPs and per-stage shapes of a model")
    p.add_argument("model", help="model name (see `stmanet models`)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (default 32)")
    p.add_argument("--size", type=int, default=112, help="crop side in pixels (default 112)")
    p.add_argument("--classes", type=int, default=101, help="number of classes (default 101)")
    p.add_argument("--set", type=parse_override, action="append", metavar="KEY=VALUE",
                   help="override a model option, e.g. --set tda=off (repeatable)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("models", help="list the named model variants")
    p.set_defaults(func=_cmd_models)

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
    p.add_argument("--batch-size", type=positive_int,
                   help="windows per forward pass (default: 1 on a CPU, where batches are "
                        "slower per window, 8 on a GPU)")
    p.add_argument("--workers", type=int, default=2, help="video-decoding processes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    add_backend_flags(p)
    p.add_argument("--progress", choices=("auto", "bar", "none"), default="auto")
    p.add_argument("--save-model", metavar="FILE", help="also write the model with this "
                   "evaluation report in its metadata to FILE (.safetensors), with its "
                   "open-set statistics (those of --openset-data when given)")
    p.add_argument("--openset-data", metavar="KIND:PATH",
                   help="fit the model's open-set statistics on this data, the model's "
                        "training data (class means and covariance of every window's "
                        "features, averaged with its mirror image unless "
                        "--no-openset-mirror); they replace those in the file")
    p.add_argument("--openset-mirror", action=argparse.BooleanOptionalAction,
                   help="with --openset-data: every window averaged with its mirror image, "
                        "in fitting and wherever the model predicts (two passes of the "
                        "network a window); off: each window once (default: on)")
    p.add_argument("--openset-val-data", metavar="KIND:PATH",
                   help="with --openset-data: set the novelty threshold on this data's "
                        "windows (default: on the training windows) so that 95%% of new "
                        "footage of the model's actions stays known, with 90%% confidence")
    p.add_argument("--open-set", metavar="KIND:PATH",
                   help="footage of actions the model does not know (held-out classes, or "
                        "none at all): report AUROC, the unknown windows caught and the known "
                        "accuracy kept (openset.json)")
    add_unknown_flags(p)  # the threshold of the --open-set report
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("openset", help="fit a model's open-set statistics (what it needs to "
                                       "call footage of none of its actions unknown)",
                       description="Fit the class means and shared covariance of the model's "
                                   "features on every window of its training data, set the "
                                   "novelty threshold on the validation windows (without "
                                   "--val-data: on the training windows, each scored without "
                                   "its own clip) so that 95% of new footage of the model's "
                                   "actions stays known with 90% confidence (a margin for how "
                                   "few clips it was set on), and write them into the "
                                   "model file; weights and metadata stay as they are. Every "
                                   "window is judged averaged with its mirror image (and "
                                   "predicted so) unless --no-mirror.")
    p.add_argument("checkpoint", help="model file (.safetensors)")
    p.add_argument("--data", required=True, metavar="KIND:PATH",
                   help="the model's training data, e.g. folder:data/drills-train")
    p.add_argument("--val-data", metavar="KIND:PATH",
                   help="clips of the model's classes it was not trained on (the threshold)")
    p.add_argument("-o", "--output", help="model file to write (default: the model itself)")
    p.add_argument("--score", choices=OPENSET_SCORES, default="auto",
                   help="the novelty score (default auto: mahalanobis+relative+softmax with "
                        "--val-data, mahalanobis without; docs/model.md compares them)")
    p.add_argument("--no-mirror", dest="mirror", action="store_false",
                   help="score every window without its mirror image (default: averaged with it, "
                        "which tells unknown actions better and runs the network twice per "
                        "window wherever the model predicts)")
    p.add_argument("--annotations", help="folder of the official split files")
    p.add_argument("--split", type=int, default=1, help="official split (default 1)")
    p.add_argument("--batch-size", type=positive_int,
                   help="windows per forward pass (default: 1 on a CPU, where batches are "
                        "slower per window, 8 on a GPU)")
    p.add_argument("--workers", type=int, default=2, help="video-decoding processes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--progress", choices=("auto", "bar", "none"), default="auto")
    p.set_defaults(func=_cmd_openset)

    p = sub.add_parser("import-hara", help="turn Hara et al.'s Kinetics weights (.pth) into "
                                           "an ST-MANet model file")
    p.add_argument("pth", help="e.g. r3d50_K_200ep.pth")
    p.add_argument("--model", required=True, help="model of the same depth, e.g. stmanet_r50")
    p.add_argument("--classes", required=True, metavar="FILE_OR_LIST",
                   help="class names: a file (one per line, or UCF-101's classInd.txt) or a "
                        "comma-separated list")
    p.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    p.add_argument("--set", type=parse_override, action="append", metavar="KEY=VALUE",
                   help="override a model option (repeatable)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (default 32)")
    p.add_argument("--frame-stride", type=int, default=2, help="source-frame stride (default 2)")
    p.add_argument("--size", type=int, default=112, help="crop side (default 112)")
    p.set_defaults(func=_cmd_import_hara)

    p = sub.add_parser(
        "export", help="write a model for other runtimes (ONNX, a PyTorch .pt2 program, or "
                       "OpenVINO fp32/INT8)",
        description="Export a model file's network with its logits and every attention map "
                    "as outputs (docs/model.md, Export). ONNX needs the onnx and onnxscript "
                    "packages (pip install 'stmanet-coach[export]'), OpenVINO the openvino "
                    "package ('stmanet-coach[openvino]'), INT8 also nncf "
                    "('stmanet-coach[int8]').")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("--format", choices=("onnx", "pt2", "openvino"),
                   help="onnx, pt2 (torch.export) or openvino (.xml and .bin, for --ir); "
                        "default: from the suffix of --output (.onnx, .pt2, .xml), else onnx "
                        "(openvino with --int8)")
    p.add_argument("--int8", action="store_true",
                   help="write an OpenVINO model quantised to INT8 (NNCF; the attention, the "
                        "fusion head, the stem and stage 2's blocks kept in fp32); needs "
                        "--calibration")
    p.add_argument("--calibration", nargs="+", metavar="VIDEO",
                   help="videos or folders of videos to set INT8's ranges on (up to 300 "
                        "windows, spread over them)")
    p.add_argument("-o", "--output", help="file to write (default: beside the model, with the "
                                          "format's suffix)")
    p.set_defaults(func=_cmd_export)
