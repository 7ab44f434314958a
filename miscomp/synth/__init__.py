"""Rendered scenes (``scenes``): the bundled sample images of ``miscomp scan --samples`` and the
training scenes. The evaluation generators live beside the benchmarks (``benchmarks/generators/``),
the test fakes in the root ``testing/`` package."""
