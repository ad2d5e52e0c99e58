"""core.results.classmodel and classify: named classes over clusters, kept as JSON, applied."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import small_photo, write_tif
from hypothesis import given, settings
from hypothesis import strategies as st

import core
from core.accel import compiled as _accel
from core.inputs.samples import SCENE_BANDS, synthetic_scene
from core.results.classmodel import ClassModel, FeatureSpec, nearest_centers


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return small_photo("china.jpg", 4)


@pytest.fixture(scope="module")
def seg(image):
    return core.segment(image, 6)


def _model(k: int = 6) -> ClassModel:
    rng = np.random.default_rng(k)
    colors = rng.integers(0, 256, (k, 3))
    return ClassModel(FeatureSpec("color", "rgb"), rng.random((k, 3)), colors)


def _brute_nearest(features: np.ndarray, centers: np.ndarray) -> np.ndarray:
    diff = features[:, None, :] - centers[None, :, :]
    return (diff * diff).sum(axis=2).argmin(axis=1)


# --- the fit's last assignment: apply reproduces the fitted labels -------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"tol": 0.05}, {"fit_pixels": 5_000}, {"engine": "opencv"}, {"color_space": "rgb"}],
)
def test_apply_to_the_same_photo_gives_its_labels(image, options):
    seg = core.segment(image, 6, **options)
    applied = core.apply(seg.model, image)
    np.testing.assert_array_equal(applied.labels, seg.labels)
    np.testing.assert_array_equal(applied.counts, seg.counts)
    assert applied.wcss == pytest.approx(seg.wcss, rel=1e-12)
    assert applied.class_names == tuple(f"cluster {i}" for i in range(6))


def test_every_label_is_the_nearest_final_centre_and_the_stats_follow_the_labels(image):
    # Oracle: brute-force distances from every pixel to the reported centres.
    seg = core.segment(image, 5, tol=0.05)
    features = core.features.colorspaces.rgb_to_features(image.reshape(-1, 3), "lab")
    np.testing.assert_array_equal(seg.labels.ravel(), _brute_nearest(features, seg.centers))
    counts = np.bincount(seg.labels.ravel(), minlength=5)
    np.testing.assert_array_equal(seg.counts, counts)
    own = features - seg.centers[seg.labels.ravel()]
    assert seg.wcss == pytest.approx(float((own * own).sum()), rel=1e-9)


def test_apply_keeps_transparent_pixels_out(image):
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    rgba[:7, :, 3] = 0
    seg = core.segment(rgba, 4)
    applied = core.apply(seg.model, rgba)
    np.testing.assert_array_equal(applied.labels, seg.labels)
    assert (applied.labels[:7] == -1).all() and not applied.valid[:7].any()


def test_apply_reads_a_photo_file_and_a_loaded_image(image, tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    seg = core.segment(image, 4)
    for source in (path, str(path), path.read_bytes(), core.open_image(path)):
        np.testing.assert_array_equal(core.apply(seg.model, source).labels, seg.labels)


def test_nearest_centers_numpy_and_compiled_agree_to_the_bit():
    if not _accel.AVAILABLE:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    points = rng.normal(size=(50_000, 3)) * 40
    centers = rng.normal(size=(7, 3)) * 40
    centers[4] = centers[2]  # a tie: the lower centre wins on both paths
    points[:3] = centers[2]
    numpy_labels, numpy_distances = nearest_centers(points, centers)  # small: NumPy path
    assert _accel.enabled()
    labels, distances = nearest_centers(points, centers)
    np.testing.assert_array_equal(labels, numpy_labels)
    np.testing.assert_array_equal(distances, numpy_distances)
    np.testing.assert_array_equal(labels, _brute_nearest(points, centers))
    assert (labels[:3] == 2).all()


# --- relabel -----------------------------------------------------------------------------


def test_relabel_is_class_of_the_cluster_labels(seg, image):
    model = seg.model.with_classes({"water": [0, 3], "forest": [1]}, drop=[5])
    named = seg.relabel(model)
    lookup = np.append(model.class_of, -1)
    np.testing.assert_array_equal(named.labels, lookup[seg.labels])
    assert named.class_names == ("water", "forest", "cluster 2", "cluster 4")
    assert named.k == 4 and named.classes is model and named.clusters is seg
    kept = named.labels >= 0
    np.testing.assert_array_equal(named.valid, kept)
    np.testing.assert_array_equal(named.counts, np.bincount(named.labels[kept], minlength=4))
    assert named.shares.sum() == pytest.approx(1.0)
    assert (named.segmented[~kept] == 255).all()  # shown white, like no-data
    np.testing.assert_array_equal(named.segmented[kept], model.class_colors[named.labels[kept]])
    # A relabelled result relabels from its clusters again.
    again = named.relabel(seg.model)
    np.testing.assert_array_equal(again.labels, seg.labels)


def test_relabel_without_dropping_stays_lazy_and_paints_the_same(image):
    seg = core.segment(image, 5)
    model = seg.model.with_classes({"a": [4, 1]})
    named = seg.relabel(model)
    assert named.valid is None
    np.testing.assert_array_equal(named.labels, model.class_of[seg.labels])
    np.testing.assert_array_equal(named.segmented, model.class_colors[named.labels])


def test_class_colors_are_pixel_weighted_means(seg, image):
    model = seg.model.with_classes({"both": [0, 2]})
    members = np.isin(seg.labels, [0, 2])
    # Each cluster colour is its pixels' mean rounded to a level; the class colour, their
    # share-weighted mean rounded again, is within a level of its pixels' exact mean.
    np.testing.assert_allclose(model.class_colors[0], image[members].mean(axis=0), atol=1.0)
    assert model.class_colors[1].tolist() == seg.palette[1].tolist()  # a class of one
    assert model.class_colors.shape == (model.n_classes, 3)
    assert model.class_colors.dtype == np.uint8


def test_relabel_refuses_a_model_of_another_fit(seg, image):
    other = core.segment(image, 6, seed=5, color_space="rgb").model
    with pytest.raises(ValueError, match="not fitted on this result"):
        seg.relabel(other)
    with pytest.raises(TypeError, match="ClassModel"):
        seg.relabel("model.json")


# --- JSON ---------------------------------------------------------------------------------


def test_json_round_trip_gives_the_same_text_and_model(seg):
    model = seg.model.with_classes({"water": [0, 3], "forest": [1]}, drop=[5]).rename(
        "cluster 2", "rust"
    )
    text = model.to_json()
    back = ClassModel.from_json(text)
    assert back.to_json() == text and back == model
    np.testing.assert_array_equal(back.centers, model.centers)  # to the bit
    data = json.loads(text)
    assert data["format"] == "kseg-class-model" and data["version"] == 1
    assert data["axes"] == ["a*", "b*", "L*"]
    assert data["features"] == {"kind": "color", "color_space": "lab"}
    assert data["dropped"] == [5]
    assert back.wcss == seg.wcss and back.shares.tolist() == seg.shares.tolist()


def test_save_load_edit_gives_the_same_classes(seg, image, tmp_path):
    path = seg.model.save(tmp_path / "model.json")
    loaded = ClassModel.load(path)
    assert loaded == seg.model
    edited = loaded.with_classes({"sky": [0, 1]}, drop=[2])
    direct = seg.model.with_classes({"sky": [0, 1]}, drop=[2])
    assert edited == direct
    edited.save(tmp_path / "edited.json")
    again = ClassModel.load(tmp_path / "edited.json")
    np.testing.assert_array_equal(core.apply(again, image).labels, seg.relabel(direct).labels)


def test_a_collection_palette_json_loads_as_a_model(image):
    palette = core.fit_collection([image], 4)
    model = ClassModel.from_json(palette.to_json())
    np.testing.assert_array_equal(model.centers, palette.centers)
    with pytest.deprecated_call():
        old = core.apply_palette(image, palette)
    np.testing.assert_array_equal(core.apply(model, image).labels, old.labels)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json {", "not valid JSON"),
        ('{"format": "something-else", "version": 1}', "not a kseg class model"),
        ("[1, 2]", "not a kseg class model"),
        ('{"format": "kseg-class-model", "version": 99}', "newer than this kseg reads"),
        ('{"format": "kseg-class-model", "version": "one"}', "not a format version"),
        ('{"format": "kseg-class-model", "version": 1}', "incomplete or damaged"),
    ],
)
def test_bad_model_files_say_what_is_wrong(text, match):
    with pytest.raises(ValueError, match=match):
        ClassModel.from_json(text)


def test_load_names_the_file(tmp_path):
    with pytest.raises(core.ImageError, match=r"'missing\.json' could not be read"):
        ClassModel.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("nope")
    with pytest.raises(ValueError, match=r"'bad\.json': .*not valid JSON"):
        ClassModel.load(tmp_path / "bad.json")


def test_a_damaged_class_table_is_refused(seg):
    data = json.loads(seg.model.to_json())
    data["classes"][1]["clusters"] = [0]
    with pytest.raises(ValueError, match=r"cluster 0.*in another class"):
        ClassModel.from_json(json.dumps(data))
    data = json.loads(seg.model.to_json())
    del data["classes"][-1]
    with pytest.raises(ValueError, match="Cluster 5 is in no class"):
        ClassModel.from_json(json.dumps(data))


# --- editing errors and properties --------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "drop", "match"),
    [
        ({"water": [0, 6]}, (), r"Cluster 6 in class 'water' is out of range.*0 to 5"),
        ({"water": [-1]}, (), "Cluster -1 in class 'water' is out of range"),
        ({}, [7], "Cluster 7 in drop is out of range"),
        ({"water": [1.5]}, (), "not an integer"),
        ({"water": [0, 3], "forest": [3]}, (), "Cluster 3 is in 'water' and 'forest'"),
        ({"water": [2, 2]}, (), "Cluster 2 is twice"),
        ({"water": [4]}, [4], "Cluster 4 is both in 'water' and dropped"),
        ({"": [0]}, (), "must not be empty"),
        ({"  ": [0]}, (), "must not be empty"),
        ({"water": []}, (), "'water' has no cluster"),
        ({"cluster 2": [0]}, (), "Two classes are called 'cluster 2'"),
        ({}, range(6), "Every cluster is dropped"),
        ({"water": 3}, (), "must list its clusters"),
    ],
)
def test_with_classes_errors_name_the_culprit(groups, drop, match):
    with pytest.raises(ValueError, match=match):
        _model().with_classes(groups, drop=drop)


def test_rename():
    model = _model().with_classes({"water": [0, 3]})
    assert model.rename("water", "lake").class_names[0] == "lake"
    assert model.rename(1, "sky").class_names[1] == "sky"
    assert model.rename("water", "lake").class_of.tolist() == model.class_of.tolist()
    with pytest.raises(ValueError, match="No class is called 'sea'"):
        model.rename("sea", "lake")
    with pytest.raises(ValueError, match="Class index 9 is out of range"):
        model.rename(9, "lake")
    with pytest.raises(ValueError, match="Two classes are called 'cluster 1'"):
        model.rename("water", "cluster 1")
    with pytest.raises(ValueError, match="must not be empty"):
        model.rename("water", " ")


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 8),
    data=st.data(),
)
def test_with_classes_property(k, data):
    model = _model(k)
    owner = data.draw(st.lists(st.integers(-2, 3), min_size=k, max_size=k))
    # owner[i]: -2 unnamed, -1 dropped, g >= 0 in group g (named "g<g>")
    if all(o == -1 for o in owner):
        owner[0] = -2
    groups: dict[str, list[int]] = {}
    for g in sorted({o for o in owner if o >= 0}, key=lambda g: owner.index(g)):
        groups[f"g{g}"] = [i for i in range(k) if owner[i] == g]
    names = list(groups)
    drop = [i for i in range(k) if owner[i] == -1]
    edited = model.with_classes(groups, drop=drop)
    unnamed = [i for i in range(k) if owner[i] == -2]
    assert edited.class_names == tuple(names + [f"cluster {i}" for i in unnamed])
    for i in range(k):
        if owner[i] == -1:
            assert edited.class_of[i] == -1
        elif owner[i] == -2:
            assert edited.class_names[edited.class_of[i]] == f"cluster {i}"
        else:
            assert edited.class_names[edited.class_of[i]] == f"g{owner[i]}"
    assert edited.dropped == tuple(drop)
    assert sorted(c for cs in edited.clusters_of for c in cs) == [
        i for i in range(k) if owner[i] != -1
    ]
    assert ClassModel.from_json(edited.to_json()) == edited


# --- rasters --------------------------------------------------------------------------------


def _scene(tmp_path, name, bands, nodata=None):
    return write_tif(tmp_path / name, bands, names=list(SCENE_BANDS), nodata=nodata)


def test_raster_model_applied_to_its_scene_gives_its_labels(tmp_path):
    bands, _ = synthetic_scene(50, 70, seed=1)
    bands[:, :4] = 0
    path = _scene(tmp_path, "a.tif", bands, nodata=0)
    raster = core.open_raster(path)
    seg = core.segment_raster(raster, 5, indices=["ndvi"], tol=0.05)
    for source in (raster, path):
        applied = core.apply(seg.model, source)
        np.testing.assert_array_equal(applied.labels, seg.labels)
        np.testing.assert_array_equal(applied.counts, seg.counts)
    assert seg.model.axes == (*SCENE_BANDS, "NDVI")
    spec = seg.model.features
    assert spec.kind == "bands" and spec.indices == ("ndvi",) and len(spec.mean) == 5
    back = ClassModel.from_json(seg.model.to_json())
    np.testing.assert_array_equal(core.apply(back, raster).labels, seg.labels)
    named = seg.relabel(seg.model.with_classes({"veg": [0, 1]}, drop=[4]))
    lookup = np.append(seg.model.with_classes({"veg": [0, 1]}, drop=[4]).class_of, -1)
    np.testing.assert_array_equal(named.labels, lookup[seg.labels])
    # The kept classes' areas are their pixels' ground areas, and the dropped one is left out.
    ground = seg.pixel_areas.class_sums(named.labels, named.k)[0]
    np.testing.assert_allclose(named.areas_m2, ground, rtol=1e-9)
    assert named.areas_m2.sum() == pytest.approx(seg.areas_m2[:4].sum(), rel=1e-9)
    assert "name" in named.areas_csv().decode().splitlines()[0]


def test_raster_model_uses_the_fitted_scaling_on_another_scene(tmp_path):
    # Scene B holds scene A's first 30 rows unchanged, then very different pixels: its own
    # statistics differ, but identical band values must get identical classes.
    bands_a, _ = synthetic_scene(40, 60, seed=2)
    bands_b = bands_a.copy()
    bands_b[:, 30:] = (bands_b[:, 30:].astype(np.int64) * 3 + 4000).clip(0, 65535)
    a = _scene(tmp_path, "a.tif", bands_a)
    b = _scene(tmp_path, "b.tif", bands_b)
    seg = core.segment_raster(core.open_raster(a), 4, indices=["ndvi"])
    applied = core.apply(seg.model, b)
    np.testing.assert_array_equal(applied.labels[:30], seg.labels[:30])
    # Oracle: features scaled by A's mean/std by hand, nearest centre by brute force.
    raster_b = core.open_raster(b)
    spec = seg.model.features
    columns = [raster_b.data[i].astype(np.float64) for i in range(4)]
    red, nir = columns[2], columns[3]
    columns.append((nir - red) / (nir + red))
    scaling = zip(columns, spec.mean, spec.std, strict=True)
    x = np.stack([(c.ravel() - m) / s for c, m, s in scaling], axis=1)
    expected = _brute_nearest(x, seg.model.centers).reshape(raster_b.data.shape[1:])
    assert (applied.labels == expected).mean() > 0.999  # float32 features: rounding only


def test_a_model_needing_missing_bands_says_which(tmp_path, image):
    bands, _ = synthetic_scene(30, 40, seed=3)
    raster = core.open_raster(_scene(tmp_path, "a.tif", bands))
    seg = core.segment_raster(raster, 3, indices=["ndvi"])
    with pytest.raises(ValueError, match=r"needs band 'nir'.*its bands are 'red', 'green', 'blue'"):
        core.apply(seg.model, image)
    three = write_tif(tmp_path / "c.tif", bands[:3], names=list(SCENE_BANDS[:3]))
    with pytest.raises(ValueError, match=r"needs band 'nir'(?!.*for NDVI)"):
        core.apply(seg.model, three)


def test_a_three_band_model_applies_to_a_photo(tmp_path, image):
    rgb = np.ascontiguousarray(image.transpose(2, 0, 1))
    path = write_tif(tmp_path / "rgb.tif", rgb, names=["red", "green", "blue"])
    seg = core.segment_raster(core.open_raster(path), 4)
    np.testing.assert_array_equal(core.apply(seg.model, image).labels, seg.labels)


def test_a_position_model_is_not_applied(image):
    seg = core.segment(image[:40, :40], 3, position_weight=1.0)
    assert seg.model.features.kind == "pixel"
    assert seg.relabel(seg.model.with_classes({"a": [0, 1]})).k == 2
    with pytest.raises(ValueError, match="position and texture"):
        core.apply(seg.model, image)
    with pytest.raises(TypeError, match="ClassModel"):
        core.apply({"k": 3}, image)
