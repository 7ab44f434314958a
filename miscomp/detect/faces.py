"""Face channel: did a face keep its identity, did one vanish, did one appear?

Per face the original shows, the identity embedding of the same place in the reconstruction is
compared with the original's (dlib's ResNet 128-d face descriptor, the model ``face_recognition``
uses; two photos of one person are < 0.6 apart on LFW, dlib's same-person threshold). A face whose
reconstruction is farther than that has become someone else to the recognizer; a face the
reconstruction no longer shows is *lost*; a face only the reconstruction shows has *appeared*.

An ordinary codec also moves identities at low rate (astronaut: 0.09 at JPEG q50, 0.33 at q10; at q3
the face is no longer found, issue 26). So a finding also needs the classical codec at the pair's
rate (the diff detector's null model, :func:`miscomp.detect.diff.artefacts.null_reconstruction`) to
keep the face: the identity moved beyond the threshold *and* beyond what JPEG at that rate does, or
JPEG keeps a face the codec lost. What the null model also loses is kept as a finding below the
report's score (in the tables, not shown).

Models: the ``face_recognition_models`` package (CC0) through the ``[faces]`` extra, read from its
package folder without importing it (its ``__init__`` imports ``pkg_resources``); dlib's 5-point
aligner, the ResNet descriptor and the HOG detector (or MMOD, ``detector=mmod``). The 68-point
landmark model in the same package is never used: its training data is licensed non-commercial only.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from miscomp.config import defined, tuned
from miscomp.detect.base import DETECTORS, Detector, DetectorUnavailable, PairImages
from miscomp.findings import Category, Finding
from miscomp.geometry import Box

INSTALL_HINT = "pip install 'miscomp[faces]' (dlib-bin, face_recognition_models)"
MODEL_FILES = {
    "aligner": "shape_predictor_5_face_landmarks.dat",
    "recognizer": "dlib_face_recognition_resnet_model_v1.dat",
    "mmod": "mmod_human_face_detector.dat",
}


@dataclass(frozen=True)
class FaceConfig:
    """The face channel's numbers."""

    identity_threshold: float = defined(
        0.6, "dlib's same-person threshold for this descriptor (99.38 % on LFW at 0.6, dlib's model card)"
    )
    beyond_null: float = defined(
        0.1,
        "the identity must move this much more than under JPEG at the pair's rate: 0.1 is the spread of "
        "one face's distances over JPEG encoders at one rate (astronaut q10: 0.33 ± 0.05, issue 26)",
    )
    min_face_score: float = tuned(
        0.3,
        "HOG score of an original's face; benchmarks/faces.py survey of Kodak + plate photos at upsample 1",
        "real faces scored 0.44-2.67, false detections (fences, wheels) 0.02-0.24",
    )
    appear_score: float = defined(
        1.0,
        "a face only the reconstruction shows must be a confident detection (HOG score >= 1.0; the "
        "original is searched down to -0.5 there), so a faint face-like texture is not 'appeared'",
    )
    match_iou: float = defined(
        0.3, "a face found again in the reconstruction overlaps its original box this much"
    )
    upsample_max_side: int = defined(
        1100,
        "HOG finds faces >= 80 px; upsampling once finds 40 px faces and costs 4x, so only on small images",
    )


FACE_CONFIG = FaceConfig()


