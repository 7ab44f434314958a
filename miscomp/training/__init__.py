"""Training our own small CompressAI codecs on photos available offline (see models/README.md)."""
