"""Forensic follow-through: provenance tags (C2PA / XMP), learned-codec trace detection, and the
impact of compression on what a machine reader reads."""
