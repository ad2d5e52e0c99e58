"""File formats: arrays and rows turned into bytes, with no knowledge of results.

:mod:`core.formats.png` (kseg's indexed-PNG writer), :mod:`core.formats.geotiff` (label and
RGBA GeoTIFFs), :mod:`core.formats.vectors` (polygons: GeoJSON, GeoPackage),
:mod:`core.formats.tables` (the one ``areas.csv``) and :mod:`core.formats.files` (atomic
writes). Results and outputs write through these.
"""
