"""Explore: many fits compared — the elbow curve, a sweep across k, k-means step by step, engines
side by side, and what a palette costs as a PNG."""
