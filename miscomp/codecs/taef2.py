"""``taef2``: a latent codec built on TAEF2, the tiny autoencoder of FLUX.2's latent space.

TAEF2 (github.com/madebyollin/taesd, MIT) maps an RGB image to 32 latent channels at 1/8
resolution. It was trained as a fast preview decoder, not as a codec, so we add what a codec needs:
uniform quantisation of the latents to ``2**bits`` levels (on TAESD's own [0, 1] latent scale,
``latent / 6 + 0.5``), and real entropy coding of the symbols: one empirical histogram per channel,
sent in the header, drives CompressAI's rANS coder. bpp counts every byte, tables included.

The network is written out here from TAESD's published structure (Encoder/Decoder of ``Block``s,
with the GroupNorm "midblocks" of the flux_2 variant), so only the state dicts are loaded.

Bitstream (little-endian)::

    magic "MTAE" | version u8 | bits u8 | H u32 | W u32 | C u8 | h u16 | w u16
    | table bytes u32 | crc32(all other bytes) u32 | zlib(tables) | rANS payload

tables: entry width u8 (1 or 2), then per channel: lowest symbol u8 | highest symbol u8
| frequencies (u8 or u16) × (highest - lowest + 1)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

import numpy as np

from miscomp import weights as W
from miscomp.codecs import base as B
from miscomp.codecs.base import CODECS, Codec
from miscomp.errors import CodecError, require

MAGIC = b"MTAE"
VERSION = 1
LATENT_CHANNELS = 32
SCALE = 8  # spatial downsampling of the encoder
LATENT_MAGNITUDE, LATENT_SHIFT = 3.0, 0.5  # TAESD's latent scaling: raw / (2·3) + 0.5 → [0, 1]
FREQ_BITS = 12  # histogram precision sent in the header; rANS itself runs at 16 bits
_HEADER = struct.Struct("<4sBBIIBHHII")
BAND_VALUES = 1 << 24  # float64 unfold per convolution band: 128 MB (BandedConv2d)
UPSTREAM = "https://github.com/madebyollin/taesd/raw/main"


def weight_specs() -> dict[str, W.WeightsSpec]:
    return {
        part: W.WeightsSpec(
            name=f"TAEF2 {part}",
            filename=f"taef2_{part}.pth",
            setting="taef2_dir",
            flag="taef2:weights_dir=DIR (CLI: --codec taef2:weights_dir=DIR)",
            url=f"{UPSTREAM}/taef2_{part}.pth",
            cache_subdir="taef2",
        )
        for part in ("encoder", "decoder")
    }


@CODECS.register("taef2", family="latent", needs_weights=True)
@dataclass
class TAEF2(Codec):
    """TAEF2 latents, uniformly quantised to 2**bits levels and rANS-coded with per-channel tables."""

    bits: int = 4
    weights_dir: str = ""
    download: bool = True  # False: only local weights; the bundled default run never downloads
    device: str = "cpu"  # a torch device; not in params(): where it runs is not what it codes
    precision: str = B.DEFAULT_PRECISION  # float64: the same symbols and pixels on every CPU (base.py)
    _paths: dict[str, W.ResolvedWeights] = field(default_factory=dict, init=False, repr=False)
    _nets: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    name: ClassVar[str] = "taef2"
    bitstream_suffix: ClassVar[str] = ".mtae"

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 8:
            raise CodecError(f"taef2: bits must be an integer in [1, 8], got {self.bits!r}")
        B.check_precision("taef2", self.precision)
        self._paths = {
            part: W.resolve(spec, self.weights_dir or None, download=self.download)
            for part, spec in weight_specs().items()
        }

    def params(self) -> dict[str, Any]:
        # weights_dir says where, not what: the sha256 goes to info()
        return {"bits": self.bits, **B.precision_params(self.precision)}

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"weights_{part}": r.info() for part, r in self._paths.items()}
        return {**out, "precision": self.precision}

    def net(self, part: str) -> Any:
        if part not in self._nets:
            dtype = getattr(_torch(), self.precision)
            self._nets[part] = load_network(part, self._paths[part]).to(self.device, dtype)
        return self._nets[part]

    @property
    def levels(self) -> int:
        return 2**self.bits

    def compress(self, rgb: np.ndarray) -> bytes:
        torch = _torch()
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise CodecError(f"taef2: expected an H×W×3 uint8 image, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        # Edge padding to a multiple of 8: zeros would add a dark border the latents must code.
        padded = np.pad(rgb, ((0, -h % SCALE), (0, -w % SCALE), (0, 0)), mode="edge")
        x = torch.from_numpy(padded).permute(2, 0, 1)[None].to(getattr(torch, self.precision))
        x = x.div_(255).to(self.device)
        with torch.no_grad():
            latents = self.net("encoder")(x)[0].cpu()
        scaled = latents.div(2 * LATENT_MAGNITUDE).add(LATENT_SHIFT).clamp(0, 1)
        symbols = scaled.mul(self.levels - 1).round().to(torch.int32).numpy()
        tables, payload = encode_symbols(symbols)
        packed = zlib.compress(tables, 9)
        c, lh, lw = symbols.shape
        fields = _HEADER.pack(MAGIC, VERSION, self.bits, h, w, c, lh, lw, len(packed), 0)[:-4]
        crc = zlib.crc32(packed + payload, zlib.crc32(fields))  # covers the header too
        return fields + struct.pack("<I", crc) + packed + payload

    def decompress(self, data: bytes) -> np.ndarray:
        torch = _torch()
        h, w, symbols = self._parse(data)
        scaled = torch.from_numpy(symbols.astype(self.precision) / (self.levels - 1))
        latents = scaled.sub(LATENT_SHIFT).mul(2 * LATENT_MAGNITUDE)[None].to(self.device)
        with torch.no_grad():
            out = self.net("decoder")(latents)[0, :, :h, :w]
        return B.to_pixels(out)

    def _parse(self, data: bytes) -> tuple[int, int, np.ndarray]:
        bad = "taef2: bad bitstream"
        if len(data) < _HEADER.size:
            raise CodecError(f"{bad}: header truncated ({len(data)} bytes)")
        magic, version, bits, h, w, c, lh, lw, n_tables, crc = _HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise CodecError(f"{bad}: magic {magic!r} is not {MAGIC!r}")
        if version != VERSION:
            raise CodecError(f"{bad}: version {version}, this reader knows {VERSION}")
        if bits != self.bits:
            raise CodecError(f"{bad}: made with bits={bits}, this codec has bits={self.bits}")
        if c != LATENT_CHANNELS or (lh, lw) != (-(-h // SCALE), -(-w // SCALE)) or h == 0 or w == 0:
            raise CodecError(f"{bad}: latent shape {c}×{lh}×{lw} does not fit image {h}×{w}")
        body = data[_HEADER.size :]
        if len(body) < n_tables or zlib.crc32(body, zlib.crc32(data[: _HEADER.size - 4])) != crc:
            raise CodecError(f"{bad}: checksum mismatch (truncated or corrupted data)")
        try:
            tables = zlib.decompress(body[:n_tables])
            symbols = decode_symbols(tables, body[n_tables:], (c, lh, lw), self.levels)
        except (zlib.error, struct.error, ValueError) as err:
            raise CodecError(f"{bad}: {err}") from err
        return h, w, symbols


# -- entropy coding ---------------------------------------------------------------------------------


def encode_symbols(symbols: np.ndarray) -> tuple[bytes, bytes]:
    """Per-channel histograms (the tables) and the rANS string of ``symbols`` (C×h×w ints)."""
    ans = require("compressai.ans", "neural")
    channels = symbols.reshape(symbols.shape[0], -1)
    # Exact counts when a channel is small (small images), else 12-bit precision: either way each
    # entry fits 2 bytes, and 1 byte when every frequency does, which halves small images' tables.
    total = min(channels.shape[1], 1 << FREQ_BITS)
    ranges = [(int(ch.min()), int(ch.max())) for ch in channels]
    hists = [
        _rescale(np.bincount(ch - lo, minlength=hi - lo + 1), total)
        for ch, (lo, hi) in zip(channels, ranges, strict=True)
    ]
    width = 1 if max(int(f.max()) for f in hists) < 256 else 2
    tables, cdfs, offsets = bytearray([width]), [], []
    for (lo, hi), freqs in zip(ranges, hists, strict=True):
        tables += struct.pack(f"<BB{len(freqs)}{'BH'[width - 1]}", lo, hi, *freqs.tolist())
        cdfs.append(_cdf(freqs))
        offsets.append(lo)
    flat = symbols.reshape(-1).tolist()
    indexes = np.repeat(np.arange(symbols.shape[0]), symbols[0].size).tolist()
    payload = ans.RansEncoder().encode_with_indexes(flat, indexes, cdfs, [len(c) for c in cdfs], offsets)
    return bytes(tables), payload


def decode_symbols(tables: bytes, payload: bytes, shape: tuple[int, int, int], levels: int) -> np.ndarray:
    ans = require("compressai.ans", "neural")
    width, pos = tables[0], 1
    if width not in (1, 2):
        raise ValueError(f"table entry width {width}")
    cdfs, offsets = [], []
    for _ in range(shape[0]):
        lo, hi = struct.unpack_from("<BB", tables, pos)
        if not lo <= hi < levels:
            raise ValueError(f"symbol range [{lo}, {hi}] outside 0..{levels - 1}")
        fmt = f"<{hi - lo + 1}{'BH'[width - 1]}"
        freqs = np.array(struct.unpack_from(fmt, tables, pos + 2), dtype=np.int64)
        if (freqs <= 0).any():
            raise ValueError("zero frequency in a table")
        pos += 2 + struct.calcsize(fmt)
        cdfs.append(_cdf(freqs))
        offsets.append(lo)
    if pos != len(tables):
        raise ValueError(f"{len(tables) - pos} unexpected bytes after the tables")
    n = shape[1] * shape[2]
    indexes = np.repeat(np.arange(shape[0]), n).tolist()
    decoded = ans.RansDecoder().decode_with_indexes(payload, indexes, cdfs, [len(c) for c in cdfs], offsets)
    return np.asarray(decoded, dtype=np.int32).reshape(shape)


def _rescale(counts: np.ndarray, total: int) -> np.ndarray:
    """Counts → frequencies summing to about ``total`` (exact counts when total is their sum),
    every symbol at least 1.

    Symbols between the lowest and highest that never occur keep a frequency of 1 too: the table
    stays a dense range, and that costs far less than a sparse encoding of it would save."""
    if counts.sum() == total:
        return np.maximum(1, counts).astype(np.int64)
    return np.maximum(1, np.round(counts * (total / counts.sum()))).astype(np.int64)


def _cdf(freqs: np.ndarray) -> list[int]:
    """Integer-only 16-bit CDF for compressai's rANS (identical on every machine), with the extra
    escape symbol rANS requires at the end (never used: every symbol is inside the table's range)."""
    full = np.append(freqs, 1).astype(np.int64)
    scaled = np.maximum(1, full * (1 << 16) // full.sum())
    scaled[np.argmax(scaled)] += (1 << 16) - scaled.sum()  # exact total; the largest absorbs the rest
    return [0, *np.cumsum(scaled).tolist()]


# -- the network --------------------------------------------------------------------------------------


def load_network(part: str, resolved: W.ResolvedWeights) -> Any:
    torch = _torch()
    net = _architecture()[part]()
    try:
        state = torch.load(resolved.path, map_location="cpu", weights_only=True)
        # The upstream files are fp16; the codec runs them in float64 (or float32): CPU fp16
        # convolutions are slow and inexact.
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as err:
        raise CodecError(
            f"{resolved.path}: not a TAEF2 {part} state dict: {str(err).splitlines()[0]}"
        ) from err
    return net.eval()


@cache
def _architecture() -> dict[str, Any]:
    """TAESD's encoder and decoder for the flux_2 variant (32 channels, GroupNorm midblocks);
    built lazily so importing miscomp does not import torch. Layer order gives the state-dict keys."""
    torch = _torch()
    from torch import nn

    class BandedConv2d(nn.Conv2d):
        """A 3×3 convolution that, in float64, runs in bands of output rows. CPU float64 convolutions
        unfold their whole input first (9 × channels × H × W values: 1.8 GB for a 768×512 image at 64
        channels; a float64 build of the test bed was killed for memory at 512×384); bands keep that
        under BAND_VALUES. Same arithmetic per output value, so the same pixels in practice."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            k, s = self.kernel_size[0], self.stride[0]
            h, w = x.shape[-2:]
            w_out = (w + 2 - k) // s + 1
            rows = max(1, BAND_VALUES // (self.in_channels * k * k * w_out))
            h_out = (h + 2 - k) // s + 1
            if x.dtype != torch.float64 or rows >= h_out:
                return super().forward(x)
            padded = nn.functional.pad(x, (1, 1, 1, 1))
            bands = [
                nn.functional.conv2d(
                    padded[:, :, r * s : (min(r + rows, h_out) - 1) * s + k], self.weight, self.bias, s
                )  # fmt: skip
                for r in range(0, h_out, rows)
            ]
            return torch.cat(bands, dim=2)

    def conv(n_in: int, n_out: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
        return BandedConv2d(n_in, n_out, 3, stride=stride, padding=1, bias=bias)

    class Clamp(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x / LATENT_MAGNITUDE) * LATENT_MAGNITUDE  # soft limit to ±3

    class Block(nn.Module):
        """Residual block, 64 → 64 channels (the skip is the identity); ``midblock`` adds the
        flux_2 pooling branch, a GroupNorm bottleneck that sees image-wide statistics."""

        def __init__(self, midblock: bool = False, n: int = 64) -> None:
            super().__init__()
            self.conv = nn.Sequential(conv(n, n), nn.ReLU(), conv(n, n), nn.ReLU(), conv(n, n))
            self.skip = nn.Identity()
            self.fuse = nn.ReLU()
            self.pool = None
            if midblock:
                wide = 4 * n
                self.pool = nn.Sequential(
                    nn.Conv2d(n, wide, 1, bias=False),
                    nn.GroupNorm(4, wide),
                    nn.ReLU(),
                    nn.Conv2d(wide, n, 1, bias=False),
                )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.pool is not None:
                x = x + self.pool(x)
            return self.fuse(self.conv(x) + self.skip(x))

    def encoder() -> nn.Sequential:
        layers: list[nn.Module] = [conv(3, 64), Block()]
        for stage in range(3):  # three stride-2 stages: 1/8 resolution; midblocks in the last
            layers += [conv(64, 64, stride=2, bias=False), *(Block(midblock=stage == 2) for _ in range(3))]
        return nn.Sequential(*layers, conv(64, LATENT_CHANNELS))

    def decoder() -> nn.Sequential:
        layers: list[nn.Module] = [Clamp(), conv(LATENT_CHANNELS, 64), nn.ReLU()]
        for stage in range(3):  # midblocks in the first (lowest-resolution) stage
            layers += [*(Block(midblock=stage == 0) for _ in range(3)), nn.Upsample(scale_factor=2)]
            layers.append(conv(64, 64, bias=False))
        return nn.Sequential(*layers, Block(), conv(64, 3))

    return {"encoder": encoder, "decoder": decoder}


def _torch():
    from miscomp.threads import apply_threads

    torch = require("torch", "neural")
    apply_threads()  # the run's thread count (MISCOMP_THREADS, 1 by default: see miscomp.threads)
    return torch
