"""Outputs: results turned into files and figures.

:mod:`core.formats.png` (kseg's indexed-PNG writer), :mod:`core.outputs.export` (images,
masks, palettes, recipes, ZIPs), :mod:`core.outputs.previews` (thumbnails for the page) and
:mod:`core.outputs.figures` (Plotly figures).
"""
