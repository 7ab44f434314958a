"""CompressAI's learned image codecs (the zoo architectures), with real entropy coding.

``model.compress`` yields rANS strings; we pack them, with everything ``model.decompress`` needs,
into one bitstream, so bpp is counted from bytes on disk and a bitstream decodes on its own.

Bitstream (little-endian)::

    magic "MCAI" | version u8 | arch id u8 | quality u8 | H u32 | W u32 | pad_h u16 | pad_w u16
    | latent ndim u8 | latent dims u16 × ndim | groups u8 | group lengths u32 × groups
    | crc32(all other bytes) u32 | payload = the groups' strings, concatenated

Weights: ``weights=miscomp`` (default) loads our own ``models/<arch>-q<N>-miscomp.pth``;
``weights=aware`` our miscompression-aware fine-tune ``<arch>-q<N>-aware.pth`` (issue 31; where one ships);
``weights=ganlite`` our decoder fine-tuned to draw detail like a GAN codec ``<arch>-q<N>-ganlite.pth``
(issue 31; q1 ships); ``weights=official`` CompressAI's pretrained model (downloaded once into torch hub's
cache); anything else is a path to a checkpoint or state dict.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from miscomp import weights as W
from miscomp.codecs import base as B
from miscomp.codecs.base import CODECS, Codec
from miscomp.errors import CodecError, require

MAGIC = b"MCAI"
VERSION = 1
PAD_MULTIPLE = 64  # the zoo's deepest models downsample 64× (g_a 16× then h_a 4×)
_FIXED = struct.Struct("<4sBBBIIHHB")
ARCHS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor",
         "cheng2020-attn")  # fmt: skip
_TABLE_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")


@dataclass
class CompressAICodec(Codec):
    """Base of the zoo codecs; subclasses only set ``name`` and ``max_quality``."""

    q: int = 1
    metric: str = "mse"
    weights: str = "miscomp"
    device: str = "cpu"  # a torch device; the bitstream does not depend on it (not in params())
    precision: str = B.DEFAULT_PRECISION  # float64: the same symbols and pixels on every CPU (base.py)
    _resolved: W.ResolvedWeights | None = field(default=None, init=False, repr=False)
    _model: Any = field(default=None, init=False, repr=False)
    _tables: str = field(default="", init=False, repr=False)

    name: ClassVar[str]
    max_quality: ClassVar[int] = 8
    bitstream_suffix: ClassVar[str] = ".mcai"

    def __post_init__(self) -> None:
        if not isinstance(self.q, int) or not 1 <= self.q <= self.max_quality:
            raise CodecError(f"{self.name}: q must be an integer in [1, {self.max_quality}], got {self.q!r}")
        if self.metric not in ("mse", "ms-ssim"):
            raise CodecError(f"{self.name}: metric must be 'mse' or 'ms-ssim', got {self.metric!r}")
        B.check_precision(self.name, self.precision)
        self.weights = str(self.weights)
        # Resolve now so a missing file is reported before any image is processed.
        self._resolved = self._resolve_weights()

    def params(self) -> dict[str, Any]:
        return {"q": self.q, "metric": self.metric, "weights": self._weights_label(),
                **B.precision_params(self.precision)}  # fmt: skip

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"arch": self.name, "compressai": require("compressai", "neural").__version__,
                               "precision": self.precision}  # fmt: skip
        if self._resolved is not None:
            out["weights"] = self._resolved.info()
        if self._tables:
            out["entropy_tables"] = self._tables
        return out

    # -- weights --------------------------------------------------------------------------------

    def _weights_label(self) -> str:
        if self.weights in (*W.INHOUSE_VARIANTS, "official"):
            return self.weights
        return Path(self.weights).stem  # a path: keep tags short and filesystem-safe

    def _resolve_weights(self) -> W.ResolvedWeights:
        if self.weights in W.INHOUSE_VARIANTS:
            if self.metric != "mse":
                raise CodecError(f"{self.name}: in-house weights ({self.weights}) are trained for mse only")
            return W.resolve_inhouse(self.name, self.q, self.weights)
        if self.weights == "official":
            return W.resolve(official_spec(self.name, self.metric, self.q), cache=_torch_hub_checkpoints())
        if re.fullmatch(r"[a-z][a-z0-9-]*", self.weights) and not Path(self.weights).exists():
            # a plain word that is no file here is a mistyped variant far more often than a path
            raise W.MissingWeightsError(
                f"weights={self.weights}: no such file, and not one of "
                f"{', '.join((*W.INHOUSE_VARIANTS, 'official'))} (or give weights=PATH to a checkpoint)"
            )
        return W.resolve(
            W.WeightsSpec(
                f"{self.name} q={self.q}",
                Path(self.weights).name,
                "compressai_weights",
                f"{self.name}:weights=PATH",
            ),  # fmt: skip
            self.weights,
        )

    def model(self) -> Any:
        if self._model is None:
            assert self._resolved is not None
            model, self._tables = load_model(self.name, self.q, self.metric, self._resolved.path)
            self._model = model.to(self.device, getattr(_torch(), self.precision))
        return self._model

    # -- coding ---------------------------------------------------------------------------------

    def compress(self, rgb: np.ndarray) -> bytes:
        torch = _torch()
        import torch.nn.functional as F

        h, w = _check_rgb(rgb, self.name)
        pad_h, pad_w = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
        # a writable copy: torch warns on the read-only arrays images arrive as
        x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None]
        x = x.to(getattr(torch, self.precision)).div_(255)
        # Edge replication, not zeros: a black border would cost bits and bleed into the image.
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate").to(self.device)
        with torch.no_grad(), _default_dtype(x.dtype):
            out = self.model().compress(x)
        groups = [_single(s, self.name) for s in out["strings"]]
        shape = [int(d) for d in out["shape"]]
        payload = b"".join(groups)
        header = _FIXED.pack(MAGIC, VERSION, ARCHS.index(self.name), self.q, h, w, pad_h, pad_w, len(shape))
        header += struct.pack(f"<{len(shape)}HB{len(groups)}I", *shape, len(groups), *map(len, groups))
        crc = zlib.crc32(payload, zlib.crc32(header))  # covers the header too
        return header + struct.pack("<I", crc) + payload

    def decompress(self, data: bytes) -> np.ndarray:
        torch = _torch()
        h, w, shape, groups = self._parse(data)
        try:
            with torch.no_grad(), _default_dtype(getattr(torch, self.precision)):
                x_hat = self.model().decompress([[g] for g in groups], shape)["x_hat"]
        except (RuntimeError, ValueError, IndexError) as err:
            raise CodecError(f"{self.name}: cannot decode bitstream: {err}") from err
        return B.to_pixels(x_hat[0, :, :h, :w])

    def _parse(self, data: bytes) -> tuple[int, int, list[int], list[bytes]]:
        bad = f"{self.name}: bad bitstream"
        try:
            magic, version, arch_id, q, h, w, pad_h, pad_w, ndim = _FIXED.unpack_from(data, 0)
            pos = _FIXED.size
            shape = list(struct.unpack_from(f"<{ndim}H", data, pos))
            pos += 2 * ndim
            (n_groups,) = struct.unpack_from("<B", data, pos)
            lengths = struct.unpack_from(f"<{n_groups}I", data, pos + 1)
            pos += 1 + 4 * n_groups
            (crc,) = struct.unpack_from("<I", data, pos)
            pos += 4
        except struct.error as err:
            raise CodecError(f"{bad}: header truncated ({len(data)} bytes)") from err
        if magic != MAGIC:
            raise CodecError(f"{bad}: magic {magic!r} is not {MAGIC!r}")
        if version != VERSION:
            raise CodecError(f"{bad}: version {version}, this reader knows {VERSION}")
        if arch_id >= len(ARCHS) or ARCHS[arch_id] != self.name or q != self.q:
            made = f"{ARCHS[arch_id]} q={q}" if arch_id < len(ARCHS) else f"arch id {arch_id}"
            raise CodecError(f"{bad}: made by {made}, not {self.name} q={self.q}")
        if (pad_h, pad_w) != (-h % PAD_MULTIPLE, -w % PAD_MULTIPLE) or h == 0 or w == 0:
            raise CodecError(f"{bad}: inconsistent size {h}×{w} with padding {pad_h}/{pad_w}")
        payload = data[pos:]
        if len(payload) != sum(lengths):
            raise CodecError(
                f"{bad}: payload is {len(payload)} bytes, header says {sum(lengths)} (truncated?)"
            )
        if zlib.crc32(payload, zlib.crc32(data[: pos - 4])) != crc:
            raise CodecError(f"{bad}: checksum mismatch (corrupted data)")
        groups, start = [], 0
        for n in lengths:
            groups.append(payload[start : start + n])
            start += n
        return h, w, shape, groups


def official_spec(arch: str, metric: str, quality: int) -> W.WeightsSpec:
    """CompressAI's published checkpoint; its file name carries a sha256 prefix (torch hub style)."""
    zoo = require("compressai.zoo.image", "neural")
    try:
        url = zoo.model_urls[arch][metric][quality]
    except KeyError as err:
        raise CodecError(f"{arch}: CompressAI publishes no {metric} model for q={quality}") from err
    filename = url.rsplit("/", 1)[-1]
    match = re.search(r"-([0-9a-f]{8,})\.", filename)
    return W.WeightsSpec(
        name=f"CompressAI {arch} {metric} q={quality}",
        filename=filename,
        setting="compressai_weights",
        flag=f"{arch}:weights=PATH",
        url=url,
        sha256_prefix=match.group(1) if match else "",
    )


