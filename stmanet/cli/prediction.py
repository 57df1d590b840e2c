"""Predictions on videos: `stmanet predict`, `evaluate-timeline`, `count`, `evaluate-reps`.
"""

from __future__ import annotations

import argparse
import sys

from stmanet.cli.batch import add_batch_flags
from stmanet.cli.common import (
    add_backend_flags,
    add_smoothing_flags,
    add_unknown_flags,
    backend_options,
    expand_videos,
    inference_device,
    model_file,
    parse_frame_size,
    parse_seconds,
    positive_int,
    predictor_from_args,
    progress_mode,
    set_unknown_flags,
    smoothing_options,
)


def _cmd_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.events import ProgressBar
    from stmanet.engine.inference import Predictor
    from stmanet.engine.prediction_files import write_predictions
    from stmanet.engine.segmentation import (
        default_hop,
        frame_timeline,
        segments_path,
        write_segments,
    )
    from stmanet.errors import ConfigError, VideoError, printable_path
    from stmanet.fileio import check_output_file

    if args.output_dir:
        from stmanet.cli.batch import predict_to_folder

        return predict_to_folder(args)
    if args.workers or args.redo:
        raise ConfigError("--workers and --redo go with --output-dir")
    checkpoint = model_file(args.checkpoint)
    smoothing = smoothing_options(args)
    if args.reps and args.output and Path(args.output).suffix.lower() != ".json":
        raise ConfigError(f"{args.output}: --reps adds the counts to JSON predictions; name "
                          "the file .json (or write counts as CSV with `stmanet count`)")
    if args.output and Path(args.output).suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"{args.output}: choose a .csv or .json file for the predictions")
    if args.output:
        check_output_file(args.output)
        if args.segments:
            check_output_file(segments_path(args.output))
    videos = expand_videos(args.videos)
    counts: list = []
    device = inference_device(args)
    predictor = Predictor(load_checkpoint(checkpoint, device=device), device,
                          batch_size=args.batch_size, top_k=args.top_k,
                          attention=args.attention, **backend_options(args))
    set_unknown_flags(predictor, args)
    if predictor.backend != "torch":
        print(f"the network runs in OpenVINO ({predictor.precision}"
              f"{', ' + args.ir if args.ir else ''})", file=sys.stderr)
    info = predictor.model_info()
    for note in info["notes"]:
        if args.attention or "attention" not in note:
            print(f"stmanet predict: note: {printable_path(checkpoint)}: {note}",
                  file=sys.stderr)
    hop = args.hop or (default_hop(predictor.spec.window) if args.segments or args.reps
                       else None)
    show_bar = progress_mode(args.progress) == "bar"
    results = []
    timelines = []  # (path, per-frame result) with --segments, made as each video is done
    refine = bool(args.segments and smoothing["refine"])
    if refine:
        from stmanet.engine.boundaries import predict_embedded
    failed: list[VideoError] = []
    for video in videos:
        bar = ProgressBar(sys.stderr) if show_bar else None

        def progress(done: int, total: int, bar=bar, name=Path(video).name) -> None:
            if bar is not None:
                bar.draw(done, total, prefix=name, suffix="windows")

        try:
            if args.reps:
                from stmanet.engine.reps_video import predict_and_count

                prediction, counted, emb = predict_and_count(
                    predictor, video, hop=hop, timeline=smoothing, on_progress=progress)
                counts.append(counted)
            elif refine:  # the frames' embeddings place the changes (engine.boundaries)
                prediction, emb = predict_embedded(predictor, video, hop=hop,
                                                   on_progress=progress)
            else:
                prediction, emb = predictor.predict(video, hop=hop, on_progress=progress), None
            results.append(prediction)
            if args.segments:  # the embeddings (kilobytes a frame) are not kept past here
                timelines.append((prediction.path, frame_timeline(
                    prediction, embeddings=emb if refine else None, **smoothing)))
        except VideoError as exc:  # the other videos' results are kept
            if len(videos) == 1:
                raise
            failed.append(exc)
            print(f"stmanet predict: error: {exc}", file=sys.stderr)
        finally:
            if bar is not None:
                bar.close()
    if args.output and results:
        write_predictions(args.output, results, attention=args.attention, model=info,
                          reps=[c.to_dict()["segments"] for c in counts] if args.reps else None)
        windows = sum(len(r.windows) for r in results)
        unknown = sum(r.unknown_windows or 0 for r in results)
        told = (f", {unknown} of them not a known action (novelty over "
                f"{predictor.novelty_threshold:.3g})" if predictor.can_tell_unknowns else "")
        print(f"{windows} window predictions of {len(results)} video(s) written to "
              f"{args.output}{told}")
        if timelines:
            where = write_segments(segments_path(args.output), timelines)
            count = sum(len(t.told_segments()) for _, t in timelines)
            print(f"{count} segments ({args.smoothing} smoothing) written to {where}")
    elif not args.output:
        for i, r in enumerate(results):
            top = ", ".join(f"{name} {score:.3f}" for name, score in r.top(3))
            told = ("" if r.unknown_windows is None else
                    f" ({r.unknown_windows} of {len(r.windows)} windows not a known action: "
                    f"novelty over {predictor.novelty_threshold:.3g})")
            print(f"{printable_path(r.path)}: {top}{told}")
            for w in r.windows:
                verdict = "" if w.known is None else (
                    f"  novelty {w.novelty:.3g}" if w.known else
                    f"  NOT A KNOWN ACTION (novelty {w.novelty:.3g})")
                print(f"  {w.start_s:8.2f}-{w.end_s:8.2f} s  frames {w.start_frame:6d}-"
                      f"{w.end_frame:6d}  {w.label} {w.score:.3f}{verdict}")
            if timelines:
                print(f"segments ({args.smoothing} smoothing):")
                print(timelines[i][1].to_text())
        if args.reps:
            from stmanet.engine.reps_video import counts_text

            for c in counts:
                print(counts_text(c))
    if failed:
        print(f"stmanet predict: error: {len(failed)} of {len(videos)} videos could not be "
              f"read: {', '.join(printable_path(e.path) for e in failed)}", file=sys.stderr)
        return 1
    return 0