def model_dir() -> Path:
    """The ``face_recognition_models`` package's model folder, found without importing the package."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable(f"the face models are not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_paths() -> dict[str, Path]:
    folder = model_dir()
    paths = {k: folder / name for k, name in MODEL_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DetectorUnavailable(
            f"face model file(s) missing: {', '.join(missing)}; reinstall: {INSTALL_HINT}"
        )
    return paths


@dataclass(frozen=True)
class Face:
    """A face found in one image: its box, detector score and identity descriptor (128 floats)."""

    box: Box
    score: float
    descriptor: np.ndarray | None = None


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


class FaceModels:
    """dlib's detector, 5-point aligner and ResNet descriptor, loaded once per process."""

    def __init__(self, detector: str = "hog") -> None:
        try:
            import dlib
        except ImportError:
            raise DetectorUnavailable(f"dlib is not installed: {INSTALL_HINT}") from None
        if detector not in ("hog", "mmod"):
            raise ValueError(f"face: detector must be hog or mmod, got {detector!r}")
        self.paths = model_paths()
        self.kind = detector
        self.dlib = dlib
        self.aligner = dlib.shape_predictor(str(self.paths["aligner"]))
        self.recognizer = dlib.face_recognition_model_v1(str(self.paths["recognizer"]))
        self.detector = (
            dlib.get_frontal_face_detector()
            if detector == "hog"
            else dlib.cnn_face_detection_model_v1(str(self.paths["mmod"]))
        )

    def detect(self, rgb: np.ndarray, upsample: int, floor: float) -> list[Face]:
        """Faces scoring at least ``floor`` (HOG: SVM margin; MMOD: its confidence), highest first."""
        img = np.ascontiguousarray(rgb)
        if self.kind == "hog":
            rects, scores, _ = self.detector.run(img, upsample, floor)
            found = list(zip(rects, scores, strict=True))
        else:
            found = [(d.rect, d.confidence) for d in self.detector(img, upsample) if d.confidence >= floor]
        h, w = img.shape[:2]
        faces = []
        for r, s in found:
            box = Box(int(r.left()), int(r.top()), int(r.width()), int(r.height())).clip(w, h)
            if box.w > 0 and box.h > 0:
                faces.append(Face(box, float(s)))
        return sorted(faces, key=lambda f: -f.score)

    def descriptor(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """The identity descriptor of the face in ``box``, aligned on this image's own landmarks."""
        img = np.ascontiguousarray(rgb)
        rect = self.dlib.rectangle(box.x, box.y, box.x + box.w - 1, box.y + box.h - 1)
        shape = self.aligner(img, rect)
        return np.asarray(self.recognizer.compute_face_descriptor(img, shape), dtype=np.float32)

    def info(self) -> dict[str, Any]:
        from miscomp.io import file_sha256

        used = {"aligner", "recognizer"} | ({"mmod"} if self.kind == "mmod" else set())
        return {
            "face_detector": self.kind,
            "models": {
                k: {"path": str(p), "sha256": file_sha256(p)} for k, p in self.paths.items() if k in used
            },
            "dlib": getattr(self.dlib, "__version__", ""),
        }


_MODELS: dict[str, FaceModels] = {}


def load_models(detector: str = "hog") -> FaceModels:
    if detector not in _MODELS:
        _MODELS[detector] = FaceModels(detector)
    return _MODELS[detector]


@DETECTORS.register("face", cost="cheap", needs_model=True, default=True, extra="faces")
class FaceDetector(Detector):
    """Faces that became someone else (beyond 0.6 and beyond JPEG at the rate), vanished or appeared."""

    name: ClassVar[str] = "face"

    def __init__(
        self,
        cache_dir: Path | None = None,
        detector: str = "hog",
        threshold: float = FACE_CONFIG.identity_threshold,
        null: bool = True,
    ) -> None:
        """``detector``: hog (fast, frontal) or mmod (CNN, slower on CPU, more poses). ``null``: compare
        with JPEG at the pair's rate (off: every face beyond ``threshold`` is a finding)."""
        self.models = load_models(detector)
        self.cfg = FACE_CONFIG
        self.threshold = float(threshold)
        self.null = bool(null)
        # The original's faces are the same for every codec: found and described once per content hash.
        self._originals: dict[str, tuple[list[Face], list[Face]]] = {}
        from miscomp.detect.diff.artefacts import NullLadders

        self._ladders = NullLadders()  # the null model's rates of the current original, per tile
        self._timing = {"pairs": 0, "faces": 0, "seconds": 0.0}

    def info(self) -> dict:
        t = self._timing
        return {
            **self.models.info(),
            "threshold": self.threshold,
            "null_model": "jpeg" if self.null else "off",
            "timing": {**t, "seconds": round(t["seconds"], 3),
                       "seconds_per_face": round(t["seconds"] / t["faces"], 3) if t["faces"] else None},
        }  # fmt: skip

    def _upsample(self, shape: tuple[int, ...]) -> int:
        return 1 if max(shape[:2]) <= self.cfg.upsample_max_side else 0

    def original_faces(self, images: PairImages) -> tuple[list[Face], list[Face]]:
        """(faces of the original with descriptors, every weak face-like detection down to -0.5)."""
        key = images.original_sha256
        if key and key in self._originals:
            return self._originals[key]
        orig = images.original
        weak = self.models.detect(orig, self._upsample(orig.shape), -0.5)
        faces = [
            Face(f.box, f.score, self.models.descriptor(orig, f.box))
            for f in weak
            if f.score >= self.cfg.min_face_score
        ]
        if key:
            self._originals[key] = (faces, weak)
        return faces, weak

    def detect_counted(self, images: PairImages) -> tuple[list[Finding], dict[str, int]]:
        t0 = time.process_time()
        faces, weak = self.original_faces(images)
        rec = images.reconstruction
        # Only faces at or above the looser of the two uses below are read (still there: min_face_score
        # − 0.5; appeared: appear_score): a lower floor finds the same ones (weaker detections never
        # suppress stronger ones in the scan's non-maximum suppression) and scores more windows.
        floor = min(self.cfg.min_face_score - 0.5, self.cfg.appear_score)
        rec_faces = self.models.detect(rec, self._upsample(rec.shape), floor)
        null_img: list[np.ndarray | None] = []  # built once, only when a face needs it

        def null() -> np.ndarray | None:
            if not null_img:
                from miscomp.detect.diff.artefacts import null_reconstruction

                null_img.append(
                    null_reconstruction(
                        images.original, images.codec, images.bpp, self._ladders, images.original_sha256
                    )
                    if self.null
                    else None
                )
            return null_img[0]

        findings: list[Finding] = []
        counts = {"faces": len(faces), "faces_changed": 0, "faces_lost": 0, "faces_appeared": 0}
        for face in faces:
            # "Still there" is looser than "a face of the original" (score 0.3 - 0.5): a face the codec
            # only weakened is not lost.
            found = [
                r
                for r in rec_faces
                if r.score >= self.cfg.min_face_score - 0.5 and r.box.iou(face.box) >= self.cfg.match_iou
            ]
            distance = identity_distance(face.descriptor, self.models.descriptor(rec, face.box))
            f = self._judge(images, face, distance, bool(found), null)
            if f is not None:
                findings.append(f)
                counts["faces_lost" if f.details["kind"] == "lost" else "faces_changed"] += f.score >= 0.5
        for r in rec_faces:
            if r.score >= self.cfg.appear_score and not any(
                w.box.iou(r.box) >= self.cfg.match_iou for w in weak
            ):
                findings.append(self._appeared(images, r))
                counts["faces_appeared"] += 1
        self._timing["pairs"] += 1
        self._timing["faces"] += len(faces)
        self._timing["seconds"] += time.process_time() - t0
        return findings, counts

    def detect(self, images: PairImages) -> list[Finding]:
        return self.detect_counted(images)[0]

    def _judge(self, images: PairImages, face: Face, distance: float, found: bool, null) -> Finding | None:
        """A finding for one original face, or None when it kept its identity (or the null model
        moves it as far)."""
        if found and distance < self.threshold:
            return None
        ref = null()
        null_distance = (
            None if ref is None else identity_distance(face.descriptor, self.models.descriptor(ref, face.box))
        )
        details: dict[str, Any] = {
            "identity_distance": round(distance, 4),
            "null_distance": None if null_distance is None else round(null_distance, 4),
            "threshold": self.threshold, "face_score": round(face.score, 3),
        }  # fmt: skip
        null_txt = (
            "no null model (rate unknown)"
            if null_distance is None
            else f"JPEG at this rate {null_distance:.2f}"
        )
        if not found:
            null_keeps = ref is not None and any(
                n.box.iou(face.box) >= self.cfg.match_iou
                for n in self.models.detect(ref, self._upsample(ref.shape), self.cfg.min_face_score - 0.5)
            )
            details.update(kind="lost", null_keeps_face=null_keeps)
            # A face JPEG at this rate also loses is an ordinary artefact: kept below the report's score.
            score = 0.9 if (null_keeps or ref is None) else 0.45
            why = (
                "JPEG at this rate keeps it"
                if null_keeps
                else ("the null model loses it too" if ref is not None else null_txt)
            )
            evidence = (
                f"face lost: none found where the original has one (identity distance {distance:.2f}; {why})"
            )
            return self._finding(images, face.box, score, evidence, details)
        if null_distance is not None and distance < null_distance + self.cfg.beyond_null:
            return None
        details["kind"] = "identity"
        score = 0.9 + 0.1 * min(1.0, (distance - self.threshold) / 0.4)
        evidence = f"face identity changed: distance {distance:.2f} ≥ {self.threshold:.2f} ({null_txt})"
        return self._finding(images, face.box, score, evidence, details)

    def _appeared(self, images: PairImages, face: Face) -> Finding:
        details = {"kind": "appeared", "face_score": round(face.score, 3)}
        evidence = (
            f"face appeared: the reconstruction shows a face (score {face.score:.2f}) the original has not"
        )
        return self._finding(images, face.box, 0.8, evidence, details)

    def _finding(self, images: PairImages, box: Box, score: float, evidence: str, details: dict) -> Finding:
        category, text = _classify(images, box)
        return Finding(
            pair_id=images.pair_id, detector=self.name, x=box.x, y=box.y, w=box.w, h=box.h,
            category=category, symbol=False, score=round(min(1.0, score), 4),
            evidence=evidence + text, details=details,
        )  # fmt: skip


def _classify(images: PairImages, box: Box) -> tuple[str, str]:
    """The region's category from its pixels, as every region detector decides it."""
    from miscomp.taxonomy import classify_box

    try:
        category, _conf, text = classify_box(images.original, images.reconstruction, box)
    except ValueError:  # a region too small for the taxonomy's features
        return Category.SHAPE.value, ""
    return category.value, f"; {text}"