def load_model(arch: str, quality: int, metric: str, path: Path) -> tuple[Any, str]:
    """Build ``arch`` from a checkpoint; returns the model (eval; float64 when its tables were
    recomputed, else float32: the caller casts it) and where its entropy tables came from
    ("checkpoint" or "recomputed")."""
    torch = _torch()
    require("compressai", "neural")
    from compressai.zoo import image as zoo
    from compressai.zoo.pretrained import load_pretrained

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CodecError(f"{path}: cannot read checkpoint: {err}") from err
    for key in ("state_dict", "model"):  # CompressAI's train.py and other trainers wrap it
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise CodecError(f"{path}: not a state dict")
    # The in-house weights ship in fp16 to halve their size; the model runs in float32.
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_pretrained(state).items()}
    # A checkpoint saved before model.update() lacks the rANS tables (or holds them empty): take
    # the empty buffers of a fresh model so the load succeeds, then recompute them.
    template = zoo._load_model(arch, metric, quality).state_dict()
    for key, value in template.items():
        if key.rsplit(".", 1)[-1] in _TABLE_BUFFERS + ("scale_table",) and key not in state:
            state[key] = torch.empty_like(value[:0])
    try:
        model = zoo.model_architectures[arch].from_state_dict(state)
    except (KeyError, RuntimeError) as err:
        raise CodecError(f"{path}: not a {arch} checkpoint: {str(err).splitlines()[0]}") from err
    model.eval()
    tables = "checkpoint"
    if any(b.numel() == 0 for n, b in model.named_buffers() if n.rsplit(".", 1)[-1] in _TABLE_BUFFERS):
        # The integer rANS tables come from the float densities: computed in float64, so that a
        # bitstream made on one machine decodes on another (the shipped in-house weights carry them).
        model.double().update(force=True)
        tables = "recomputed"
    return model, tables


