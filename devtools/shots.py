"""Screenshots of every tab of the dashboard, light and dark, on a desktop and a phone.

    PYTHONPATH=$PWD python -m devtools.shots --out shots/ --photo big.jpg [--port 8560]

Starts ``streamlit run streamlit_app.py`` (:func:`devtools.browser.streamlit_server`),
uploads `--photo` (e.g. a 12 MP JPEG), opens the bundled GeoTIFF sample, and saves a
full-page PNG of each tab (and of the Understand k-means panels) at 1440 × 900 and
390 × 844 in both themes, then the Collection page. Every request the browser makes that
does not go to the server, and every response of 400 or more, is printed and written to
``network.txt``: the page must need nothing but its server.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from devtools.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NetworkLog,
    full_page_screenshot,
    no_exception,
    streamlit_server,
    wait_until_idle,
)

TIMEOUT_MS = 300_000
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
TABS = ["Segmentation", "Classes", "Clusters", "Colour space", "Choosing k", "Understand k-means"]
#: Panels of Understand k-means shot besides the default (the sweep): name -> button text.
PANELS = {"engines": "Engines side by side", "steps": "Step by step"}
UPLOAD_URL = "?image=Upload%20your%20own%E2%80%A6"
SCENE_URL = "?image=Satellite%20scene%20(GeoTIFF%2C%204%20bands)"


def _settle(page) -> None:
    wait_until_idle(page, TIMEOUT_MS)
    page.wait_for_timeout(800)
    wait_until_idle(page, TIMEOUT_MS)


def _tab_shots(page, out: Path, name: str) -> None:
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        _settle(page)
        if tab == "Colour space":
            page.wait_for_selector(".js-plotly-plot .main-svg")
        if tab == "Choosing k":
            page.wait_for_selector(".js-plotly-plot .main-svg")
        _settle(page)
        if tab == "Clusters":  # the table's toolbar shows: it must cover nothing
            page.locator("[data-testid='stDataFrame']").first.hover()
            page.wait_for_timeout(500)
        assert no_exception(page), f"{name}: exception on {tab}"
        full_page_screenshot(page, out / f"{name}_{tab.split()[0].lower()}.png")
    for panel, label in PANELS.items():
        buttons = page.locator("[data-testid='stButtonGroup'] button")
        buttons.filter(has_text=label).first.click()
        _settle(page)
        if panel == "engines":
            page.get_by_text("Run the comparison").click()
            page.wait_for_selector("[data-testid='stDataFrame']")
            _settle(page)
        assert no_exception(page), f"{name}: exception on panel {panel}"
        full_page_screenshot(page, out / f"{name}_explore_{panel}.png")


def run(
    out: Path,
    photo: Path,
    port: int | None,
    only: set[str] | None,
    collection: list[Path] | None = None,
) -> list[str]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with streamlit_server(out / "server.log", port=port) as server:
        log = NetworkLog(server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                for size, (width, height) in SIZES.items():
                    for theme in ("light", "dark"):
                        for source in ("photo", "geotiff"):
                            name = f"{source}_{size}_{theme}"
                            if only and not any(part in name for part in only):
                                continue
                            context = browser.new_context(
                                viewport={"width": width, "height": height},
                                color_scheme=theme,
                                device_scale_factor=1,
                            )
                            page = context.new_page()
                            page.set_default_timeout(TIMEOUT_MS)
                            log.watch(page)
                            if source == "photo":
                                page.goto(server + "/" + UPLOAD_URL, timeout=TIMEOUT_MS)
                                chooser = page.locator(
                                    "[data-testid='stFileUploaderDropzone'] input[type=file]"
                                )
                                chooser.wait_for(state="attached")
                                chooser.set_input_files(str(photo))
                                page.get_by_text("Segmented: k = 6").wait_for()
                            else:
                                page.goto(server + "/" + SCENE_URL, timeout=TIMEOUT_MS)
                                page.get_by_text("Segmented: k = 6").wait_for()
                            _settle(page)
                            _tab_shots(page, out, name)
                            print("done", name, flush=True)
                            context.close()
                if collection:
                    for size, (width, height) in SIZES.items():
                        for theme in ("light", "dark"):
                            name = f"collection_{size}_{theme}"
                            if only and not any(part in name for part in only):
                                continue
                            context = browser.new_context(
                                viewport={"width": width, "height": height}, color_scheme=theme
                            )
                            page = context.new_page()
                            page.set_default_timeout(TIMEOUT_MS)
                            log.watch(page)
                            page.goto(server + "/collection", timeout=TIMEOUT_MS)
                            _settle(page)
                            chooser = page.locator(
                                "[data-testid='stFileUploaderDropzone'] input[type=file]"
                            ).first
                            chooser.set_input_files([str(p) for p in collection])
                            page.get_by_text("Shared palette").wait_for()
                            page.wait_for_selector(".js-plotly-plot .main-svg")
                            _settle(page)
                            full_page_screenshot(page, out / f"{name}.png")
                            print("done", name, flush=True)
                            context.close()
            finally:
                browser.close()
        problems = sorted(set(log.problems + log.failed))
    (out / "network.txt").write_text("\n".join(problems) + "\n")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--photo", type=Path, required=True, help="the photo to upload")
    parser.add_argument("--port", type=int, default=None, help="server port (default: free)")
    parser.add_argument(
        "--only", nargs="*", default=None, help="only shots whose name contains one of these"
    )
    parser.add_argument(
        "--collection", type=Path, nargs="*", default=None, help="files for the Collection page"
    )
    args = parser.parse_args()
    problems = run(
        args.out, args.photo, args.port, set(args.only) if args.only else None, args.collection
    )
    for problem in problems:
        print(problem)
    print(f"{len(problems)} network problem(s)")


if __name__ == "__main__":
    main()
