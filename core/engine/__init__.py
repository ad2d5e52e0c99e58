"""The engine: kseg's exact weighted k-means and the peer engines behind one table.

:mod:`core.engine.kmeans` clusters weighted points (distinct colours) exactly;
:mod:`core.engine.kmeans_nd` clusters N-d features (bands, indices);
:mod:`core.engine.engines` is the table of engines ``segment(engine=...)`` dispatches from.
"""
