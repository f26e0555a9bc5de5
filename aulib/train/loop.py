"""The training loop every AU model in ``aulib`` uses: :func:`fit` and :func:`predict`.

One loop serves logit classifiers, heatmap regressors and domain-adaptation models:

- the loss is, in order: the ``loss`` argument (``fn(output, batch) -> scalar``), the
  model's own ``loss(batch, output)`` method, or the masked multi-label BCE with per-AU
  weights from the training base rates (``TrainConfig.loss = "weighted_bce"``, GLEE-Net
  eq. 5 / JAA-Net) or without (``"bce"``);
- probabilities come from the model's ``decide(output)`` method, else ``sigmoid(output)``;
- a model that needs more than the image while training (e.g. DANN's target-domain images)
  lists the batch keys in ``train_inputs`` (default ``("image",)``); evaluation always calls
  ``model(image)``; a model with ``set_progress(p)`` is told the training progress in [0, 1];
  a model with ``selectable()`` returning False keeps that epoch out of model selection;
  a model with ``set_au_weights(w)`` receives the per-AU weights from the training base rates.

Features: optimizer and LR schedule from :class:`TrainConfig`, gradient clipping, mixed
precision and ``channels_last`` on CUDA, deterministic on CPU for a seed, tqdm progress with
loss and validation F1, model selection on the validation set only (``best.pt``), an atomic
checkpoint with the full training state each epoch (``last.pt``) from which an interrupted
run resumes and ends with the same result, and DistributedDataParallel under ``torchrun``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, RandomSampler

from aulib import config as aconfig

from . import checkpoint as ck
from . import distributed as D
from .data import dataset_aus, summarise
from .losses import WeightedBCE, au_weights_from_rates, base_rates_from_labels, pos_weights_from_rates

BEST, LAST = "best.pt", "last.pt"


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint; resuming with a
    different value of a field marked in ``_RESUME_KEYS`` is an error)."""
    optimizer: str = "adamw"          # adamw | adam | sgd
    lr: float = 1e-4
    weight_decay: float = 5e-4
    momentum: float = 0.9             # sgd only (Nesterov)
    betas: tuple = (0.9, 0.999)       # adam/adamw
    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int = 0          # 0 = 2 * batch_size
    grad_clip: float = 0.0            # max gradient norm; 0 = off
    schedule: str = "cosine"          # constant | cosine (per iteration, to 0) | step | linear
    step_epochs: int = 2              # step: multiply by gamma every step_epochs epochs
    gamma: float = 0.3
    warmup_iters: int = 0
    amp: str = "auto"                 # mixed precision: auto (on for CUDA) | on | off (fp32) | bf16 | fp16
    channels_last: str = "auto"       # auto (on for CUDA) | on | off
    num_workers: int = 0
    max_iters_per_epoch: int = 0      # 0 = whole training set each epoch
    threshold: float = 0.5            # decision threshold on probabilities
    seed: int = 0
    device: str = "auto"
    loss: str = "weighted_bce"        # weighted_bce | balanced_bce | bce (a model/fit loss wins)
    select: str = "f1"                # validation metric used for model selection: f1 | loss
    progress: bool = True

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d


_RESUME_KEYS = ("optimizer", "lr", "weight_decay", "momentum", "epochs", "batch_size", "grad_clip",
                "schedule", "step_epochs", "gamma", "warmup_iters", "max_iters_per_epoch", "seed",
                "loss", "select")


@dataclass
class FitResult:
    best_epoch: int                   # 1-based epoch whose weights are in ``checkpoint``
    history: pd.DataFrame             # one row per epoch: train_loss, val_f1, lr, seconds
    checkpoint: Path                  # best.pt (selected on validation; last epoch if no val)
    last: Path                        # last.pt (full training state)
    best_val_f1: float = float("nan")
    resumed_from: int = 0             # epochs already done when this call started
    init: str = "random"