@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    """The autoregressive models (mbt2018, cheng2020) make their latent buffers with ``torch.zeros``
    in the default dtype; in float64 that must be float64 too."""
    torch = _torch()
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _torch_hub_checkpoints() -> Path:
    torch = _torch()
    return Path(torch.hub.get_dir()) / "checkpoints"


def _torch():
    from miscomp.threads import apply_threads

    torch = require("torch", "neural")
    apply_threads()  # the run's thread count (MISCOMP_THREADS, 1 by default: see miscomp.threads)
    return torch


def _single(strings: list[bytes], name: str) -> bytes:
    if len(strings) != 1:
        raise CodecError(f"{name}: expected one string per group for a batch of one, got {len(strings)}")
    return strings[0]


def _check_rgb(rgb: np.ndarray, name: str) -> tuple[int, int]:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise CodecError(f"{name}: expected an H×W×3 uint8 image, got {rgb.dtype} {rgb.shape}")
    return rgb.shape[0], rgb.shape[1]


def _register(arch: str, max_quality: int, doc: str) -> None:
    cls = type(
        "".join(p.capitalize() for p in re.split(r"[-_]", arch)),
        (CompressAICodec,),
        {"name": arch, "max_quality": max_quality, "__doc__": doc, "__module__": __name__},
    )
    CODECS.register(arch, family="compressai", needs_weights=True)(cls)


_register("bmshj2018-factorized", 8, "Ballé et al. 2018 factorized prior (CompressAI zoo).")
_register("bmshj2018-hyperprior", 8, "Ballé et al. 2018 scale hyperprior (CompressAI zoo).")
_register("mbt2018-mean", 8, "Minnen et al. 2018 mean-scale hyperprior (CompressAI zoo).")
_register("mbt2018", 8, "Minnen et al. 2018 joint autoregressive + hyperprior (slow: serial decoding).")
_register("cheng2020-anchor", 6, "Cheng et al. 2020 anchor, residual blocks (slow: serial decoding).")
_register("cheng2020-attn", 6, "Cheng et al. 2020 with attention (slow: serial decoding).")
