"""Rate-distortion training of CompressAI architectures on the CPU, with a wall-clock budget,
atomic checkpoints and resume, and an export that runs ``update(force=True)`` so the entropy coder's
CDF tables travel inside the weight file.

Loss as in CompressAI's examples/train.py: ``λ·255²·MSE + bpp``; the entropy bottleneck's quantiles
get their own optimiser (the "aux" loss). The learning rate follows the *time* budget (warm-up, then
cosine decay), so a run that is interrupted and resumed follows the same schedule.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from miscomp.config import defined

# CompressAI's λ for the MSE-optimised zoo models, quality 1..8 (compressai docs, "Model zoo").
LAMBDA_MSE = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.1800}


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "bmshj2018-factorized"
    quality: int = 1
    lmbda: float | None = None  # None: CompressAI's table for ``quality``
    batch_size: int = 8
    patch: int = 128
    lr: float = 5e-4
    lr_min: float = 1e-5
    warmup_steps: int = 100
    aux_lr: float = 1e-3
    # The factorized density starts broad (init_scale 10) and must sharpen by a factor of ~10, i.e.
    # its log-space parameters move by ~2.3; at lr 5e-4 that alone takes ~5000 Adam steps, more than
    # a CPU hour gives, so the entropy model's own parameters learn at a multiple of ``lr``.
    entropy_lr_scale: float = 10.0
    clip_max_norm: float = 1.0
    minutes: float = 55.0  # wall-clock budget for this model (resume counts time already spent)
    max_steps: int = 0  # 0: no step limit
    checkpoint_every_s: float = 300.0
    log_every: int = 50
    seed: int = 0
    # The miscompression-aware term (miscomp/training/aware.py): "none" trains plain rate-distortion.
    aware_term: str = "none"
    aware_lambda: float = 0.0
    aware_text_share: float = 0.5
    # "none": the rate term weighs 1 (plain λ trade-off); "base": a dual-ascent controller (RateControl)
    # holds the rate of a fixed probe of text crops at what the *initial* weights spend on it
    rate_target: str = "none"

    def __post_init__(self) -> None:
        if self.rate_target not in RATE_TARGETS:
            raise ValueError(
                f"rate target must be one of {', '.join(RATE_TARGETS)}, got {self.rate_target!r}"
            )

    @property
    def aware(self):
        from miscomp.training.aware import AwareConfig

        return AwareConfig(self.aware_term, self.aware_lambda, self.aware_text_share)

    @property
    def lambda_(self) -> float:
        return self.lmbda if self.lmbda is not None else LAMBDA_MSE[self.quality]

    @property
    def name(self) -> str:
        return f"{self.arch}-q{self.quality}"


RATE_TARGETS = ("none", "base", "tune")


@dataclass(frozen=True)
class RateControl:
    """The rate controller of a fine-tune that must keep its initial weights' bitrate (issue 31).

    The loss becomes ``μ·bpp + λ·255²·(MSE + a·term)`` and μ follows a multiplicative dual-ascent step
    every ``every`` steps: ``μ ← clip(μ·exp(η·(r̄ − 1)), mu_min, mu_max)``, where ``r`` is the bits the
    model spends on a fixed probe of ``probe_crops`` text crops over what the initial weights spent on
    the same crops (eval mode: rounded latents, so ``r`` is deterministic given the weights and the
    target has no sampling noise), and ``r̄`` its EMA. The probe is drawn once from the training
    sampler's text crops with its own random stream (training data only; the test bed's tune monitor
    stays an independent check and held-out is never seen). Text crops, not whole batches: the ship rule
    reads the rate on text, and the aware term moves bits *towards* text, which a whole-batch rate would
    let the photo half pay for.

    ``tune`` mode (``--rate-target tune``): the signal is a rate the caller measures, e.g. the estimated
    bpp of the real-codec test bed's *tune* text images (whole images, as the ship rule reads held-out),
    with the ``tune_*`` constants: a whole-image pass costs ~15-20 s here, so it runs less often and each
    step is larger (the same integral gain per training step, η/every), without an EMA (the signal is
    deterministic and already averages 25 images)."""

    every: int = defined(20, "steps between probes: ~10 % of a CPU step budget at 48 crops (3 s a probe)")
    eta: float = defined(
        1.0,
        "dual step: the rate answers μ with exponent ≈ −0.3 within ~100 steps (session 36: rate at step 100 "
        "∝ λ^0.30) to −0.5 at equilibrium (q1→q2), so the loop crosses over at ~70-130 steps, slower "
        "than the Adam lag at lr 2e-4 (~100 steps): a 10 % excess raises μ by 10 % per probe",
    )
    ema: float = defined(
        0.5, "EMA weight of the previous ratio: smooths step-to-step weight noise, adds ~1 probe of lag"
    )
    mu_min: float = defined(
        0.1, "bounds: a 10× rate weight either way is far outside any λ tried here (0.00075-0.0018)"
    )
    mu_max: float = defined(10.0, "see mu_min")
    probe_crops: int = defined(48, "6 batches of 8: 0.8 MPx at 128², ~3 s on one CPU thread")
    probe_seed: int = defined(1_000_003, "the probe's own random stream, apart from the training batches'")
    tune_every: int = defined(50, "steps between tune-monitor passes: ~20 s each, ~20 % of a CPU step budget")
    tune_eta: float = defined(
        2.0,
        "session 37's first start (probe mode) showed the rate answering μ only after ~150 steps (dead time, "
        "3 passes of 50): an integral step with dead time d is stable below a loop gain of 2·sin(π/(4d+2)) "
        "≈ 0.45, and the tune rate answers log μ with ≈ −0.3, so η ≤ ~1.5 would be safe; 2.0 trades some "
        "overshoot for catching the aware term's fast early rise (+6 % on tune by step 184)",
    )
    tune_ema: float = defined(0.0, "no smoothing: a deterministic pass over 25 whole images")


class RateController:
    """State of :class:`RateControl`'s dual ascent: ``target`` bits (the initial weights' on the probe),
    the multiplier ``mu`` and the ratio's EMA; ``update(bits)`` applies one dual step and returns μ."""

    def __init__(
        self,
        control: RateControl,
        target_bits: float,
        mu: float = 1.0,
        ratio_ema: float | None = None,
        mode: str = "base",
    ):
        if target_bits <= 0:
            raise ValueError(f"rate target must be positive, got {target_bits}")
        self.control, self.target, self.mu, self.ratio_ema = control, float(target_bits), float(mu), ratio_ema
        self.mode = mode
        c = control
        self.every, self.eta, self.ema = (
            (c.tune_every, c.tune_eta, c.tune_ema) if mode == "tune" else (c.every, c.eta, c.ema)
        )

    def update(self, bits: float) -> float:
        c = self.control
        ratio = bits / self.target
        self.ratio_ema = (
            ratio if self.ratio_ema is None else self.ema * self.ratio_ema + (1 - self.ema) * ratio
        )
        self.mu = min(max(self.mu * math.exp(self.eta * (self.ratio_ema - 1)), c.mu_min), c.mu_max)
        return self.mu

    def state_dict(self) -> dict[str, Any]:
        return {
            "target_bits": self.target,
            "mu": self.mu,
            "ratio_ema": self.ratio_ema,
            "mode": self.mode,
            "control": asdict(self.control),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RateController:
        control = RateControl(**state["control"])
        return cls(control, state["target_bits"], state["mu"], state["ratio_ema"], state.get("mode", "base"))


def estimated_bits(out: dict[str, Any]) -> float:
    """The entropy model's estimate of the bits of one forward pass (``out`` of a CompressAI model)."""
    import torch

    return sum(float(-torch.log2(v).sum()) for v in out["likelihoods"].values())


def probe_bits(model, probe, batch: int = 8) -> float:
    """Estimated bits of ``model`` on ``probe`` (N×3×H×W), in batches; in the caller's mode (the rate
    controller measures in eval mode: rounded latents, deterministic)."""
    return sum(estimated_bits(model(probe[i : i + batch])) for i in range(0, probe.shape[0], batch))


def build_model(arch: str, quality: int):
    from compressai.zoo import image_models

    return image_models[arch](quality=quality)


def learning_rate(cfg: TrainConfig, step: int, elapsed_s: float) -> float:
    return cosine_schedule(cfg.lr, cfg.lr_min, cfg.warmup_steps, cfg.minutes, cfg.max_steps, step, elapsed_s)


def cosine_schedule(
    lr: float, lr_min: float, warmup_steps: int, minutes: float, max_steps: int, step: int, elapsed_s: float
) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine from ``lr`` to ``lr_min`` over the run's budget:
    its minutes or its steps, whichever is spent first (every training loop here uses it)."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = elapsed_s / (minutes * 60) if minutes > 0 else 0.0
    if max_steps:
        progress = max(progress, step / max_steps)
    progress = min(max(progress, 0.0), 1.0)
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * progress))