@dataclass
class Predictions:
    """Per-frame scores of one model on one dataset (rows in dataset order)."""
    probs: np.ndarray                 # (N, n_aus) float32 probabilities / scores
    preds: np.ndarray                 # (N, n_aus) uint8 decisions
    labels: np.ndarray | None         # (N, n_aus) 0/1 (0 where unknown)
    mask: np.ndarray | None           # (N, n_aus) 1 = known label
    subjects: np.ndarray              # (N,) str
    indices: np.ndarray               # (N,) the items' ``index`` field (or position)
    aus: list = field(default_factory=list)
    threshold: float = 0.5

    def f1(self, zero_division: float = 0.0) -> pd.Series:
        from aulib.eval.metrics import f1_per_au

        return f1_per_au(self.labels, self.preds, self.aus or None, self.mask, zero_division)

    def accuracy(self) -> pd.Series:
        from aulib.eval.metrics import accuracy_per_au

        return accuracy_per_au(self.labels, self.preds, self.aus or None, self.mask)

    def auc(self) -> pd.Series:
        """Per-AU ROC AUC (percent) of the scores, plus ``"Avg"`` (base-rate free; 50 = chance)."""
        from aulib.eval.metrics import auc_per_au

        return auc_per_au(self.labels, self.probs, self.aus or None, self.mask)

    def confusion(self) -> pd.DataFrame:
        """Per-AU confusion counts over the known labels: columns ``au, tp, fp, fn, tn``."""
        y = self.labels.astype(bool)
        d = self.preds.astype(bool)
        m = self.mask.astype(bool) if self.mask is not None else np.ones_like(y)
        names = self.aus or [f"AU?{i}" for i in range(y.shape[1])]
        return pd.DataFrame({"au": names, "tp": (y & d & m).sum(0), "fp": (~y & d & m).sum(0),
                             "fn": (y & ~d & m).sum(0), "tn": (~y & ~d & m).sum(0)})

    @classmethod
    def concat(cls, parts: list["Predictions"]) -> "Predictions":
        """Pool several folds' predictions (same AUs) into one."""
        if len({tuple(p.aus) for p in parts}) > 1:
            raise ValueError("cannot pool predictions of different AU lists")
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        return cls(cat("probs"), cat("preds"), cat("labels"), cat("mask"), cat("subjects"), cat("indices"),
                   list(parts[0].aus), parts[0].threshold)

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, probs=self.probs, preds=self.preds,
                            labels=np.zeros(0) if self.labels is None else self.labels,
                            mask=np.zeros(0) if self.mask is None else self.mask,
                            subjects=self.subjects.astype(str), indices=self.indices,
                            aus=np.asarray(self.aus, dtype=str), threshold=self.threshold)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> "Predictions":
        z = np.load(path, allow_pickle=False)
        lab = z["labels"] if z["labels"].size else None
        msk = z["mask"] if z["mask"].size else None
        return cls(z["probs"], z["preds"], lab, msk, z["subjects"], z["indices"],
                   [str(a) for a in z["aus"]], float(z["threshold"]))


# ---------------------------------------------------------------------------------------
#: explicit autocast precisions of ``TrainConfig.amp`` (besides auto / on / off)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _resolve_flags(cfg: TrainConfig, device: str):
    """(use autocast, its dtype or None, channels_last) for ``cfg`` on ``device``.

    ``amp``: ``auto`` = autocast on CUDA only (bf16 where supported, else fp16 with a grad
    scaler); ``on`` = the same dtype choice on any device; ``off`` = fp32 throughout (what a
    paper's fp32 code needs, e.g. FG-Net's official training); ``bf16`` / ``fp16`` = autocast
    with that dtype. ``channels_last``: auto (CUDA) | on | off.
    """
    cuda = device.startswith("cuda")

    def flag(v, what, extra=()):
        v = str(v).lower()
        if v not in ("auto", "on", "off", "true", "false", *extra):
            raise ValueError(f"TrainConfig.{what}: expected auto | on | off" + "".join(f" | {e}" for e in extra)
                             + f", found {v!r}")
        return cuda if v == "auto" else v in ("on", "true", *extra)
    amp, cl = flag(cfg.amp, "amp", tuple(AMP_DTYPES)), flag(cfg.channels_last, "channels_last")
    amp_dtype = None
    if amp:
        if str(cfg.amp).lower() in AMP_DTYPES:
            amp_dtype = AMP_DTYPES[str(cfg.amp).lower()]
        elif cuda:
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            amp_dtype = torch.bfloat16
    return amp, amp_dtype, cl


