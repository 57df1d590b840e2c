"""`stmanet synth` and `stmanet sequence`: generated drill videos.
"""

from __future__ import annotations

import argparse

from stmanet.cli.common import (
    parse_frame_size,
    parse_seconds,
    positive_int,
)


def _cmd_synth(args: argparse.Namespace) -> int:
    import time

    from stmanet.data.synthetic import DRILLS, NON_DRILLS, generate_dataset
    from stmanet.errors import ConfigError
    from stmanet.fileio import check_output_folder

    if args.suite == "hard":
        return _synth_hard(args)
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
                           progress=progress, workers=args.workers, tempo=args.tempo,
                           reps=args.reps)
    print(f"done in {time.perf_counter() - started:.1f} s: {out} (classes in "
          f"{out / 'classes.txt'})")
    return 0


def _synth_hard(args: argparse.Namespace) -> int:
    import time

    from stmanet.data.synthetic.hard import HARD_CLASSES, generate_hard_dataset
    from stmanet.errors import ConfigError
    from stmanet.fileio import check_output_folder

    for flag, given in (("--drills", args.drills), ("--non-drills", args.non_drills),
                        ("--tempo", args.tempo), ("--reps", args.reps)):
        if given:
            raise ConfigError(f"{flag} does not go with --suite hard (its classes are fixed: "
                              f"{', '.join(HARD_CLASSES)})")
    if args.frames < 32:
        raise ConfigError(f"--frames {args.frames} is too few for --suite hard: its order and "
                          f"rhythm classes need at least 32 frames a clip")
    check_output_folder(args.out_dir)
    started = time.perf_counter()
    step = max(1, args.clips_per_class)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"  {done}/{total} clips", flush=True)

    print(f"writing the hard suite, {len(HARD_CLASSES)} classes x {args.clips_per_class} clips "
          f"to {args.out_dir}: {', '.join(HARD_CLASSES)}")
    out = generate_hard_dataset(args.out_dir, clips_per_class=args.clips_per_class,
                                seed=args.seed, frames=args.frames, fps=args.fps, size=args.size,
                                progress=progress, workers=args.workers)
    print(f"done in {time.perf_counter() - started:.1f} s: {out} (classes in "
          f"{out / 'classes.txt'})")
    return 0


def _cmd_sequence(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stmanet.data.synthetic.render import REST
    from stmanet.data.synthetic.sequences import (
        numbered_path,
        parse_plan,
        random_plan,
        write_sequence,
    )
    from stmanet.errors import ConfigError
    from stmanet.fileio import check_output_file

    if (args.drills is None) == (args.random is None):
        raise ConfigError("give either --drills DRILL:SECONDS,... or --random N")
    if args.drills is not None and args.rests is not None:
        raise ConfigError("--rests goes with --random N; with --drills, list the rests as "
                          "idle:SECONDS")
    if args.drills is not None and args.count != 1:
        raise ConfigError("--count makes several random sequences: use it with --random N")
    output = Path(args.output)
    if output.suffix.lower() != ".mp4":
        raise ConfigError(f"the video is written as MPEG-4: name it .mp4, not {output.name}")
    plans = ([parse_plan(args.drills)] if args.drills is not None else
             [random_plan(args.random, seed=args.seed, index=i, min_seconds=args.min_seconds,
                          max_seconds=args.max_seconds, rests=args.rests)
              for i in range(args.count)])
    paths = [numbered_path(output, i, len(plans)) for i in range(len(plans))]
    for path in paths:
        check_output_file(path)
        check_output_file(path.with_suffix(".json"))
    for i, (plan, path) in enumerate(zip(plans, paths, strict=True)):
        video, timeline, frames = write_sequence(path, plan, seed=args.seed, fps=args.fps,
                                                 size=args.size, index=i, tempo=args.tempo)
        rests = sum(drill == REST for drill, _ in plan)
        told = f", {rests} rest{'s' * (rests > 1)}" if rests else ""
        drills = len(plan) - rests
        print(f"{video}: {frames} frames ({frames / args.fps:.1f} s), {drills} "
              f"drill{'s' * (drills != 1)}{told}; timeline in {timeline}", flush=True)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The synth, sequence subcommands."""
    p = sub.add_parser("synth", help="generate a folder-per-class data set of drill videos",
                       description="Render procedural drill clips (stick figures doing "
                                   "physical-education drills) as OUT_DIR/<drill>/*.mp4 plus "
                                   "OUT_DIR/classes.txt. The same seed gives the same videos.")
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the data set into")
    p.add_argument("--suite", choices=("drills", "hard"), default="drills",
                   help="drills: the plain drills (default); hard: distractor figures, a "
                        "foreground pole or net, a moving camera and changing light around "
                        "the athlete, and classes that differ only in order or rhythm "
                        "(docs/training.md)")
    p.add_argument("--clips-per-class", type=int, default=20, help="clips per drill (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--frames", type=int, default=96, help="frames per clip (default 96)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    p.add_argument("--size", type=parse_frame_size, default=(160, 120), metavar="WxH",
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
    p.add_argument("--reps", action="store_true",
                   help="write each clip's timeline with the time of every repetition beside "
                        "it (CLIP.json)")
    p.add_argument("--tempo", action="store_true",
                   help="vary the pace (0.5-2x between clips, +-20%% within one, pauses); "
                        "implies --reps")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("sequence", help="render one video of several drills one after another, "
                                        "with its expected timeline",
                       description="Render one figure doing several drills in a row as OUT.mp4, "
                                   "and the timeline it shows (which drill from which frame to "
                                   "which) as OUT.json, the format `stmanet evaluate-timeline` "
                                   "and `stmanet-app --self-test` check predictions against. "
                                   "The drills are given (--drills) or drawn (--random). The "
                                   "same seed gives the same videos.")
    p.add_argument("output", metavar="OUT.mp4", help="video file to write")
    p.add_argument("--drills", metavar="DRILL:SECONDS,...",
                   help="the drills in order with their durations, e.g. "
                        "jumping_jacks:5,squats:5,walking:6; idle:SECONDS is a rest (the "
                        "figure standing at rest, labelled other in the timeline)")
    p.add_argument("--random", type=positive_int, metavar="N",
                   help="instead of --drills: N drills in a random order (each once before "
                        "any repeats), each lasting a random --min-seconds to --max-seconds")
    p.add_argument("--count", type=positive_int, default=1, metavar="M",
                   help="with --random: write M different sequences, OUT-000.mp4 ... "
                        "(default 1: OUT.mp4)")
    p.add_argument("--min-seconds", type=float, default=2.0,
                   help="shortest random drill (default 2)")
    p.add_argument("--max-seconds", type=float, default=15.0,
                   help="longest random drill (default 15)")
    p.add_argument("--rests", type=parse_seconds, metavar="MIN-MAX",
                   help="with --random: a rest of MIN to MAX seconds between every two drills "
                        "(the figure standing at rest: footage of no drill, labelled other "
                        "in the timeline, which a model should call not a known action)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    p.add_argument("--size", type=parse_frame_size, default=(320, 240), metavar="WxH",
                   help="frame size (default 320x240)")
    p.add_argument("--tempo", action="store_true",
                   help="vary each drill's pace (0.5-2x, +-20%% drift, pauses)")
    p.set_defaults(func=_cmd_sequence)
