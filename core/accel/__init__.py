"""Compiled kernels (numba), loaded on first use: the ground floor every layer may call.

:mod:`core.accel.compiled` decides when the kernels are worth loading and holds the colour
engine's kernels' entry points; :mod:`core.accel.compiled_nd` holds the N-d engine's;
:mod:`core.accel.kernels` is the numba code itself, imported only when a kernel first runs.
"""
