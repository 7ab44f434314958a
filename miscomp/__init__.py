"""miscomp: find miscompressions, places where a lossy image codec changed what an image means."""

__version__ = "0.1.0"
