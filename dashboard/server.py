"""The dashboard's server: what it does once, before it answers its first request.

``streamlit run streamlit_app.py`` finds ``app`` in that file, an ``st.App`` whose
:func:`lifespan` runs :func:`prepare` before the server accepts a connection: it imports
the page's modules and computes the first page (the default sample photo at the default
settings) into the app's caches. A fresh server's first visitor then waits only for the
browser, like every later visitor. bench_dashboard.py, first visit on 2 cores: 2.5–2.9 s
before, 1.5–2.2 s after, for ~0.4 s more before the server is up.

kseg's compiled kernels still load in the background after the first page
(:func:`dashboard.pipeline.warm_up_engine`): loading them here would hold the start for
another second and give the first page nothing (the sample takes the NumPy path in 0.2 s).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

logger = logging.getLogger(__name__)


def prepare() -> float:
    """Import the page and compute its first view into the caches; the seconds it took."""
    started = time.perf_counter()
    from dashboard import app, controls, pipeline  # noqa: F401  (app: every page module)

    pipeline.prepare_first_page(controls.DEFAULT_SAMPLE, controls.Params())
    gc.freeze()  # what the server keeps from now on: out of every collection (see app)
    return time.perf_counter() - started


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """``st.App``'s lifespan: :func:`prepare` (in a thread), then serve.

    A failure here never stops the server: it is logged, and the first visit computes its
    page as any visit would.
    """
    try:
        seconds = await asyncio.to_thread(prepare)
    except Exception:
        logger.exception("kseg could not prepare the first page; visits compute it instead")
    else:
        logger.info("kseg: first page prepared in %.2f s", seconds)
    yield
