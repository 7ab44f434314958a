"""Synthetic data: rendered scenes (``scenes``), small test shapes with one known change each
(``shapes``) and injected ground-truth changes on real codec output (``truth``)."""
