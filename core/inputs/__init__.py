"""Inputs: bytes and paths in, images and rasters out.

:mod:`core.inputs.io` is the one funnel every file goes through (limits, decoding, EXIF);
:mod:`core.inputs.raster` reads GeoTIFFs and other rasters with their georeference;
:mod:`core.inputs.masking` says which pixels count; :mod:`core.inputs.samples` makes and ships
sample images; :mod:`core.inputs.arrays` checks and resizes arrays.
"""