def _optimisers(model, cfg: TrainConfig):
    import torch

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    aux = [p for n, p in named if n.endswith(".quantiles")]
    density = [p for n, p in named if _is_density(n)]
    transforms = [p for n, p in named if not n.endswith(".quantiles") and not _is_density(n)]
    groups = [{"params": transforms, "lr_scale": 1.0}, {"params": density, "lr_scale": cfg.entropy_lr_scale}]
    return torch.optim.Adam(groups, lr=cfg.lr), torch.optim.Adam(aux, lr=cfg.aux_lr)


def _is_density(name: str) -> bool:
    """Parameters of a factorized entropy model's density (not its quantiles)."""
    return "entropy_bottleneck." in name and not name.endswith(".quantiles")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, read with ``weights_only=True``: a checkpoint is data (tensors, numbers,
    strings, dicts), and unpickling anything else would run code from the file.

    Raises :class:`~miscomp.errors.MiscompError` with one line for a file that holds other objects
    (e.g. one written by a version that pickled them) or is not a checkpoint at all."""
    import pickle

    import torch

    from miscomp.errors import MiscompError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message is a page long; its "WeightsUnpickler error:" line names the refused object
        lines = [ln for ln in str(err).splitlines() if "WeightsUnpickler error" in ln]
        first = (lines[0].split("error:", 1)[1].strip() if lines else "") or "not plain data"
        raise MiscompError(
            f"{path}: refused to load: the checkpoint holds objects other than tensors and plain types "
            f"({first[:160]}); it was written by an older miscomp or comes from elsewhere: retrain, or "
            "re-save it as plain data from a trusted copy"
        ) from None
    except (OSError, RuntimeError, EOFError) as err:
        raise MiscompError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict):
        raise MiscompError(f"{path}: not a miscomp training checkpoint (a {type(state).__name__})")
    return state


def initial_weights(path: Path) -> dict[str, Any]:
    """The model weights that start a new run: a training checkpoint's ``model``, or a shipped state
    dict (``models/*-miscomp.pth``: fp16 transforms, cast back to fp32 here; its integer rANS tables
    are loaded too and recomputed at export)."""
    state = load_checkpoint(path)
    state = state.get("model", state)
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def _save_atomic(obj: Any, path: Path) -> None:
    import torch

    from miscomp.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def train(
    cfg: TrainConfig,
    dataset,
    workdir: Path,
    monitor=None,
    log=print,
    init_from: Path | None = None,
    device: str = "cpu",
    rate_signal=None,
) -> dict[str, Any]:
    """Train (or resume) ``cfg`` until its time or step budget is spent; returns the checkpoint dict.

    ``dataset`` has ``sample(rng, batch, patch) -> N×3×H×W float32``. ``monitor(model) -> dict`` is
    called at each checkpoint (e.g. PSNR/bpp on a held-out crop) and logged, never used to select.
    ``init_from``: a checkpoint whose model weights start a *new* run (e.g. q2 from q1: neighbouring
    rates share most of their transforms, so a short CPU budget goes further); ignored on resume.
    ``device``: a torch device (resolved by the caller, see ``settings.resolve_device``); checkpoints
    are saved so that they load on any device. ``rate_signal(model) -> float``: the rate that
    ``cfg.rate_target == "tune"`` holds at its initial value (called in eval mode, without gradients)."""
    import numpy as np
    import torch
    from compressai.losses import RateDistortionLoss

    from miscomp.training.aware import aware_loss

    workdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = workdir / "checkpoint.pt"
    log_path = workdir / "log.jsonl"
    model = build_model(cfg.arch, cfg.quality).to(device)
    opt, aux_opt = _optimisers(model, cfg)
    criterion = RateDistortionLoss(lmbda=cfg.lambda_)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    step, elapsed = 0, 0.0
    controller_state = None
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        try:
            opt.load_state_dict(state["optimizer"])
        except ValueError:  # parameter groups changed (e.g. a run from before entropy_lr_scale)
            log(f"[{cfg.name}] optimiser state does not match the parameter groups: Adam moments reset")
        aux_opt.load_state_dict(state["aux_optimizer"])
        step, elapsed = state["step"], state["elapsed_s"]
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        controller_state = state.get("rate_controller")
        log(f"[{cfg.name}] resumed at step {step}, {elapsed / 60:.1f} min spent")
    elif init_from is not None:
        model.load_state_dict(initial_weights(init_from))
        log(f"[{cfg.name}] initialised from {init_from}")

    def checkpoint(final: bool = False) -> dict[str, Any]:
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "aux_optimizer": aux_opt.state_dict(),
            "step": step,
            "elapsed_s": elapsed,
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "config": asdict(cfg),
            "lambda": cfg.lambda_,
            "final": final,
        }
        if controller is not None:
            state["rate_controller"] = controller.state_dict()
        _save_atomic(state, ckpt_path)
        record = {"event": "checkpoint", "step": step, "elapsed_s": round(elapsed, 1), "final": final}
        if controller is not None:
            record["rate_mu"] = round(controller.mu, 5)
        if monitor is not None:
            model.eval()
            with torch.no_grad():
                record.update(monitor(model))
            model.train()
        _log_json(log_path, record)
        log(f"[{cfg.name}] checkpoint {record}")
        return state

    def budget_left() -> bool:
        if cfg.max_steps and step >= cfg.max_steps:
            return False
        return cfg.minutes <= 0 or elapsed < cfg.minutes * 60

    aware = cfg.aware
    if aware.active and not hasattr(dataset, "sample_masked"):
        raise ValueError(f"[{cfg.name}] --aware-term {aware.term} needs a dataset with text masks")
    controller, measure = None, None
    if cfg.rate_target == "base":
        if not hasattr(dataset, "sample_text"):
            raise ValueError(f"[{cfg.name}] --rate-target base needs a dataset with text crops")
        rc = RateControl()
        xs = dataset.sample_text(np.random.default_rng(rc.probe_seed), rc.probe_crops, cfg.patch)
        probe = torch.from_numpy(xs).to(device)

        def measure(m) -> float:
            return probe_bits(m, probe)
    elif cfg.rate_target == "tune":
        if rate_signal is None:
            raise ValueError(f"[{cfg.name}] --rate-target tune needs a rate signal (the tune text monitor)")
        measure = rate_signal

    def signal(m) -> float:
        # in eval mode without gradients (rounded latents: the same weights give the same rate), then back
        was_training = m.training
        m.eval()
        with torch.no_grad():
            value = float(measure(m))
        m.train(was_training)
        return value

    if measure is not None:
        if controller_state is not None:
            controller = RateController.from_state(controller_state)
        else:
            controller = RateController(RateControl(), signal(model), mode=cfg.rate_target)
            _log_json(log_path, {"event": "rate_target", "step": step, **controller.state_dict()})
            log(f"[{cfg.name}] rate target ({cfg.rate_target}): {controller.target:.6g}")
    model.train()
    last_ckpt = elapsed
    window: list[tuple[float, float, float, float]] = []
    aware_window: list[float] = []
    t_prev = time.monotonic()
    while budget_left():
        lr = learning_rate(cfg, step, elapsed)
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        opt.zero_grad()
        aux_opt.zero_grad()
        if aware.active:
            xs, ms = dataset.sample_masked(rng, cfg.batch_size, cfg.patch)
            x, mask = torch.from_numpy(xs).to(device), torch.from_numpy(ms).to(device)
            pred = model(x)
            out = aware_loss(criterion(pred, x), pred, x, mask, cfg.lambda_, aware)
            aware_window.append(float(out["aware"].item()))
        else:
            x = torch.from_numpy(dataset.sample(rng, cfg.batch_size, cfg.patch)).to(device)
            out = criterion(model(x), x)
        if controller is not None:
            out["loss"] = out["loss"] + (controller.mu - 1.0) * out["bpp_loss"]
        out["loss"].backward()
        if cfg.clip_max_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_max_norm)
        opt.step()
        aux = model.aux_loss()
        aux.backward()
        aux_opt.step()
        step += 1
        now = time.monotonic()
        elapsed += now - t_prev
        t_prev = now
        window.append((out["loss"].item(), out["bpp_loss"].item(), out["mse_loss"].item(), aux.item()))
        if not math.isfinite(window[-1][0]):
            raise FloatingPointError(f"[{cfg.name}] loss is not finite at step {step}; lower --lr")
        if controller is not None and step % controller.every == 0:
            bits = signal(model)
            controller.update(bits)
            rec = {"event": "rate", "step": step, "probe_ratio": round(bits / controller.target, 5)}
            rec.update(ratio_ema=round(controller.ratio_ema, 5), mu=round(controller.mu, 5))
            _log_json(log_path, rec)
        if step % cfg.log_every == 0:
            loss, bpp, mse, auxv = (float(np.mean(c)) for c in zip(*window, strict=True))
            window.clear()
            psnr = 10 * math.log10(1 / max(mse, 1e-12))
            rec = {
                "step": step,
                "elapsed_s": round(elapsed, 1),
                "lr": lr,
                "loss": loss,
                "bpp": bpp,
                "psnr": psnr,
                "aux": auxv,
            }
            if aware_window:
                rec["aware"] = float(np.mean(aware_window))
                aware_window.clear()
            if controller is not None:
                rec["mu"], rec["probe_ratio_ema"] = controller.mu, controller.ratio_ema
            _log_json(log_path, rec)
            log(
                f"[{cfg.name}] step {step} {elapsed / 60:.1f} min lr {lr:.2e} loss {loss:.4f} "
                f"bpp {bpp:.3f} psnr {psnr:.2f} aux {auxv:.1f}"
                + (f" aware {rec['aware']:.5f}" if "aware" in rec else "")
                + (
                    f" mu {controller.mu:.3f} probe {controller.ratio_ema:.4f}"
                    if controller is not None and controller.ratio_ema is not None
                    else ""
                )
            )
        if elapsed - last_ckpt >= cfg.checkpoint_every_s:
            checkpoint()
            last_ckpt = elapsed
            t_prev = time.monotonic()  # checkpoint/monitor time is not training time
    return checkpoint(final=True)


def _log_json(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def settle_quantiles(model, steps: int = 4000, lr: float = 5e-2) -> tuple[float, float]:
    """Fit the entropy bottleneck's quantiles to its (now fixed) learned densities.

    ``update()`` builds the rANS tables over [lower, upper] quantile and rounds latents around the
    median, all taken from ``quantiles``; in CompressAI's long trainings the aux loss converges on
    the way, in our short CPU runs it does not (it starts near 8000). The aux loss depends on the
    quantiles and the density only, not on images, so a few thousand steps on it alone are cheap
    and change nothing else. Returns the aux loss before and after."""
    import torch

    params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 100)
    before = model.aux_loss().item()
    for _ in range(steps):
        opt.zero_grad()
        loss = model.aux_loss()
        loss.backward()
        opt.step()
        sched.step()
    return before, model.aux_loss().item()


def export_weights(
    checkpoint: Path, out: Path, half: bool = True, settle_steps: int = 4000
) -> dict[str, Any]:
    """Checkpoint → shippable state dict: ``update(force=True)`` fills the entropy coder's CDF
    tables, then the transform weights are stored as fp16 (``half``) while the entropy bottleneck
    (quantiles, density parameters, integer CDF buffers) stays exact, so encoder and decoder share
    bit-identical tables. Keys are those of ``compressai.zoo.<arch>(quality=q)``; loading casts
    fp16 back to fp32 (``load_state_dict`` copies into the fp32 parameters)."""

    state = load_checkpoint(checkpoint)
    cfg = TrainConfig(**state["config"])
    model = build_model(cfg.arch, cfg.quality)
    model.load_state_dict(state["model"])
    aux_before, aux_after = settle_quantiles(model, steps=settle_steps)
    model.update(force=True)
    sd = model.state_dict()
    if half:
        sd = {
            k: (v.half() if v.is_floating_point() and not k.startswith("entropy_bottleneck") else v)
            for k, v in sd.items()
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_atomic(sd, out)
    meta = {
        "arch": cfg.arch,
        "quality": cfg.quality,
        "lambda": cfg.lambda_,
        "metric": "mse",
        "aware_term": cfg.aware_term,
        "aware_lambda": cfg.aware_lambda,
        "rate_target": cfg.rate_target,
        "rate_controller": state.get("rate_controller"),
        "steps": state["step"],
        "train_minutes": round(state["elapsed_s"] / 60, 1),
        "final": state.get("final", False),
        "batch_size": cfg.batch_size,
        "patch": cfg.patch,
        "lr": cfg.lr,
        "fp16_transforms": half,
        "aux_loss_before_settle": round(aux_before, 4),
        "aux_loss_after_settle": round(aux_after, 4),
        "file": out.name,
    }
    from miscomp.io import atomic_write_text

    atomic_write_text(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return meta