def _make_optimizer(params, cfg: TrainConfig):
    name = cfg.optimizer.lower()
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas))
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas))
    if name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum,
                               nesterov=cfg.momentum > 0)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adamw, adam or sgd")


def _make_schedule(opt, cfg: TrainConfig, iters_per_epoch: int):
    total = max(1, cfg.epochs * iters_per_epoch)
    kind = cfg.schedule.lower()

    def warm(it):
        return min(1.0, (it + 1) / cfg.warmup_iters) if cfg.warmup_iters else 1.0

    if kind == "constant":
        fn = lambda it: warm(it)  # noqa: E731
    elif kind == "cosine":   # ME-GraphAU: lr0 * (1 + cos(pi * it / max_it)) / 2 (methods.md E.2)
        fn = lambda it: warm(it) * 0.5 * (1 + math.cos(math.pi * min(it, total) / total))  # noqa: E731
    elif kind == "step":     # JAA-Net: x gamma every step_epochs epochs (methods.md A.6)
        fn = lambda it: warm(it) * cfg.gamma ** ((it // iters_per_epoch) // max(1, cfg.step_epochs))  # noqa: E731
    elif kind == "linear":
        fn = lambda it: warm(it) * max(0.0, 1 - it / total)  # noqa: E731
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; choose constant, cosine, step or linear")
    return torch.optim.lr_scheduler.LambdaLR(opt, fn)


def _to_device(batch: dict, device: str, channels_last: bool) -> dict:
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=True)
            if channels_last and v.ndim == 4 and v.is_floating_point():
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def _autocast(device: str, enabled: bool, dtype):
    dev = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(dev, dtype=dtype, enabled=bool(enabled and dtype is not None))


def _decide(model, output) -> torch.Tensor:
    m = ck.unwrap(model)
    if hasattr(m, "decide"):
        return m.decide(output)
    if not torch.is_tensor(output):
        raise TypeError(f"{type(m).__name__} returns {type(output).__name__} in eval mode; define "
                        "decide(output) -> (B, n_aus) probabilities/scores on the model")
    return torch.sigmoid(output.float())


def _check_aus(model, ds, what: str, subset_ok: bool = False):
    """Model and dataset AUs must agree by name; for evaluation a dataset may label a subset of
    the model's AUs (returns the model's output columns for the dataset's AUs, else None)."""
    m_aus, d_aus = getattr(ck.unwrap(model), "aus", None), dataset_aus(ds)
    m_aus = [str(a) for a in m_aus] if m_aus else None
    d_aus = [str(a) for a in d_aus] if d_aus else None
    if subset_ok and m_aus and d_aus and m_aus != d_aus and set(d_aus) <= set(m_aus):
        return [m_aus.index(a) for a in d_aus]
    if m_aus and d_aus and m_aus != d_aus:
        raise ValueError(f"the model predicts AUs {list(m_aus)} but the {what} dataset yields "
                         f"{list(d_aus)}; labels are matched by AU name - build the dataset "
                         "with the model's AU list (or the model with the dataset's)")
    return None


# ---------------------------------------------------------------------------------------
def predict(model, ds, batch_size: int = 64, device: str | None = None, threshold: float = 0.5,
            num_workers: int = 0, check_leakage: bool = True, progress: bool = False,
            amp: str = "auto", channels_last: str = "auto") -> Predictions:
    """Score every item of ``ds`` with ``model`` (eval mode); rows in dataset order.

    AUs are matched by name; when ``ds`` labels a subset of the model's AUs (a cross-domain
    test), only those output columns are returned, in the dataset's order.

    Raises :class:`~aulib.train.checkpoint.LeakageError` if ``ds`` holds a subject the model
    was trained on (``check_leakage=False`` only for deliberate diagnostics such as
    training-set fit). Under DDP each rank scores a shard and all ranks get the whole result.
    """
    from tqdm.auto import tqdm

    info = D.setup("cpu") if (torch.distributed.is_available() and torch.distributed.is_initialized()) \
        else D.DistInfo(False)
    m = ck.unwrap(model)
    if device is None:
        try:
            device = str(next(m.parameters()).device)
        except StopIteration:
            device = "cpu"
    device = aconfig.resolve_device(device) if device == "auto" else device
    use_amp, amp_dtype, cl = _resolve_flags(TrainConfig(amp=amp, channels_last=channels_last), device)
    use_amp = use_amp and device.startswith("cuda")
    cols = _check_aus(m, ds, "evaluation", subset_ok=True)
    positions = list(range(len(ds)))[info.rank::info.world_size]
    loader = DataLoader(ds, batch_size=batch_size, sampler=positions, num_workers=num_workers,
                        pin_memory=device.startswith("cuda"))
    was_training = m.training
    m.eval()
    probs, labels, masks, subjects, indices = [], [], [], [], []
    with torch.no_grad():
        for batch in tqdm(loader, desc="predict", disable=not (progress and info.is_main), leave=False):
            subj = [str(s) for s in batch.get("subject", [""] * len(batch["image"]))]
            if check_leakage:
                ck.check_leakage(m, subj)
            b = _to_device(batch, device, cl)
            with _autocast(device, use_amp, amp_dtype):
                out = m(b["image"])
            pr = _decide(m, out).float()
            probs.append((pr[:, cols] if cols is not None else pr).cpu().numpy())
            if "au" in batch:
                labels.append(batch["au"].float().numpy())
                masks.append(batch.get("au_mask", torch.ones_like(batch["au"])).float().numpy())
            subjects.extend(subj)
            idx = batch.get("index")
            indices.append(np.asarray(idx) if idx is not None else np.zeros(len(subj), np.int64))
    m.train(was_training)
    part = (positions, probs, labels, masks, subjects, indices)
    parts = D.gather_objects(part, info)
    order, P, L, M, S, I = [], [], [], [], [], []
    for pos, pr, la, ma, su, ix in parts:
        order += pos
        P += pr
        L += la
        M += ma
        S += su
        I += ix
    n_aus = len(getattr(m, "aus", []) or []) or (P[0].shape[1] if P else 0)
    probs_a = np.concatenate(P).astype(np.float32) if P else np.zeros((0, n_aus), np.float32)
    perm = np.argsort(np.asarray(order), kind="stable")
    probs_a = probs_a[perm]
    lab = np.concatenate(L)[perm] if L else None
    msk = np.concatenate(M)[perm] if M else None
    if lab is not None:
        lab = (lab * msk).astype(np.float32)
    return Predictions(
        probs=probs_a, preds=(probs_a > threshold).astype(np.uint8), labels=lab, mask=msk,
        subjects=np.asarray(S, dtype=str)[perm], indices=np.concatenate(I)[perm] if I else np.zeros(0, np.int64),
        aus=[str(a) for a in ((dataset_aus(ds) if cols is not None else None) or getattr(m, "aus", None)
                              or dataset_aus(ds) or [])], threshold=threshold)


def evaluate(model, ds, **kw) -> tuple[Predictions, pd.Series]:
    """:func:`predict` then per-AU F1 (percent, with ``Avg``)."""
    p = predict(model, ds, **kw)
    return p, p.f1()


# ---------------------------------------------------------------------------------------
def fit(model, train_ds, val_ds, config: TrainConfig, run_dir, loss=None, resume: bool = True) -> FitResult:
    """Train ``model`` on ``train_ds``, select the epoch on ``val_ds`` (never on test).

    ``run_dir`` receives ``last.pt`` (full training state, rewritten atomically every
    epoch), ``best.pt`` (the selected weights, a loadable checkpoint) and
    ``history.csv``. If ``last.pt`` exists and ``resume`` is true, training continues from
    it and the final result equals that of an uninterrupted run (CPU; same config). On
    return ``model`` holds the selected (best) weights and remembers its training subjects.
    """
    from tqdm.auto import tqdm

    cfg = config
    run_dir = Path(run_dir)
    device = aconfig.resolve_device(cfg.device)
    info = D.setup(device)
    device = D.local_device(device, info)
    aconfig.seed_everything(cfg.seed)
    use_amp, amp_dtype, cl = _resolve_flags(cfg, device)
    net = ck.unwrap(model)
    net.to(device)
    if cl:
        net.to(memory_format=torch.channels_last)
    show = cfg.progress and info.is_main

    # -- data facts: subjects (leakage guard), AU names, loss weights -----------------------
    _check_aus(net, train_ds, "training")
    custom_loss = loss is not None or hasattr(net, "loss")
    want_weights = cfg.loss in ("weighted_bce", "balanced_bce") and (not custom_loss or hasattr(net, "set_au_weights"))
    tr = summarise(train_ds, getattr(net, "aus", None), need_labels=want_weights, progress=show)
    if want_weights and tr.labels is None:
        raise ValueError("the training dataset yields no 'au' labels, so per-AU loss weights cannot be "
                         "computed; use TrainConfig(loss='bce') or a model/fit loss of your own")
    rates = base_rates_from_labels(tr.labels, tr.mask) if want_weights else None
    weights = au_weights_from_rates(rates) if want_weights else None
    if hasattr(net, "set_au_weights") and weights is not None:
        net.set_au_weights(weights.to(device))   # the model's own loss uses them
    train_subjects = sorted(set(tr.subjects))
    if val_ds is not None:
        _check_aus(net, val_ds, "validation")
        vs = set(summarise(val_ds, need_labels=False, progress=show).subjects)
        overlap = sorted(vs & set(train_subjects))
        if overlap:
            raise ck.LeakageError(f"validation and training share subject(s) {overlap[:8]}; model "
                                  "selection needs subject-exclusive splits (user-asks.md #2)")
    if loss is not None:
        loss_fn = loss
    elif hasattr(net, "loss"):
        loss_fn = lambda output, batch: net.loss(batch, output)  # noqa: E731
    else:
        if cfg.loss not in ("weighted_bce", "balanced_bce", "bce"):
            raise ValueError(f"unknown loss {cfg.loss!r}; choose weighted_bce, balanced_bce or bce, or pass loss=")
        pos = pos_weights_from_rates(rates) if cfg.loss == "balanced_bce" else None
        crit = WeightedBCE(weights, pos).to(device)
        loss_fn = lambda output, batch: crit(output, batch["au"], batch.get("au_mask"))  # noqa: E731

    # -- optimisation state -----------------------------------------------------------------
    per_rank = math.ceil(len(train_ds) / info.world_size)
    drop_last = per_rank > cfg.batch_size
    iters = (per_rank // cfg.batch_size) if drop_last else 1
    if cfg.max_iters_per_epoch:
        iters = min(iters, cfg.max_iters_per_epoch)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = _make_optimizer(params, cfg)
    sched = _make_schedule(opt, cfg, iters)
    scaler = torch.amp.GradScaler("cuda", enabled=bool(use_amp and amp_dtype == torch.float16))
    ddp = D.wrap(net, info, device)
    train_keys = tuple(getattr(net, "train_inputs", ("image",)))

    history: list[dict] = []
    start_epoch, best_epoch, best_score, resumed_from = 0, 0, -float("inf"), 0
    last_path, best_path = run_dir / LAST, run_dir / BEST
    if resume and last_path.is_file():
        state = ck.load(last_path, map_location=device)
        saved = state["train_config"]
        diff = {k: (saved.get(k), getattr(cfg, k)) for k in _RESUME_KEYS if saved.get(k) != cfg.to_dict()[k]}
        if diff:
            raise ValueError(f"{last_path} was written with a different configuration {diff} "
                             "(stored, now); use a new run_dir or delete the old one to start over")
        net.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        ck.set_rng_state(state["rng"])
        start_epoch = resumed_from = int(state["epoch"])
        best_epoch, best_score = int(state["best_epoch"]), float(state["best_score"])
        history = list(state["history"])

    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    epochs_bar = tqdm(range(start_epoch, cfg.epochs), desc=f"train {type(net).__name__}", disable=not show,
                      initial=start_epoch, total=cfg.epochs)
    for epoch in epochs_bar:
        t0 = time.time()
        ddp.train()
        if info.enabled:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(train_ds, shuffle=True, seed=cfg.seed, drop_last=False)
            sampler.set_epoch(epoch)
        else:
            g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            sampler = RandomSampler(train_ds, generator=g)
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=drop_last,
                            num_workers=cfg.num_workers, pin_memory=device.startswith("cuda"),
                            generator=torch.Generator().manual_seed(cfg.seed + epoch),
                            worker_init_fn=_seed_worker if cfg.num_workers else None)
        total_loss, n_batches = 0.0, 0
        bar = tqdm(loader, total=iters, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not show)
        for it, batch in enumerate(bar):
            if it >= iters:
                break
            if hasattr(net, "set_progress"):
                net.set_progress((epoch * iters + it) / max(1, cfg.epochs * iters))
            b = _to_device(batch, device, cl)
            with _autocast(device, use_amp, amp_dtype):
                output = ddp(*[b[k] for k in train_keys])
                value = loss_fn(output, b)
            if not torch.isfinite(value):
                raise FloatingPointError(
                    f"loss is {value.item()} at epoch {epoch + 1} step {it + 1}; lower the learning "
                    f"rate (now {sched.get_last_lr()[0]:.2e}), set grad_clip, or check the labels/images")
            scaler.scale(value).backward()
            if cfg.grad_clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
            total_loss += float(value.detach())
            n_batches += 1
            bar.set_postfix(loss=f"{total_loss / n_batches:.4f}")
        bar.close()
        train_loss = D.all_reduce_mean(total_loss / max(1, n_batches), info)

        val_f1 = float("nan")
        if val_ds is not None:
            p = predict(ddp, val_ds, batch_size=cfg.eval_batch_size or 2 * cfg.batch_size, device=device,
                        threshold=cfg.threshold, num_workers=cfg.num_workers, check_leakage=False,
                        amp=cfg.amp, channels_last=cfg.channels_last)
            val_f1 = float(p.f1()["Avg"])
        score = val_f1 if (val_ds is not None and cfg.select == "f1") else -train_loss
        row = {"epoch": epoch + 1, "train_loss": train_loss, "val_f1": val_f1,
               "lr": float(opt.param_groups[0]["lr"]), "iters": n_batches, "seconds": time.time() - t0}
        history.append(row)
        # a model may declare some epochs not selectable (ADDA before its adaptation stage)
        eligible = bool(net.selectable()) if hasattr(net, "selectable") else True
        improved = eligible and (val_ds is None or score > best_score)
        if improved:
            best_epoch, best_score = epoch + 1, (score if val_ds is not None else best_score)
        if info.is_main:
            # best first, then last: a kill between the two re-runs this epoch identically
            if improved:
                ck.atomic_save(ck.model_record(net, train_subjects, {
                    "epoch": epoch + 1, "val_f1": val_f1, "train_config": cfg.to_dict()}), best_path)
            ck.atomic_save(ck.model_record(net, train_subjects, {
                "epoch": epoch + 1, "train_config": cfg.to_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "rng": ck.rng_state(), "best_epoch": best_epoch, "best_score": best_score,
                "history": history}), last_path)
            pd.DataFrame(history).to_csv(run_dir / "history.csv", index=False)
        D.barrier(info)
        epochs_bar.set_postfix(loss=f"{train_loss:.4f}", val_f1=f"{val_f1:.1f}")
    epochs_bar.close()

    D.barrier(info)
    if best_path.is_file():
        best = ck.load(best_path, map_location=device)
        net.load_state_dict(best["state_dict"])
        best_epoch = int(best["epoch"])
    net._aulib_train_subjects = frozenset(train_subjects)
    hist = pd.DataFrame(history)
    best_f1 = float(hist.loc[hist.epoch == best_epoch, "val_f1"].iloc[0]) if len(hist) and best_epoch else float("nan")
    return FitResult(best_epoch=best_epoch, history=hist, checkpoint=best_path, last=last_path,
                     best_val_f1=best_f1, resumed_from=resumed_from, init=ck.init_note(net))


def _seed_worker(worker_id: int) -> None:
    import random

    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)
