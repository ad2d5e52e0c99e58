"""Features: pixels turned into the points k-means clusters.

:mod:`core.features.colorspaces` (the table of colour spaces and their axes),
:mod:`core.features.colortable` (distinct colours with their counts),
:mod:`core.features.texture` (Leung–Malik texture) and :mod:`core.features.pixels`
(colour + position + texture per pixel).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.features.pixels import DEFAULT_TEXTURE_COMPONENTS, pixel_features


def __getattr__(name: str) -> object:
    # The README documents ``core.features.pixel_features``: the package gives it on first use,
    # so importing one of its modules (colour spaces) does not load the texture code.
    if name in {"pixel_features", "DEFAULT_TEXTURE_COMPONENTS"}:
        from core.features import pixels

        return getattr(pixels, name)
    raise AttributeError(f"module 'core.features' has no attribute {name!r}")


__all__ = ["DEFAULT_TEXTURE_COMPONENTS", "pixel_features"]
