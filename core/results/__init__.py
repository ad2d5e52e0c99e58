"""Results: what a fit gives back — labels, palette, shares, WCSS, masks, the class model.

:mod:`core.results.segmentation` (photos: :func:`core.segment`, :class:`Segmentation`),
:mod:`core.results.raster_segmentation` (rasters: :func:`core.segment_raster`) and
:mod:`core.results.cleanup` (specks merged into the region around them).
"""
