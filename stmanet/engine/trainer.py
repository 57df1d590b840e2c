"""Training ST-MANet: SGD over the total loss (cross-entropy + diversity terms), one run folder.

A run folder holds:
  config.json        the resolved TrainConfig
  checkpoint.pt      the state to resume from (weights, optimizer, scheduler, RNG states,
                     position in the run), rewritten atomically after every epoch and on cancel
  best.safetensors   the model the run keeps (engine/selection.py: the best validation
                     accuracy, ties to the lower loss; with few validation windows the last
                     epoch unless an earlier one is clearly better), in our model format
  final.safetensors  the model after the last epoch
  metrics.jsonl/csv  one row per epoch
  report.json        the kept model's validation report, per clip as `stmanet evaluate` gives
  confusion.csv      it: top-1/top-5, per-class accuracy, the confusion matrix (rows: true
                     class); its window accuracy, and `selection` (which epoch was kept and
                     why); rewritten with best.safetensors

Validation scores every window of every validation clip, cut as `stmanet evaluate` cuts them
(a data set whose items are (windows (N, 3, T, S, S), label); one of single clips (3, T, S, S)
counts each as one window). The metrics' val_acc and val_loss, and the choice of the kept
epoch, are per window (many more than clips when clips are few); val_clip_acc and
report.json are the test protocol's (each clip's window scores averaged).

After the last epoch the final and best models get their open-set statistics (fitted on every
window of the training clips, the threshold from the validation clips: engine/openset.py),
unless --no-openset.

Exactness: the data order of epoch e comes from (seed, e), augmentation from the data set's
(seed, epoch, clip), and every RNG the training process uses is saved in checkpoint.pt, so a
run stopped and resumed ends with the same weights as one that never stopped. The resume file
holds only tensors, numbers, strings, lists and dicts: it loads with
`torch.load(weights_only=True)`.

Under torchrun every process runs this same loop on its share of the data
(DistributedSampler) inside DistributedDataParallel; only rank 0 reports progress and writes
files, and epoch metrics are summed over all processes.

This module holds the loop (Trainer) and run_training. The data sets come from
stmanet/data/training_data.py, the model's start and its frozen parts from engine/init.py,
the RNG and resume state from engine/resume.py, and cancelling from engine/cancel.py.

It is longer than 500 lines on purpose: what is left is one run's loop. Training an epoch,
validating, keeping the best model and writing the run folder's files (checkpoint.pt, the
models, report.json) all read and write the same run state (the model, optimizer, scheduler
and scaler, the best accuracy so far, the last validation report, the cancel token), and
the order they happen in is what makes a resumed run end with the same weights; split
further, that order could no longer be read in one place.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import signal
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from stmanet.config import TrainConfig
from stmanet.data.training_data import (
    TrainData,
    align_classes,
    build_data,
    load_index,
    parse_source,
    split_by_class,
)
from stmanet.engine import selection
from stmanet.engine.cancel import CancelToken, TrainingCancelled, cancel_on_signals
from stmanet.engine.checkpoint import (
    CheckpointMetadata,
    provenance,
    save_checkpoint,
    upgrade_train_state,
)
from stmanet.engine.distributed import DistributedContext, resolve_device
from stmanet.engine.events import (
    CheckpointSaved,
    EpochEnded,
    Event,
    RunCancelled,
    RunFinished,
    RunStarted,
    StepProgress,
    TaskProgress,
    ValidationProgress,
)
from stmanet.engine.init import (
    CLASSIFIER_PREFIXES,
    INPUT_SHAPE_FIELDS,
    apply_freeze,
    attention_modules,
    build_model,
    frozen_modules,
    resolve_input,
    set_train_mode,
)
from stmanet.engine.metrics import (
    ClassificationReport,
    MetricsLog,
    per_class_accuracy,
    write_confusion_csv,
)
from stmanet.engine.resume import (
    CONFIG_FILE,
    RESUME_FILE,
    STATE_FORMAT,
    STATE_VERSION,
    load_resume_state,
    parameter_digest,
    resume_config,
    rng_state,
    seed_everything,
    set_rng_state,
)
from stmanet.errors import Cancelled, ConfigError, STMANetError
from stmanet.fileio import atomic_path, atomic_write_text
from stmanet.models import STMANet, stmanet_loss

# The data set construction, model initialisation and freezing, RNG and resume state, and
# cancelling live in their own modules; their names are importable from here as well.
__all__ = [
    "BEST_MODEL",
    "CLASSIFIER_PREFIXES",
    "CONFIG_FILE",
    "DIGEST_DIR_ENV",
    "FINAL_MODEL",
    "INPUT_SHAPE_FIELDS",
    "RESUME_FILE",
    "STATE_FORMAT",
    "STATE_VERSION",
    "VALIDATION_CONFUSION",
    "VALIDATION_REPORT",
    "CancelToken",
    "EventSink",
    "TrainData",
    "TrainResult",
    "Trainer",
    "TrainingCancelled",
    "align_classes",
    "apply_freeze",
    "attention_modules",
    "autocast_dtype",
    "build_data",
    "build_model",
    "cancel_on_signals",
    "frozen_modules",
    "load_index",
    "load_resume_state",
    "make_optimizer",
    "parameter_digest",
    "parse_source",
    "resolve_input",
    "resume_config",
    "rng_state",
    "run_training",
    "seed_everything",
    "set_rng_state",
    "set_train_mode",
    "split_by_class",
]

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]

BEST_MODEL = "best.safetensors"
FINAL_MODEL = "final.safetensors"
VALIDATION_REPORT = "report.json"
VALIDATION_CONFUSION = "confusion.csv"

# For tests of multi-process training: when set, every process writes a digest of its
# parameters into this folder at the end of the run (rank<N>.sha256).
DIGEST_DIR_ENV = "STMANET_PARAMETER_DIGEST_DIR"


# ------------------------------------------------------------------------------ trainer

@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path  # best.safetensors when there was validation data, else final
    final_path: Path
    best_val_acc: float | None  # of the kept epoch
    best_epoch: int | None  # the kept epoch (engine/selection.py)
    epochs: int
    history: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[str, Any] | None = None  # Selection.to_dict(): epoch, reason, noisy, ...


def autocast_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "off":
        return None
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16":
        return torch.float16
    if device.type == "cuda":  # auto
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def make_optimizer(cfg: TrainConfig, params: list[nn.Parameter],
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The optimizer and its per-epoch learning-rate schedule."""
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                    weight_decay=cfg.weight_decay)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if cfg.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step,
                                                    gamma=cfg.lr_gamma)
    return optimizer, scheduler