def _cmd_evaluate_timeline(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.inference import Predictor
    from stmanet.engine.timeline_eval import evaluate_timelines, find_pairs
    from stmanet.errors import ConfigError
    from stmanet.fileio import atomic_write_text, check_output_file

    if args.output:
        if Path(args.output).suffix.lower() != ".json":
            raise ConfigError(f"{args.output}: the scores are written as JSON: name it .json")
        check_output_file(args.output)
    smoothing = smoothing_options(args)
    pairs = find_pairs(args.items)
    device = inference_device(args)
    predictor = Predictor(load_checkpoint(model_file(args.checkpoint), device=device), device,
                          batch_size=args.batch_size, top_k=1, **backend_options(args))
    set_unknown_flags(predictor, args)
    show = progress_mode(args.progress) == "bar"

    def progress(done: int, total: int, _prediction: object) -> None:
        if show:
            print(f"\r  {done}/{total} videos", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    summary = evaluate_timelines(predictor, pairs, hop=args.hop, on_video=progress,
                                 **smoothing)  # type: ignore[arg-type]
    print(summary.to_text())
    if args.output:
        atomic_write_text(args.output, json.dumps(summary.to_dict(), indent=1) + "\n")
        print(f"scores per video in {args.output}")
    return 0


def _cmd_count(args: argparse.Namespace) -> int:
    from stmanet.engine import reps_video
    from stmanet.errors import ConfigError
    from stmanet.fileio import check_output_file

    if args.output and args.output.lower().rsplit(".", 1)[-1] not in ("csv", "json"):
        raise ConfigError(f"{args.output}: choose a .csv or .json file for the counts")
    if args.output:
        check_output_file(args.output)
    if (args.segments or args.whole) and (args.sensitivity or args.novelty_threshold is not None):
        raise ConfigError("--sensitivity and --novelty-threshold go with the model's segments, "
                          "not --segments or --whole")
    if args.segments:
        segments, unknown = reps_video.read_timeline(args.segments)
        counted = reps_video.count_video(args.video, segments, source=args.segments,
                                         unknown=unknown)
    elif args.whole:
        counted = reps_video.count_video(args.video, [(args.label, 0, 1 << 62)],
                                         source="whole video")
    else:
        from stmanet.engine.segmentation import default_hop

        predictor = predictor_from_args(args)
        counted = reps_video.predict_and_count(
            predictor, args.video, hop=args.hop or default_hop(predictor.spec.window),
            timeline=smoothing_options(args))[1]
    print(reps_video.counts_text(counted))
    if args.output:
        reps_video.write_counts(args.output, [counted])
        print(f"counts written to {args.output}")
    return 0


def _cmd_evaluate_reps(args: argparse.Namespace) -> int:
    import time

    from stmanet.engine.reps_eval import evaluate_reps
    from stmanet.fileio import check_output_file

    if args.output:
        check_output_file(args.output)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            print(f"  {done}/{total} generated segments ({time.perf_counter() - started:.0f} s)",
                  flush=True)

    evaluation = evaluate_reps(args.videos, generate=args.generate,
                               non_periodic=args.non_periodic, seed=args.seed,
                               seconds=args.seconds, fps=args.fps, size=args.size,
                               workers=args.workers, progress=progress)
    print(evaluation.to_text())
    print(f"{len(evaluation.results)} segments in {time.perf_counter() - started:.1f} s")
    if args.output:
        evaluation.write(args.output)
        print(f"table and per-segment results in {args.output}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The predict, evaluate-timeline, count, evaluate-reps subcommands."""
    p = sub.add_parser("predict", help="per-window action predictions for videos")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--checkpoint", help="model file (default: the bundled demo model)")
    p.add_argument("-o", "--output", help="write the predictions to FILE.csv or FILE.json "
                                          "(default: a table on the terminal)")
    p.add_argument("--hop", type=positive_int,
                   help="source frames between window starts (default: the window length; "
                        "a quarter window with --segments or --reps)")
    p.add_argument("--top-k", type=positive_int, default=5,
                   help="labels per window (default 5)")
    p.add_argument("--batch-size", type=positive_int,
                   help="windows per forward pass (default: 1 on a CPU, where batches are "
                        "slower per window, 8 on a GPU)")
    p.add_argument("--attention", action="store_true",
                   help="include the mean attention maps per stage (JSON output)")
    p.add_argument("--segments", action="store_true",
                   help="also the per-frame result as segments (start, end, action, mean "
                        "score, known; footage not a known action: rows labelled other): "
                        "written beside --output as NAME.segments.csv/.json, or printed; "
                        "windows then start every quarter window unless --hop")
    add_smoothing_flags(p)
    add_unknown_flags(p)
    p.add_argument("--reps", action="store_true",
                   help="also count the repetitions of each predicted segment (on the "
                        "terminal, or in JSON output); see `stmanet count`")
    add_batch_flags(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    add_backend_flags(p)
    p.add_argument("--progress", choices=("auto", "bar", "none"), default="auto")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "evaluate-timeline", help="per-frame results against expected timelines: frame "
                                  "accuracy, edit score, F1@10/25/50, seconds per action",
        description="Predict each video with overlapping windows, make its per-frame result "
                    "and compare it with the expected timeline (the JSON `stmanet sequence` "
                    "writes). Items: VIDEO EXPECTED.json, or a VIDEO whose .json sits beside "
                    "it, or a folder of such videos; with several, the mean is reported.")
    p.add_argument("items", nargs="+", metavar="ITEM",
                   help="VIDEO [EXPECTED.json], or a folder")
    p.add_argument("--checkpoint", help="model file (default: the bundled demo model)")
    p.add_argument("--hop", type=positive_int,
                   help="source frames between window starts (default: a quarter window)")
    add_smoothing_flags(p)
    add_unknown_flags(p)
    p.add_argument("-o", "--output", help="write the scores per video to FILE.json")
    p.add_argument("--batch-size", type=positive_int,
                   help="windows per forward pass (default: 1 on a CPU, where batches are "
                        "slower per window, 8 on a GPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    add_backend_flags(p)
    p.add_argument("--progress", choices=("auto", "bar", "none"), default="auto")
    p.set_defaults(func=_cmd_evaluate_timeline)

    p = sub.add_parser("count", help="count repetitions in a video, per segment",
                       description="Count the repetitions of each segment of a video: how "
                                   "many, when each ended, reps per minute and how even the "
                                   "pace was (docs/reps.md). Segments come from the model's "
                                   "per-frame result, as in the app (default: the bundled "
                                   "demo model), from a file, or are the whole video.")
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--segments", metavar="FILE",
                   help="segments from an expected timeline (VIDEO.json of `stmanet "
                        "sequence`), from `stmanet predict --segments` (NAME.segments.csv or "
                        ".json) or from predictions (`stmanet predict -o`, JSON or CSV); "
                        "footage not a known action is left out")
    p.add_argument("--whole", action="store_true",
                   help="count the whole video as one segment, without a model")
    p.add_argument("--label", help="with --whole: the drill, e.g. running (counts steps for "
                                   "walking, jogging, running and high_knees)")
    p.add_argument("--checkpoint", help="model that finds the segments (default: the bundled "
                                        "demo model)")
    p.add_argument("--hop", type=positive_int,
                   help="source frames between the model's windows (default: a quarter "
                        "window)")
    add_smoothing_flags(p)
    add_unknown_flags(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    add_backend_flags(p)
    p.add_argument("-o", "--output", help="write the counts to FILE.csv or FILE.json")
    p.set_defaults(func=_cmd_count)

    p = sub.add_parser("evaluate-reps", help="judge the repetition counter on generated "
                                             "drills or videos with known repetitions")
    p.add_argument("videos", nargs="*", metavar="VIDEO",
                   help="videos whose expected timeline (VIDEO.json) gives each segment's "
                        "repetitions, e.g. resources/videos/demo.mp4")
    p.add_argument("--generate", type=int, default=0, metavar="N",
                   help="also render N drill segments at a varied tempo and count them")
    p.add_argument("--non-periodic", type=int, default=0, metavar="N",
                   help="also render N clips in which nothing repeats (the counter should "
                        "abstain)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated footage")
    p.add_argument("--seconds", type=parse_seconds, default=(5.0, 30.0), metavar="MIN-MAX",
                   help="length of a generated segment (default 5-30)")
    p.add_argument("--size", type=parse_frame_size, default=(160, 120), metavar="WxH",
                   help="frame size of the generated footage (default 160x120)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes rendering and counting side by side (default 1)")
    p.add_argument("-o", "--output", help="write the table and every segment's result to "
                                          "FILE.json or FILE.csv")
    p.set_defaults(func=_cmd_evaluate_reps)
