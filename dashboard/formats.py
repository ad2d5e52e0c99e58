"""How every page writes numbers and counts: one place, so the pages agree.

Shares are ``42.6 %`` everywhere (cards, legends, tables, tooltips), counts agree with
their noun (``1 iteration``, ``3 iterations``), and metric tiles get numbers short enough
to fit them on a phone and on a desktop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.outputs.export import compact_number

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")

#: ``st.column_config`` number format of a share column holding percentages (0–100).
SHARE_FORMAT = "%.1f %%"


def metric_number(value: float) -> str:
    """A number short enough for a metric tile: the CLI's compact form (``3,511``,
    ``36.6 k``) below a million, then three digits and a power of ten (``1.59 × 10⁹``;
    ``1,586.3 M`` was cut to ``1,586.…`` in a tile on a 1440 px screen).

    Examples
    --------
    >>> metric_number(3511.4), metric_number(36600), metric_number(1_586_300_000)
    ('3,511', '36.6 k', '1.59 × 10⁹')
    """
    if abs(value) < 1e6:
        return compact_number(value)
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def percent(share: float) -> str:
    """A share (0–1) as every page writes it.

    Examples
    --------
    >>> percent(0.4261), percent(1.0)
    ('42.6 %', '100.0 %')
    """
    return f"{100 * share:.1f} %"


def plural(n: int, word: str, words: str | None = None) -> str:
    """`n` and its noun, which agree (`words`: the plural when it is not `word` + s).

    Examples
    --------
    >>> plural(1, "iteration"), plural(3, "Lloyd iteration"), plural(2, "image")
    ('1 iteration', '3 Lloyd iterations', '2 images')
    """
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def wcss_label(space_name: str) -> str:
    """WCSS with its unit: squared distances in the colour space `space_name` (a display
    name, ``"CIELAB"``).

    Examples
    --------
    >>> wcss_label("CIELAB")
    'WCSS (CIELAB units²)'
    """
    return f"WCSS ({space_name} units²)"


def statistics_by_class(
    statistics: Iterable[dict[str, Any]], names: Sequence[str]
) -> list[dict[str, Any]]:
    """Per-class statistics (a long table: class, feature, pixels, mean, std, as from
    :meth:`core.RasterSegmentation.class_statistics`) pivoted to one row per class.

    Returns
    -------
    list of dict
        One row per class: ``class``, ``name`` (from `names`), ``pixels``, then
        ``"<feature> mean"`` and ``"<feature> std"`` for every feature in the order given
        (None for an empty class).

    Examples
    --------
    >>> long = [{"class": 0, "feature": "nir", "pixels": 2, "mean": 20.0, "std": 10.0},
    ...         {"class": 0, "feature": "NDVI", "pixels": 2, "mean": 0.5, "std": 0.1}]
    >>> statistics_by_class(long, ["water"])
    [{'class': 0, 'name': 'water', 'pixels': 2, 'nir mean': 20.0, 'nir std': 10.0, \
'NDVI mean': 0.5, 'NDVI std': 0.1}]
    """
    rows: dict[int, dict[str, Any]] = {}
    for entry in statistics:
        c = int(entry["class"])
        row = rows.setdefault(c, {"class": c, "name": names[c], "pixels": entry["pixels"]})
        row[f"{entry['feature']} mean"] = entry["mean"]
        row[f"{entry['feature']} std"] = entry["std"]
    return [rows[c] for c in sorted(rows)]