def _ignore_sigint_in_worker(_worker_id: int) -> None:
    # Ctrl+C reaches the whole process group; the main process decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)


class Trainer:
    """One training run of `config` over `data`. Call `run()`.

    `on_event` receives progress events (rank 0 only); `cancel` stops the run cleanly after
    the current step with a resume checkpoint; `resume` continues a run from its folder.
    """

    def __init__(self, config: TrainConfig, data: TrainData, *,
                 on_event: EventSink | None = None, cancel: CancelToken | None = None,
                 context: DistributedContext | None = None, resume: bool = False,
                 stop_after_epoch: int | None = None) -> None:
        # a resumed run keeps the input spec its config.json settled
        self.config = config if resume else resolve_input(config)
        self.data = data
        self.ctx = context or DistributedContext(device=resolve_device(config.device))
        self.cancel = cancel or CancelToken()
        self.resume = resume
        self.run_dir = Path(config.output)
        self._on_event = on_event
        self._saved_at: tuple[int, int] | None = None
        self._best: tuple[float | None, int | None, float | None] = (None, None, None)
        self._val_report: ClassificationReport | None = None  # of the last validation
        self._val_counts: tuple[int, float] = (0, 0.0)  # its windows, its clip accuracy
        self._best_report: dict[str, Any] | None = None
        # Stop (as if cancelled) once this many epochs are done: for tests of resuming.
        self._stop_after_epoch = stop_after_epoch
        if len(data.train) == 0:
            raise ConfigError("the training data holds no clips")
        if len(data.train) < 2:
            raise ConfigError("the training data holds 1 clip; training needs at least 2 "
                              "(batches of two or more clips): add clips")
        if config.batch_size < 2:
            raise ConfigError(f"--batch-size {config.batch_size}: training needs batches of "
                              "at least 2 clips (BatchNorm learns its statistics from the "
                              "batch)")

    # ------------------------------------------------------------------ helpers
    def _emit(self, event: Event) -> None:
        if self.ctx.is_main and self._on_event is not None:
            self._on_event(event)

    def _batches(self, epoch: int) -> list[list[int]]:
        """This process's batches of epoch `epoch`: an order fixed by (seed, epoch)."""
        sampler = DistributedSampler(self.data.train, num_replicas=self.ctx.world_size,
                                     rank=self.ctx.rank, shuffle=True, seed=self.config.seed)
        sampler.set_epoch(epoch)
        indices = list(sampler)
        size = self.config.batch_size
        batches = [indices[i:i + size] for i in range(0, len(indices), size)]
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()  # BatchNorm cannot train on a single clip at 1x1x1 resolution
        return batches

    def _loader(self, dataset: Dataset, batches: list[list[int]], epoch: int) -> DataLoader:
        workers = self.config.workers
        return DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                          pin_memory=self.ctx.device.type == "cuda",
                          generator=_epoch_generator(self.config.seed, epoch),
                          worker_init_fn=_ignore_sigint_in_worker if workers else None,
                          multiprocessing_context=_mp_context() if workers else None)

    # ------------------------------------------------------------------ the run
    def run(self) -> TrainResult:
        cfg, ctx = self.config, self.ctx
        device = ctx.device
        spec = cfg.input_spec
        class_names = list(self.data.class_names)
        state = load_resume_state(self.run_dir) if self.resume else None
        if state is not None and list(state["class_names"]) != class_names:
            raise ConfigError("the data's classes differ from those of the run being resumed")
        if not self.resume and ctx.is_main and (self.run_dir / RESUME_FILE).exists():
            raise ConfigError(f"{self.run_dir} already holds a run: resume it with "
                              f"--resume {self.run_dir}, or choose another --output")

        seed_everything(cfg.seed)
        model, origin = build_model(cfg, class_names)
        frozen = apply_freeze(model, cfg.freeze)
        model.to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("--freeze leaves nothing to train")
        optimizer, scheduler = make_optimizer(cfg, params)
        amp_dtype = autocast_dtype(cfg.amp, device)
        scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        # each process its own dropout stream; the weights above were seeded alike everywhere
        seed_everything(cfg.seed + 7919 * ctx.rank)

        start_epoch, start_step = 0, 0
        best_acc: float | None = None
        best_epoch: int | None = None
        best_loss: float | None = None
        carry: dict[str, float] = {}
        metrics = MetricsLog(self.run_dir)
        if state is not None:
            state = upgrade_train_state(self.run_dir / RESUME_FILE, state, model)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            start_epoch, start_step = int(state["epoch"]), int(state["step"])
            best_acc = state.get("best_val_acc")
            best_epoch = state.get("best_epoch")
            best_loss = state.get("best_val_loss")
            ranks = state["ranks"]
            if len(ranks) == ctx.world_size:
                mine = ranks[ctx.rank]
            else:
                log.warning("resuming with %d processes instead of %d: dropout and the "
                            "interrupted epoch's metrics will differ", ctx.world_size,
                            len(ranks))
                mine = ranks[0] if ctx.is_main else {**ranks[0], "accumulators": {}}
            set_rng_state(mine["rng"])
            carry = dict(mine.get("accumulators") or {})
            if ctx.is_main:
                metrics.truncate_after(start_epoch)
            log.info("resuming %s at epoch %d, step %d", self.run_dir, start_epoch + 1,
                     start_step)

        elif ctx.is_main:
            metrics.truncate_after(0)  # rows a crashed earlier attempt may have left
        if ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / CONFIG_FILE,
                              json.dumps(cfg.to_dict(), indent=1) + "\n")
        net: nn.Module = model
        if ctx.enabled:
            net = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)

        steps_per_epoch = len(self._batches(0))
        val_count = len(self.data.val) if self.data.val is not None else 0
        self._emit(RunStarted(cfg.epochs, steps_per_epoch, class_names, str(device),
                              run_dir=str(self.run_dir), start_epoch=start_epoch,
                              train_clips=len(self.data.train), val_clips=val_count,
                              world_size=ctx.world_size))
        self._model, self._spec, self._origin = model, spec, origin
        self._optimizer, self._scheduler, self._scaler = optimizer, scheduler, scaler
        history = metrics.read() if ctx.is_main else []
        timer = _Throughput(cfg.epochs * steps_per_epoch
                            - (start_epoch * steps_per_epoch + start_step))

        for epoch in range(start_epoch, cfg.epochs):
            skip = start_step if epoch == start_epoch else 0
            acc_in = carry if epoch == start_epoch else {}
            self._best = (best_acc, best_epoch, best_loss)
            self._check_cancel(epoch, skip, acc_in)
            t0 = time.monotonic() - float(acc_in.get("seconds", 0.0))
            sums = self._train_epoch(net, frozen, epoch, skip, acc_in, amp_dtype, timer)
            val = self._validate(model, epoch, amp_dtype, sums, t0)
            with warnings.catch_warnings():  # a resumed epoch may have no step left to take
                warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
                scheduler.step()
            lr = optimizer.param_groups[0]["lr"]
            seen = sums["seen"]
            row: dict[str, Any] = {
                "epoch": epoch + 1, "lr": sums.get("lr", lr),
                "train_loss": sums["loss"] / seen if seen else None,
                "train_acc": sums["correct"] / seen if seen else 0.0,
                "val_loss": val[0] if val else None, "val_acc": val[1] if val else None,
            }
            if val is not None:
                row.update(val_windows=self._val_counts[0], val_clip_acc=self._val_counts[1])
            best_row = (None if best_acc is None else
                        {"epoch": best_epoch, "val_acc": best_acc, "val_loss": best_loss})
            improved = val is not None and selection.better(row, best_row)
            if improved:
                best_acc, best_epoch, best_loss = val[1], epoch + 1, val[0]
            row["best"] = improved
            row["seconds"] = round(time.monotonic() - t0, 3)
            history.append(row)
            if ctx.is_main:
                metrics.append(row)
                if improved and cfg.keep_best:
                    self._save_model(self.run_dir / BEST_MODEL, epoch + 1, row, kind="best")
                if improved:
                    self._write_validation_report(epoch + 1)
            self._best = (best_acc, best_epoch, best_loss)
            self._save_state(epoch + 1, 0, {})
            self._emit(EpochEnded(epoch + 1, row["train_loss"], row["train_acc"],
                                  row["val_loss"], row["val_acc"], improved, row["lr"],
                                  row["seconds"]))
            if self._stop_after_epoch is not None and epoch + 1 >= self._stop_after_epoch \
                    and epoch + 1 < cfg.epochs:
                self.cancel.cancel()
        final = self.run_dir / FINAL_MODEL
        last = history[-1] if history else {}
        openset = None
        if ctx.is_main:
            self._save_model(final, cfg.epochs, last, kind="final")
        chosen = selection.choose_epoch(history) if ctx.is_main else None
        kept_acc, kept_epoch = best_acc, best_epoch
        if chosen is not None and chosen.val_acc is not None:
            kept_acc, kept_epoch = chosen.val_acc, chosen.epoch
            self._keep(chosen, best_epoch, last)
        if ctx.is_main and cfg.openset:
            openset = self._add_openset(final, kept_epoch)
        ctx.barrier()
        self._write_digest(model)
        model_path = (self.run_dir / BEST_MODEL
                      if cfg.keep_best and kept_acc is not None else final)
        chosen_dict = chosen.to_dict() if chosen is not None else None
        report = {"best_val_acc": kept_acc, "best_epoch": kept_epoch, "epochs": cfg.epochs,
                  "final_train_acc": last.get("train_acc"), "final_val_acc": last.get("val_acc"),
                  "selection": chosen_dict}
        if ctx.is_main and kept_acc is not None:
            kept_report = self._best_report or _read_report(self.run_dir / VALIDATION_REPORT)
            if kept_report is not None:
                report["validation"] = kept_report
        if openset is not None:
            report["openset"] = openset
        self._emit(RunFinished(kept_acc, str(model_path), report))
        return TrainResult(self.run_dir, model_path, final, kept_acc, kept_epoch, cfg.epochs,
                           history, chosen_dict)

    def _keep(self, chosen: selection.Selection, best_epoch: int | None,
              last: dict[str, Any]) -> None:
        """Make best.safetensors and report.json the kept epoch's, with the reason (rank 0,
        after the last epoch: the model in memory is the last epoch's)."""
        if chosen.epoch != best_epoch:  # the last epoch, kept over a noisy best
            if self.config.keep_best:
                self._save_model(self.run_dir / BEST_MODEL, chosen.epoch, last, kind="best")
            self._write_validation_report(chosen.epoch)  # the last validation's report
        report = self._best_report or _read_report(self.run_dir / VALIDATION_REPORT)
        if report is not None:
            report = {**report, "selection": chosen.to_dict()}
            atomic_write_text(self.run_dir / VALIDATION_REPORT,
                              json.dumps(report, indent=1) + "\n")
            self._best_report = report

    # ------------------------------------------------------------------ pieces
    def _check_cancel(self, epoch: int, step: int, sums: dict[str, float]) -> None:
        if not self.ctx.any(self.cancel.cancelled):
            return
        path = self._save_state(epoch, step, sums)
        where = f"epoch {epoch + 1}, step {step}" if step else f"after epoch {epoch}"
        message = (f"training cancelled ({where}); resume with "
                   f"`stmanet train --resume {self.run_dir}`")
        self._emit(RunCancelled(message, str(path), epoch, step))
        raise TrainingCancelled(message, path, self.cancel.signal)

    def _train_epoch(self, net: nn.Module, frozen: list[nn.Module], epoch: int, skip: int,
                     sums_in: dict[str, float], amp_dtype: torch.dtype | None,
                     timer: _Throughput) -> dict[str, float]:
        cfg, device = self.config, self.ctx.device
        if hasattr(self.data.train, "set_epoch"):
            self.data.train.set_epoch(epoch)
        batches = self._batches(epoch)
        steps = len(batches)
        sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0, **sums_in}
        set_train_mode(net, frozen)
        lr = self._optimizer.param_groups[0]["lr"]
        sums["lr"] = lr
        if skip >= steps:
            return sums
        loader = self._loader(self.data.train, batches[skip:], epoch)
        last_report = 0.0
        for step, (clips, labels) in enumerate(loader, start=skip + 1):
            clips = clips.to(device, non_blocking=True)
            if device.type == "cpu":
                # channels-last clips: oneDNN's weight gradient of the 3-channel stem, the
                # costliest step of a small network's training on CPU, runs ~2x faster so
                # (a training step of the demo recipe ~35% faster, stmanet_r50's unchanged)
                clips = clips.contiguous(memory_format=torch.channels_last_3d)
            labels = torch.as_tensor(labels).to(device, non_blocking=True)
            target = labels
            if cfg.mixup > 0:
                clips, target, labels = mix_batch(clips, labels, len(self.data.class_names),
                                                  cfg.mixup)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                output = net(clips)
                terms = stmanet_loss(output, target, lambda_spatial=cfg.lambda_spatial,
                                     lambda_temporal=cfg.lambda_temporal,
                                     label_smoothing=cfg.label_smoothing)
            self._optimizer.zero_grad(set_to_none=True)
            self._scaler.scale(terms.total).backward()
            self._scaler.step(self._optimizer)
            self._scaler.update()
            n = labels.shape[0]
            loss = float(terms.total.detach())
            if not math.isfinite(loss):
                raise STMANetError(f"the loss became {loss} at epoch {epoch + 1}, step {step}: "
                                   "lower --lr, or turn off --amp")
            sums["loss"] += loss * n
            sums["correct"] += float((output.logits.detach().argmax(1) == labels).sum())
            sums["seen"] += n
            timer.tick(n * self.ctx.world_size)
            now = time.monotonic()
            if self.ctx.is_main and (now - last_report >= 0.25 or step == steps):
                last_report = now
                self._emit(StepProgress(epoch + 1, step, steps, sums["loss"] / sums["seen"],
                                        sums["correct"] / sums["seen"], lr, timer.rate,
                                        timer.eta))
            if self.cancel.cancelled or self.ctx.enabled:
                self._check_cancel(epoch, step, sums)
        return sums

    def _validate(self, model: STMANet, epoch: int, amp_dtype: torch.dtype | None,
                  train_sums: dict[str, float], t0: float) -> tuple[float | None, float] | None:
        """(loss, top-1) over every window of the validation clips, summed over all
        processes; None without any. Also sets self._val_counts (windows, clip accuracy) and
        self._val_report (per clip: each clip's window scores averaged)."""
        data = self.data.val
        if data is None:
            totals = self.ctx.all_reduce_sum([train_sums["loss"], train_sums["correct"],
                                              train_sums["seen"]])
            train_sums.update(loss=totals[0], correct=totals[1], seen=totals[2])
            return None
        cfg, device = self.config, self.ctx.device
        ids = list(range(self.ctx.rank, len(data), self.ctx.world_size))
        k = len(self.data.class_names)
        sums = {"loss": 0.0, "correct": 0.0, "seen": 0.0, "clips_top5": 0.0, "clips": 0.0}
        confusion = torch.zeros(k, k, dtype=torch.float64)  # per clip
        clip_scores: dict[int, Tensor] = {}
        clip_labels: dict[int, int] = {}
        pending: list[tuple[Tensor, int, int]] = []  # (windows, label, clip)

        def forward() -> None:
            if not pending:
                return
            clips = torch.cat([w for w, _, _ in pending]).to(device, non_blocking=True)
            labels = torch.cat([torch.full((w.shape[0],), y, dtype=torch.int64)
                                for w, y, _ in pending]).to(device)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                output = model(clips)
                terms = stmanet_loss(output, labels, lambda_spatial=cfg.lambda_spatial,
                                     lambda_temporal=cfg.lambda_temporal)
            n = labels.shape[0]
            logits = output.logits.float()
            sums["loss"] += float(terms.total) * n
            sums["correct"] += float((logits.argmax(1) == labels).sum())
            sums["seen"] += n
            probs = torch.softmax(logits, dim=1).double().cpu()
            offset = 0
            for w, y, clip in pending:
                part = probs[offset:offset + w.shape[0]].sum(0)
                offset += w.shape[0]
                clip_scores[clip] = clip_scores.get(clip, 0) + part
                clip_labels[clip] = y
            pending.clear()

        model.eval()
        last_report = 0.0
        with torch.no_grad():
            loader = self._loader(data, [[i] for i in ids], epoch) if ids else []
            for done, (item, label) in enumerate(loader, start=1):
                windows = item[0] if item.dim() == 6 else item  # (N, 3, T, S, S)
                y = int(torch.as_tensor(label).reshape(-1)[0])
                for chunk in torch.split(windows, cfg.batch_size):
                    if sum(w.shape[0] for w, _, _ in pending) + chunk.shape[0] > cfg.batch_size:
                        forward()
                    pending.append((chunk, y, done))
                now = time.monotonic()
                if now - last_report >= 0.25 or done == len(ids):
                    last_report = now
                    self._emit(ValidationProgress(epoch + 1, done, len(ids)))
                if self.cancel.cancelled and not self.ctx.enabled:
                    # the epoch's training is done: resume starts with this validation
                    self._check_cancel(epoch, len(self._batches(epoch)), {
                        **train_sums, "seconds": time.monotonic() - t0})
            forward()
        for clip, scores in clip_scores.items():
            label = clip_labels[clip]
            sums["clips"] += 1
            top = torch.topk(scores, min(5, k)).indices
            sums["clips_top5"] += float(bool((top == label).any()))
            confusion[label, int(top[0])] += 1
        if self.ctx.enabled:
            self._check_cancel_after_validation(epoch, train_sums, t0)
        names = ("loss", "correct", "seen", "clips_top5", "clips")
        totals = self.ctx.all_reduce_sum([train_sums["loss"], train_sums["correct"],
                                          train_sums["seen"], *(sums[n] for n in names),
                                          *confusion.flatten().tolist()])
        train_sums.update(loss=totals[0], correct=totals[1], seen=totals[2])
        sums.update(zip(names, totals[3:8], strict=True))
        seen = sums["seen"]
        if not seen:
            return None
        report = _report_from_confusion(np.asarray(totals[8:]).reshape(k, k),
                                        list(self.data.class_names),
                                        sums["clips_top5"] / max(1.0, sums["clips"]))
        report.extra.update(windows=int(seen), window_top1=sums["correct"] / seen,
                            window_loss=sums["loss"] / seen)
        self._val_report = report
        self._val_counts = (int(seen), report.top1)
        return sums["loss"] / seen, sums["correct"] / seen

    def _check_cancel_after_validation(self, epoch: int, train_sums: dict[str, float],
                                       t0: float) -> None:
        if self.ctx.any(self.cancel.cancelled):
            self._check_cancel(epoch, len(self._batches(epoch)),
                               {**train_sums, "seconds": time.monotonic() - t0})

    def _save_state(self, epoch: int, step: int, sums: dict[str, float]) -> Path:
        """Write checkpoint.pt (rank 0), with every process's RNG state; all ranks wait."""
        path = self.run_dir / RESUME_FILE
        if self._saved_at == (epoch, step):
            return path
        self._saved_at = (epoch, step)
        mine = {"rng": rng_state(), "accumulators": {k: float(v) for k, v in sums.items()}}
        ranks = [mine]
        if self.ctx.enabled:
            gathered: list[Any] = [None] * self.ctx.world_size
            dist.all_gather_object(gathered, mine)
            ranks = gathered
        if self.ctx.is_main:
            best_acc, best_epoch, best_loss = self._best
            state = {
                "format": STATE_FORMAT, "version": STATE_VERSION,
                "epoch": epoch, "step": step,
                "model": {k: v.detach().to("cpu") for k, v in self._model.state_dict().items()},
                "optimizer": self._optimizer.state_dict(),
                "scheduler": self._scheduler.state_dict(),
                "scaler": self._scaler.state_dict() if self._scaler.is_enabled() else {},
                "ranks": [_to_cpu(r) for r in ranks],  # RNG states and epoch sums per process
                "best_val_acc": best_acc, "best_epoch": best_epoch, "best_val_loss": best_loss,
                "class_names": list(self.data.class_names),
                "config": json.dumps(self.config.to_dict()),
                "world_size": self.ctx.world_size,
            }
            with atomic_path(path) as tmp:
                try:
                    torch.save(state, tmp)
                except RuntimeError as exc:  # torch's writer on a full disk: "unexpected pos"
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise OSError(errno.EIO, f"the write failed; is the disk full? ({first})",
                                  str(tmp)) from exc
            self._emit(CheckpointSaved(str(path), epoch, "resume"))
        self.ctx.barrier()
        return path

    def _save_model(self, path: Path, epoch: int, row: dict[str, Any], *, kind: str) -> None:
        model = self._model
        report = {k: row.get(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
        report["epoch"] = epoch
        meta = CheckpointMetadata(
            model.config, list(self.data.class_names), self._spec,
            provenance("train", model_name=self.config.model, kind=kind, epoch=epoch,
                       data=self.data.description, origin=self._origin,
                       config=self.config.to_dict()),
            report=report)
        save_checkpoint(path, model, meta)
        self._emit(CheckpointSaved(str(path), epoch, "model"))

    def _add_openset(self, final: Path, kept_epoch: int | None) -> dict[str, Any] | None:
        """Fit the open-set statistics of the final and best models on the training clips
        (engine/openset_windows.py) and write them into the files. A failure or a cancel
        leaves the models without them (a warning says how to add them later)."""
        from stmanet.engine.openset_windows import add_to_model_files

        cfg, data = self.config, self.data
        train = getattr(data.train, "index", None)
        if train is None:
            log.warning("open-set statistics skipped: the training data is no clip index")
            return None
        val = getattr(data.val, "index", None) if data.val is not None else None
        paths = [final]
        best = self.run_dir / BEST_MODEL
        if cfg.keep_best and kept_epoch is not None and best.exists():
            paths.append(best)
        description = data.description or {}
        val_flag = f" --val-data {cfg.val_data}" if cfg.val_data else ""
        alone = "" if cfg.openset_mirror else " --no-mirror"
        later = f"; add them with `stmanet openset MODEL --data {cfg.data}{val_flag}{alone}`"
        try:
            stats = add_to_model_files(
                paths, train, val, device=self.ctx.device, batch_size=cfg.batch_size,
                workers=cfg.workers, mirror=cfg.openset_mirror,
                descriptions=(str(description.get("train") or ""),
                              str(description.get("val") or "")),
                on_progress=lambda what, done, total: self._emit(
                    TaskProgress("open-set statistics", done, total, what)),
                should_cancel=lambda: self.cancel.cancelled, same_weights=kept_epoch == cfg.epochs)
        except Cancelled:
            log.warning("open-set statistics cancelled: the models cannot tell unknown "
                        "footage%s", later)
            return None
        except STMANetError as exc:
            log.warning("open-set statistics failed (%s): the models cannot tell unknown "
                        "footage%s", exc, later)
            return {"error": str(exc)}
        for path in paths:
            self._emit(CheckpointSaved(str(path), cfg.epochs, "model"))
        described = stats.describe()
        if note := stats.calibration_note():
            log.warning("%s", note)
            described["note"] = note  # also on the JSON channel (the final report)
        return described

    def _write_validation_report(self, epoch: int) -> None:
        """report.json and confusion.csv: the validation results of the best model."""
        report = self._val_report
        if report is None:
            return
        report.extra.update(subset="validation", epoch=epoch, data=self.data.description)
        report.write_json(self.run_dir / VALIDATION_REPORT)
        write_confusion_csv(self.run_dir / VALIDATION_CONFUSION, report.confusion_array,
                            report.class_names)
        self._best_report = report.to_dict()

    def _write_digest(self, model: nn.Module) -> None:
        folder = os.environ.get(DIGEST_DIR_ENV)
        if folder:
            out = Path(folder) / f"rank{self.ctx.rank}.sha256"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(parameter_digest(model) + "\n", encoding="utf-8")


def _report_from_confusion(matrix: np.ndarray, class_names: list[str],
                           top5: float) -> ClassificationReport:
    """A classification report from summed confusion counts (rows: true class)."""
    counts = np.rint(matrix).astype(np.int64)
    total = int(counts.sum())
    recall = per_class_accuracy(counts)
    return ClassificationReport(
        class_names=list(class_names), count=total,
        top1=float(np.trace(counts) / total) if total else 0.0, top5=float(top5),
        per_class={name: None if math.isnan(r) else float(r)
                   for name, r in zip(class_names, recall, strict=True)},
        confusion=counts.tolist())


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _to_cpu(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.to("cpu")
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _mp_context() -> str | None:
    # fork is fast and sees in-memory data sets; elsewhere use the platform's default
    import multiprocessing

    return "fork" if "fork" in multiprocessing.get_all_start_methods() else None


class _Throughput:
    """Clips per second over recent steps, and the time left for the remaining steps."""

    def __init__(self, remaining_steps: int) -> None:
        self._remaining = remaining_steps
        self._rate: float | None = None
        self._step_time: float | None = None
        self._last = time.monotonic()

    def tick(self, clips: int) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last, 1e-6)  # includes waiting for data
        self._last = now
        self._remaining = max(0, self._remaining - 1)
        rate = clips / elapsed
        a = 0.2
        self._rate = rate if self._rate is None else (1 - a) * self._rate + a * rate
        self._step_time = elapsed if self._step_time is None else (
            (1 - a) * self._step_time + a * elapsed)

    @property
    def rate(self) -> float:
        return self._rate or 0.0

    @property
    def eta(self) -> float | None:
        return None if self._step_time is None else self._remaining * self._step_time


# ---------------------------------------------------------------------------- entry point

def run_training(config: TrainConfig, *, resume: bool = False,
                 on_event: EventSink | None = None, cancel: CancelToken | None = None,
                 context: DistributedContext | None = None,
                 data: TrainData | None = None) -> TrainResult:
    """Build the data (unless given) and run a Trainer; see `Trainer` for the arguments."""
    ctx = context or DistributedContext(device=resolve_device(config.device))
    if not resume:
        config = resolve_input(config)
    if data is None:
        data = build_data(config)
    return Trainer(config, data, on_event=on_event, cancel=cancel, context=ctx,
                   resume=resume).run()


def mix_batch(clips: Tensor, labels: Tensor, num_classes: int,
              alpha: float) -> tuple[Tensor, Tensor, Tensor]:
    """Mixup (Zhang et al. 2018) of one batch: every clip blended with another of the batch
    (a random pairing) by one weight w ~ Beta(alpha, alpha), and the one-hot labels alike.
    Returns the blended clips, the soft targets (B, K) and, for the running accuracy, the
    label of the larger share. Draws from torch's generator, so a seeded run repeats."""
    weight = float(torch.distributions.Beta(alpha, alpha).sample())
    pairs = torch.randperm(clips.shape[0], device=clips.device)
    mixed = clips.mul(weight).add_(clips[pairs], alpha=1.0 - weight)
    onehot = torch.nn.functional.one_hot(labels, num_classes).float()
    target = onehot.mul(weight).add_(onehot[pairs], alpha=1.0 - weight)
    return mixed, target, labels if weight >= 0.5 else labels[pairs]
