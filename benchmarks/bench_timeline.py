"""Per-frame timelines measured: generated drill sequences and the demo video, each hop and
smoothing side by side (the table in docs/training.md, "Timelines").

1. Renders COUNT sequences of DRILLS random drills (2-15 s each, random order) with a seed
   never used for training clips, as `stmanet sequence OUT/seq.mp4 --random DRILLS --count
   COUNT --seed SEED` would (files already there are reused), timing each.
2. Predicts every sequence, and resources/videos/demo.mp4, once with windows every 4 frames,
   keeping every window's scores and every frame's embedding (the counter's
   `reps.frame_embedding`, which places the changes: engine.boundaries) in OUT/windows/*.npz,
   timing each, and the embedding alone (a decoding of its own) as a share of the
   prediction's time. Windows every 8, 16 or 32
   frames are a subset of those (window_starts: multiples of the hop, and one ending at the
   last frame), so every hop is scored from the one prediction.
3. Scores the per-frame result of each (hop, smoothing, weighting of the windows covering a
   frame: centred or uniform; changes placed on the embeddings or where the windows put them)
   against the expected timelines:
   frame accuracy, edit score, F1@10/25/50, the largest error of one drill's seconds in one
   video, and drills named that the video does not show. Prints a Markdown table per set
   and writes OUT/timeline.json.

    python benchmarks/bench_timeline.py --out runs/timeline                 # 50 sequences
    python benchmarks/bench_timeline.py --out runs/timeline --count 10 --drills 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS: list[tuple[str, dict[str, float | str]]] = [
    ("none", {"weighting": "uniform"}),
    ("none", {"weighting": "centre"}),
    ("median", {"median_frames": 49}),
    ("median", {"median_frames": 75}),
    ("viterbi", {"switch_penalty": 40, "weighting": "uniform"}),
    ("viterbi", {"switch_penalty": 80, "weighting": "uniform"}),
    ("viterbi", {"switch_penalty": 10}),
    ("viterbi", {"switch_penalty": 40}),
    ("viterbi", {"switch_penalty": 40, "refine": True}),
    ("median", {"median_frames": 75, "refine": True}),
    ("viterbi", {"switch_penalty": 80}),
    ("viterbi", {"switch_penalty": 160}),
]
"""(smoothing, options of timeline_from_windows); the weighting is "centre" unless given, and
the changes are left where the windows put them unless "refine" is given."""
HOPS = (32, 16, 8, 4)


def render(out: Path, count: int, drills: int, seed: int, size: tuple[int, int]) -> list[Path]:
    from stmanet.data.synthetic.sequences import numbered_path, random_plan, write_sequence

    videos = []
    for i in range(count):
        path = numbered_path(out / "seq.mp4", i, count)
        if not (path.exists() and path.with_suffix(".json").exists()):
            started = time.perf_counter()
            plan = random_plan(drills, seed=seed, index=i)
            _, _, frames = write_sequence(path, plan, seed=seed, size=size, index=i)
            took = time.perf_counter() - started
            print(f"rendered {path.name}: {frames} frames in {took:.1f} s "
                  f"({took / frames * 1000:.1f} ms a frame)", flush=True)
        videos.append(path)
    return videos


def predict(videos: list[Path], cache: Path, model: Path, hop: int) -> None:
    import torch

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.inference import Predictor
    from stmanet.engine.reps_video import embed_video

    torch.set_num_threads(1)
    predictor = Predictor(load_checkpoint(model), top_k=1)
    cache.mkdir(parents=True, exist_ok=True)
    for video in videos:
        out = cache / f"{video.stem}.npz"
        if out.exists() and "emb" in np.load(out):
            continue
        started = time.perf_counter()
        p = predictor.predict(video, hop=hop)
        took = time.perf_counter() - started
        emb, _ = embed_video(video)
        embedding = time.perf_counter() - started - took
        np.savez(out, starts=[w.start_frame for w in p.windows],
                 ends=[w.end_frame for w in p.windows], scores=p.window_scores, fps=p.fps,
                 frames=p.num_frames, names=np.array(p.class_names),
                 emb=emb.astype(np.float16), predict_s=took, embed_s=embedding)
        print(f"predicted {video.name}: {len(p.windows)} windows in {took:.1f} s; embedding "
              f"its frames {embedding:.1f} s ({embedding / took:.0%})", flush=True)


def score(videos: list[Path], cache: Path, hop: int, smoothing: str,
          options: dict[str, float | str]):  # -> TimelineSummary
    from stmanet.engine.segmentation import timeline_from_windows
    from stmanet.engine.timeline import ExpectedTimeline
    from stmanet.engine.timeline_eval import TimelineSummary, score_timeline

    scores = []
    for video in videos:
        d = np.load(cache / f"{video.stem}.npz")
        keep = d["starts"] % hop == 0
        keep[-1] = True  # the window ending at the last frame
        names = [str(n) for n in d["names"]]
        window_scores = d["scores"][keep]
        refine = bool(options.get("refine", False))
        rest = {k: v for k, v in options.items() if k != "refine"}
        timeline = timeline_from_windows(d["starts"][keep], d["ends"][keep], window_scores,
                                         names, float(d["fps"]), int(d["frames"]),
                                         smoothing=smoothing, refine=refine,
                                         embeddings=d["emb"].astype(np.float32) if refine
                                         else None, **rest)  # type: ignore[arg-type]
        scores.append(score_timeline(
            timeline, ExpectedTimeline.load(video.with_suffix(".json")), video=str(video),
            window_labels=[names[i] for i in window_scores.argmax(1)]))
    return TimelineSummary(scores)


def table(name: str, videos: list[Path], cache: Path) -> list[dict[str, object]]:
    print(f"\n{name} ({len(videos)} videos)\n")
    print("| hop | smoothing | frame accuracy | edit | F1@10 | F1@25 | F1@50 | worst drill "
          "seconds error | named but absent |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for hop in HOPS:
        for smoothing, options in VARIANTS:
            s = score(videos, cache, hop, smoothing, options)
            absent = sorted({a for v in s.videos
                             for a in (*v.absent_in_segments, *v.absent_in_windows)})
            label = smoothing + "".join(f" {v:g}" for v in options.values()
                                        if not isinstance(v, str | bool))
            label += f", {options.get('weighting', 'centre')} weighting"
            label += ", refined" if options.get("refine") else ""
            f1 = s.f1
            print(f"| {hop} | {label} | {s.frame_accuracy:.4f} | {s.edit:.3f} | "
                  f"{f1[10]:.3f} | {f1[25]:.3f} | {f1[50]:.3f} | "
                  f"{s.worst_seconds_error:.2f} s | {', '.join(absent) or '-'} |", flush=True)
            rows.append({"hop": hop, "smoothing": smoothing, **options,
                         **{k: v for k, v in s.to_dict().items() if k != "per_video"}})
    return rows


def main() -> int:
    from stmanet.bundled import bundled_demo_model, bundled_demo_video

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for videos and results")
    parser.add_argument("--count", type=int, default=50, help="sequences (default 50)")
    parser.add_argument("--drills", type=int, default=10, help="drills a sequence (default 10)")
    parser.add_argument("--seed", type=int, default=5000,
                        help="sequence seed (default 5000; training clips used 1000 and 2000)")
    parser.add_argument("--size", default="320x240", help="frame size (default 320x240)")
    parser.add_argument("--model", type=Path, help="model (default: the demo model)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    model = args.model or bundled_demo_model()
    started = time.perf_counter()
    videos = render(args.out, args.count, args.drills, args.seed, size)  # type: ignore[arg-type]
    rendered = time.perf_counter()
    cache = args.out / "windows"
    demo = bundled_demo_video()
    predict([demo, *videos], cache, model, hop=4)
    predicted = time.perf_counter()
    results = {"demo": table("demo video", [demo], cache),
               "sequences": table(f"generated sequences (seed {args.seed})", videos, cache)}
    results["seconds"] = {"render": round(rendered - started, 1),
                          "predict": round(predicted - rendered, 1)}
    timings = [np.load(cache / f"{v.stem}.npz") for v in [demo, *videos]]
    timings = [(float(t["predict_s"]), float(t["embed_s"])) for t in timings if "embed_s" in t]
    if timings:
        share = sum(e for _, e in timings) / sum(p for p, _ in timings)
        results["seconds"]["embedding_share_of_predict"] = round(share, 3)
        print(f"\nembedding every frame (decoded again): {share:.0%} of predicting's time")
    (args.out / "timeline.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nrendering {rendered - started:.0f} s, predicting {predicted - rendered:.0f} s; "
          f"results in {args.out / 'timeline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
