"""Pixels that don't count: segment(mask=...) and core.inputs.masking."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core import open_image, segment
from core.errors import ImageError
from core.inputs.masking import MaskOptions, mask_from_color, resolve_mask

LOGO_COLORS = np.array([[200, 30, 40], [20, 60, 180], [250, 200, 20]])


def logo_rgba(background=(255, 255, 255)) -> np.ndarray:
    """A three-colour logo on a fully transparent background, with a little noise."""
    rgba = np.zeros((60, 80, 4), dtype=np.uint8)
    rgba[:, :, :3] = background
    rows, cols = np.mgrid[0:60, 0:80]
    shapes = [
        (rows - 20) ** 2 + (cols - 20) ** 2 < 12**2,
        (rows > 30) & (rows < 55) & (cols > 10) & (cols < 35),
        (rows > 10) & (rows < 50) & (cols > 50) & (cols < 70),
    ]
    noise = np.random.default_rng(0).integers(-6, 7, (60, 80, 3))
    for shape, color in zip(shapes, LOGO_COLORS, strict=True):
        rgba[shape, :3] = np.clip(color + noise[shape], 0, 255)
        rgba[shape, 3] = 255
    return rgba


def png(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def test_logo_on_transparent_background_gives_the_logos_colours():
    rgba = logo_rgba()
    loaded = open_image(png(rgba))
    seg = segment(loaded, 3)
    opaque = rgba[:, :, 3] > 0
    assert seg.valid is not None and (seg.valid == opaque).all()
    assert (seg.labels[~opaque] == -1).all() and (seg.labels[opaque] >= 0).all()
    assert seg.counts.sum() == opaque.sum()
    np.testing.assert_allclose(seg.shares.sum(), 1.0)
    # Three clusters, one per logo colour; none of them the white background.
    for color in LOGO_COLORS:
        assert np.abs(seg.palette.astype(int) - color).max(axis=1).min() <= 3
    assert not (seg.palette > 240).all(axis=1).any()
    # Without the mask, the background takes a cluster ("white + 2").
    plain = segment(loaded, 3, mask=None)
    assert (plain.palette > 240).all(axis=1).any()


def test_rgba_array_and_mask_alpha():
    rgba = logo_rgba(background=(0, 0, 0))
    seg = segment(rgba, 3, mask="alpha")
    assert (seg.labels[rgba[:, :, 3] == 0] == -1).all()
    assert seg.segmented[0, 0].tolist() == [255, 255, 255]  # shown over white
    with pytest.raises(ValueError, match="mask='alpha' needs an image with an alpha channel"):
        segment(rgba[:, :, :3], 3, mask="alpha")


def test_all_transparent_is_a_clear_error():
    rgba = logo_rgba()
    rgba[:, :, 3] = 0
    with pytest.raises(ImageError, match="Every pixel is transparent or masked out"):
        segment(open_image(png(rgba)), 3)
    with pytest.raises(ImageError, match="nothing to cluster"):
        segment(rgba[:, :, :3], 2, mask=np.zeros((60, 80), bool))


def test_masked_pixels_never_change_the_result(photo):
    rng = np.random.default_rng(1)
    mask = rng.random(photo.shape[:2]) > 0.3
    seg = segment(photo, 5, mask=mask, color_space="lab")
    # Oracle: the pixels that count, alone.
    alone = segment(photo[mask][None], 5, color_space="lab")
    np.testing.assert_array_equal(seg.palette, alone.palette)
    np.testing.assert_array_equal(seg.centers, alone.centers)
    np.testing.assert_array_equal(seg.counts, alone.counts)
    assert seg.wcss == pytest.approx(alone.wcss)
    np.testing.assert_array_equal(seg.labels[mask], alone.labels.ravel())
    # Whatever the other pixels hold.
    scrambled = photo.copy()
    scrambled[~mask] = rng.integers(0, 256, scrambled[~mask].shape)
    again = segment(scrambled, 5, mask=mask, color_space="lab")
    np.testing.assert_array_equal(again.labels, seg.labels)
    for i in range(5):
        assert (seg.cluster_mask(i) <= mask).all()


def test_mask_with_fit_pixels_labels_every_valid_pixel(photo):
    mask = np.ones(photo.shape[:2], bool)
    mask[:, :40] = False
    seg = segment(photo, 4, mask=mask, fit_pixels=2000)
    assert seg.fit_shape[0] == 1 and seg.fit_shape[1] <= 2000
    assert (seg.labels[:, :40] == -1).all() and (seg.labels[:, 40:] >= 0).all()


def test_bad_masks():
    image = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match=r"boolean array of the image's shape \(4, 5\)"):
        segment(image, 1, mask=np.ones((5, 4), bool))
    with pytest.raises(ValueError, match="mask must be one of 'auto', 'alpha'"):
        segment(image, 1, mask="transparent")
    mask = np.zeros((4, 5), bool)
    mask[0, :2] = True
    with pytest.raises(ValueError, match=r"k=3 is more than the number of pixels that count \(2\)"):
        segment(image, 3, mask=mask)
    pixels, valid = resolve_mask(image, np.ones((4, 5), bool))
    assert valid is None and pixels is image


def test_mask_from_color():
    rgb = np.full((3, 4, 3), 255, np.uint8)
    rgb[1, 1] = (250, 252, 255)
    rgb[2, 2] = (10, 20, 30)
    assert mask_from_color(rgb, "#ffffff").sum() == 2
    assert mask_from_color(rgb, "FFFFFF", tolerance=5).sum() == 1
    with pytest.raises(ValueError, match="hex colour"):
        mask_from_color(rgb, "white")


def test_segmented_export_is_transparent_where_pixels_do_not_count():
    from core.outputs import export

    rgba = logo_rgba()
    seg = segment(rgba, 3)
    out = np.asarray(Image.open(io.BytesIO(export.segmented_png(seg))))
    assert out.shape == (60, 80, 4)
    np.testing.assert_array_equal(out[:, :, 3] > 0, rgba[:, :, 3] > 0)
    assert export.segmented_image(segment(rgba[:, :, :3], 3)).shape == (60, 80, 3)
    cut = export.cutout(rgba[:, :, :3].copy(), seg, 0)
    assert (cut[rgba[:, :, 3] == 0, 3] == 0).all()


def test_elbow_and_scatter_leave_masked_pixels_out():
    from core import elbow
    from core.outputs.figures import scatter3d_figure

    rgba = logo_rgba()
    curve = elbow(rgba, range(1, 5))
    alone = elbow(rgba[rgba[:, :, 3] > 0][None, :, :3], range(1, 5))
    np.testing.assert_allclose(curve.wcss, alone.wcss)
    assert curve.wcss[2] < 0.02 * curve.wcss[0]  # three logo colours: flat after k = 3
    seg = segment(rgba, 3)
    figure = scatter3d_figure(seg, rgba[:, :, :3].copy(), max_points=10_000)
    clusters = np.asarray(figure.data[0].customdata)[:, 0].astype(int)  # (cluster, hex)
    assert (clusters >= 0).all()
    assert len(figure.data[0].x) == int((rgba[:, :, 3] > 0).sum())


def test_recipe_says_which_pixels_were_left_out():
    from core.outputs import export

    rgba = logo_rgba()
    recipe = export.recipe(segment(rgba, 3), image_name="logo.png")
    assert recipe["result"]["pixels_left_out"] == int((rgba[:, :, 3] == 0).sum())
    assert "not recorded" in recipe["mask"]["note"]
    assert export.recipe(segment(rgba[:, :, :3], 3))["mask"] is None
    described = export.recipe(segment(rgba, 3), mask=MaskOptions())
    assert described["mask"]["ignore_transparent"] is True
    assert described["command"] == export.recipe(segment(rgba, 3))["command"]


def scan_with_background() -> np.ndarray:
    """Two inks on an off-white, slightly noisy paper, with a transparent corner."""
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[:, :, :3] = np.clip(245 + np.random.default_rng(5).integers(-4, 5, (40, 50, 3)), 0, 255)
    rgba[:, :, 3] = 255
    rgba[5:35, 5:20, :3] = (20, 40, 160)
    rgba[10:30, 25:45, :3] = (180, 30, 30)
    rgba[20:30, 8:14, :3] = (40, 140, 60)
    rgba[:6, 40:, 3] = 0
    return rgba


@pytest.mark.parametrize(
    "options",
    [
        {"ignore_color": "#F5F5F5", "color_tolerance": 6},
        {"mask_file": "inks.png"},
        {"ignore_transparent": False, "ignore_color": "#f5f5f5", "color_tolerance": 6},
        {},
    ],
)
def test_recipe_command_reproduces_a_custom_mask(tmp_path, monkeypatch, options):
    import json
    import shlex

    from core.cli import main
    from core.outputs import export

    rgba = scan_with_background()
    (tmp_path / "scan.png").write_bytes(png(rgba))
    if "mask_file" in options:  # the user's mask lives elsewhere; the recipe names it
        (tmp_path / "elsewhere").mkdir()
        inks = np.where((rgba[:, :, :3] < 200).any(axis=2), 255, 0).astype(np.uint8)
        Image.fromarray(inks).save(tmp_path / "elsewhere" / "inks.png")
        options = {"mask_file": str(tmp_path / "elsewhere" / "inks.png")}
    chosen = MaskOptions(**options)
    loaded = open_image(tmp_path / "scan.png")
    original = segment(loaded.rgb, 3, mask=chosen.valid(loaded), seed=7, n_init=2)
    if options:  # the paper is left out: three clusters, one per ink
        assert original.valid is not None and not (original.palette > 230).all(axis=1).any()
    described = export.recipe(original, image_name="scan.png", mask=chosen)
    words = shlex.split(described["command"])
    if "mask_file" in options:
        assert words[words.index("--mask") + 1] == "inks.png"
        assert "inks.png" in described["mask"]["note"] and "needs" in described["mask"]["note"]
        (tmp_path / "inks.png").write_bytes((tmp_path / "elsewhere" / "inks.png").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main([*words[1:], "-o", "again", "--quiet"]) == 0
    masks = np.stack(
        [
            np.asarray(Image.open(path))
            for path in sorted((tmp_path / "again" / "masks").glob("mask_*.png"))
        ]
    )
    labels = np.where((masks == 255).any(axis=0), np.argmax(masks, axis=0), -1)
    np.testing.assert_array_equal(labels, original.labels)
    again = json.loads((tmp_path / "again" / "recipe.json").read_text())
    assert again["command"] == described["command"]
    assert again["mask"] == described["mask"]


def test_mask_options_valid_and_flags():
    rgba = scan_with_background()
    default = MaskOptions()
    np.testing.assert_array_equal(default.valid(rgba), rgba[:, :, 3] > 0)
    assert default.flags() == [] and not default.is_custom
    assert MaskOptions(ignore_transparent=False).valid(rgba) is None
    paper = MaskOptions(ignore_color="f5f5f5", color_tolerance=6)
    assert paper.ignore_color == "#f5f5f5" and paper.is_custom
    valid = paper.valid(rgba)
    assert valid.sum() == (rgba[:, :, :3] < 200).any(axis=2).sum()
    # At a working size: alpha and colour are taken at that size.
    from core import resize_to_max_pixels

    small = resize_to_max_pixels(rgba[:, :, :3], 500)
    assert paper.valid(rgba, small).shape == small.shape[:2]
    assert MaskOptions(ignore_transparent=False, ignore_color="#000000").flags() == [
        "--no-ignore-transparent",
        "--ignore-color",
        "#000000",
    ]
    with pytest.raises(ValueError, match="hex colour"):
        MaskOptions(ignore_color="white")
    with pytest.raises(ValueError, match="color_tolerance must be a whole number"):
        MaskOptions(ignore_color="#ffffff", color_tolerance=300)


# --- the explore tools take the same mask= as segment --------------------------------


def test_elbow_wcss_is_segments_wcss_for_every_k():
    from core import elbow

    rgba = logo_rgba()
    rgba[5:10, 60:75, :3] = (0, 0, 0)  # a dark mark under the transparent background
    curve = elbow(rgba, range(1, 7), seed=3)
    for k, wcss in zip(curve.ks, curve.wcss, strict=True):
        assert wcss == pytest.approx(segment(rgba, k, seed=3).wcss, rel=1e-9)
    # The background is not seen: three logo colours, so the curve is flat from k = 3; with
    # every pixel, the background (white and the dark mark) needs two more clusters.
    assert curve.wcss[2] < 0.002 * curve.wcss[0]
    plain = elbow(rgba, range(1, 7), seed=3, mask=None)
    assert plain.wcss[2] > 0.1 * plain.wcss[0] and plain.wcss[4] < 0.002 * plain.wcss[0]


def test_sweep_frames_agree_with_segment(photo):
    from core.explore.sweep import sweep, sweep_frames

    mask = np.random.default_rng(2).random(photo.shape[:2]) > 0.4
    results = sweep(photo, [2, 4, 5], mask=mask, seed=1)
    for result in results:
        alone = segment(photo, result.k, mask=mask, seed=1)
        np.testing.assert_array_equal(result.labels, alone.labels)
        np.testing.assert_array_equal(result.palette, alone.palette)
        np.testing.assert_array_equal(result.segmented, alone.segmented)
        np.testing.assert_array_equal(result.valid, mask)
        assert result.wcss == pytest.approx(alone.wcss, rel=1e-12)
    frames = sweep_frames(results, max_side=10_000)
    below_caption = (slice(40, None), slice(None))
    assert (frames[0][below_caption][~mask[below_caption]] == 255).all()  # white where left out
    # An RGBA image: "auto" leaves the transparent background out, as segment does.
    rgba = logo_rgba()
    for result in sweep(rgba, [2, 3]):
        np.testing.assert_array_equal(result.labels, segment(rgba, result.k).labels)


def test_steps_cluster_only_the_pixels_that_count():
    from core.explore.steps import kmeans_steps

    rgba = logo_rgba(background=(0, 0, 0))
    opaque = rgba[:, :, 3] > 0
    steps = kmeans_steps(rgba, 3, seed=2)
    alone = kmeans_steps(rgba[opaque][None, :, :3], 3, seed=2)
    assert steps.wcss == alone.wcss and steps.n_changed == alone.n_changed
    assert steps.n_changed[0] == opaque.sum()
    for i in (0, steps.n_iter - 1):
        np.testing.assert_array_equal(steps.centers[i], alone.centers[i])
        painted = steps.segmented(i)
        assert painted.shape == (60, 80, 3) and (painted[~opaque] == 255).all()
        np.testing.assert_array_equal(painted[opaque], alone.segmented(i)[0])
    assert steps.valid is not None and (steps.valid == opaque).all()
    assert kmeans_steps(rgba, 3, mask=None).n_changed[0] == 60 * 80


def test_scatter_figures_never_draw_a_masked_pixel(photo):
    from core.explore.steps import kmeans_steps
    from core.outputs.figures import scatter3d_figure, steps_figure

    image = photo.copy()
    mask = np.random.default_rng(4).random(image.shape[:2]) > 0.5
    image[~mask] = (255, 0, 255)  # a colour the photo's counted pixels never take
    image[mask & (image == (255, 0, 255)).all(axis=2)] = (254, 0, 255)
    seg = segment(image, 4, mask=mask)
    figure = scatter3d_figure(seg, image, max_points=1_000)
    assert len(figure.data[0].x) == 1_000
    everything = scatter3d_figure(seg, image, max_points=10**6)
    assert len(everything.data[0].x) == int(mask.sum())
    steps = kmeans_steps(image, 4, mask=mask)
    for fig in (figure, everything, steps_figure(steps, image, 0, max_points=10**6)):
        colors = np.asarray(fig.data[0].marker.color)
        assert "rgb(255,0,255)" not in set(colors.tolist())
    assert len(steps_figure(steps, image, 0, max_points=10**6).data[0].x) == int(mask.sum())
    # The RGBA image that was segmented is accepted as it is.
    rgba = logo_rgba()
    n_opaque = int((rgba[:, :, 3] > 0).sum())
    assert len(scatter3d_figure(segment(rgba, 3), rgba, max_points=10**6).data[0].x) == n_opaque


def test_explore_tools_refuse_an_all_masked_image_as_segment_does():
    from core import elbow
    from core.explore.steps import kmeans_steps
    from core.explore.sweep import sweep

    rgba = logo_rgba()
    rgba[:, :, 3] = 0
    for tool in (segment, elbow, sweep, kmeans_steps):
        with pytest.raises(ImageError, match="Every pixel is transparent or masked out"):
            tool(rgba, 2) if tool in (segment, kmeans_steps) else tool(rgba, [1, 2])
        with pytest.raises(ImageError, match="nothing to cluster"):
            none = np.zeros((60, 80), bool)
            tool(rgba, 2, mask=none) if tool in (segment, kmeans_steps) else tool(
                rgba, [1, 2], mask=none
            )
