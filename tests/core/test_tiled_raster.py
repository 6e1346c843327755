"""Tile settings resolved against a bundle, and rasters opened for a model with them."""

import json

import numpy as np
import pytest
from gdal_files import make_tif
from osgeo import gdal, osr

from terralens.plugin.core.bundle import Bundle
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.raster import RasterError, RasterSource
from terralens.plugin.core.tiled_raster import TileSettings, open_tiled
from terralens.plugin.core.tiling import Window, extent_pixel_box, pixel_to_map, window_footprint


def test_s2_encoder_reads_its_bands_at_its_own_gsd(sensors, shared_data):
    s2_path = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    tiled = open_tiled(s2_path, sensors, TileSettings(tile_size=64))
    assert tiled.encoder.spec.name == "s2"
    assert tiled.source.bands == list(range(1, 13))
    assert tiled.tile_px == 64  # 64 model pixels at the encoder's 10 m on a 10 m raster
    rgb = open_tiled(s2_path, sensors, TileSettings(tile_size=64, encoder="rgb"))
    assert rgb.encoder.spec.name == "rgb" and rgb.source.bands == [1, 2, 3]


def test_a_tile_swallowing_a_large_raster_is_warned_about(wordpiece_model, ortho, tmp_path):
    coarse = open_tiled(ortho, wordpiece_model, TileSettings(tile_size=64, gsd_m=2.0))
    assert len(coarse.windows) == 1 and len(coarse.warnings) == 1
    assert "the whole raster (1243 x 841 pixels) fits in one tile" in coarse.warnings[0]
    assert "Ground sample distance" in coarse.warnings[0]
    assert open_tiled(ortho, wordpiece_model, TileSettings(tile_size=64, gsd_m=0)).warnings == []
    chip = make_tif(tmp_path / "chip.tif", [np.ones((100, 100))] * 3)
    assert open_tiled(chip, wordpiece_model, TileSettings(tile_size=64, gsd_m=5.0)).warnings == []


def test_a_raster_smaller_than_the_finest_tile_is_not_sent_out_of_range(repo_root, ortho):
    """The 2 cm drone photo (25 x 17 m) at the default model's finest scale fits in one 77 m
    tile: the warning says so without advising a finer scale, which the next run would warn
    about as outside the model's range."""
    from terralens.plugin.core import registry

    default = registry.cached_model(str(repo_root / "models" / "terralens-effnet-minilm-v1"))
    warnings = open_tiled(ortho, default, TileSettings()).warnings
    assert len(warnings) == 1 and "smaller than one tile at the finest scale" in warnings[0]
    assert "set a smaller Ground sample distance" not in warnings[0]


@pytest.mark.parametrize("size, tile", [((1, 1), 8), ((3, 500), 64), ((30, 50), 241)])
def test_rasters_too_small_for_their_tiles_are_refused(wordpiece_model, tmp_path, size, tile):
    path = make_tif(tmp_path / "small.tif", [np.ones(size)] * 3)
    with pytest.raises(RasterError, match="too small"):
        open_tiled(path, wordpiece_model, TileSettings(tile_size=tile, gsd_m=0))


def test_an_extent_works_on_its_own_pixels(wordpiece_model, tmp_path):
    """A small extent of a large raster: only its area is opened, at least a tile a side."""
    path = make_tif(tmp_path / "big.tif", [np.ones((1500, 2000))] * 3)  # 2 m from (400000, 5e6)
    extent = (402000.0, 4998000.0, 402020.0, 4998010.0)  # 10 x 5 pixels at column 1000, row 995
    tiled = open_tiled(path, wordpiece_model, TileSettings(tile_size=64, gsd_m=0, extent=extent))
    assert tiled.source.area == (973, 966, 1037, 1030)  # 64 x 64 around the extent
    assert len(tiled.windows) == 1
    whole = open_tiled(path, wordpiece_model,
                       TileSettings(tile_size=64, gsd_m=0, extent=(0, 0, 1e7, 1e7)))
    assert whole.source.area is None


# --- the scale rule on real rasters, with the default model's range of scales ----------------
@pytest.fixture()
def scaled(repo_root):
    """The tiny sensors model (rgb, pan, s2 encoders) made to know the scales the default model
    records: 128 px tiles, 0.6 m preferred, 0.6-37.5 m, pixels enlarged at most MOST times (2
    since version 1.1; 1.5 before)."""
    default = json.loads((repo_root / "models" / "terralens-effnet-minilm-v1" / "bundle.json")
                         .read_text(encoding="utf-8"))
    model = load_model(repo_root / "tests" / "data" / "tiny-sensors")
    model.bundle.scale = Bundle.from_dict(default).scale
    model.bundle.tile_size, model.bundle.gsd_m = 128, 0.6
    for spec in model.bundle.image_specs:  # its encoders take 64 px; only tiling runs here
        spec.size = 128
    assert model.bundle.scale.gsd_range_m == [0.6, 37.5]
    return model


def most(model):
    """The default model's largest enlargement of a raster pixel."""
    return model.bundle.scale.max_upsampling


def assert_no_blur(tiled, model):
    assert tiled.scale.upsampling <= most(model) * 1.01 and tiled.warnings == []


def test_sentinel2_true_colour_is_enlarged_at_most_the_models_limit(scaled, shared_data):
    patches = sorted((shared_data / "scenes" / "satclip_s2").glob("patch_*.tif"))
    assert len(patches) == 20
    for path in patches:
        tiled = open_tiled(path, scaled, TileSettings(bands="4,3,2", encoder="rgb"))
        assert tiled.scale.raster_gsd_m == pytest.approx(10.0, rel=1e-3)
        assert tiled.tile_px == round(128 / most(scaled)) and tiled.scale.how == "automatic"
        assert tiled.scale.gsd_m == pytest.approx(10 / most(scaled))
        assert tiled.settings.gsd_m is None  # kept as asked: automatic
        assert_no_blur(tiled, scaled)
        # the 12-band encoder keeps the 10 m it was distilled at; the old default is refused
        own = open_tiled(path, scaled, TileSettings())
        assert own.encoder.spec.name == "s2" and own.tile_px == 128
        old = open_tiled(path, scaled, TileSettings(bands="4,3,2", encoder="rgb", gsd_m=0.6))
        assert old.tile_px == 8 and "enlarged 16.0 times" in old.warnings[0]


def test_fine_rasters_keep_the_models_finest_scale(scaled, spacenet, ortho):
    pan = open_tiled(spacenet, scaled, TileSettings())
    assert pan.tile_px == 154 and pan.scale.gsd_m == 0.6  # as before the rule: 0.6 m
    assert_no_blur(pan, scaled)
    drone = open_tiled(ortho, scaled, TileSettings())
    assert drone.scale.gsd_m == 0.6 and drone.tile_px == 3840


def test_geographic_raster_in_degrees(scaled, shared_data, tmp_path):
    """A real Sentinel-2 patch warped to EPSG:4326: its pixels are measured in metres (here
    checked against the warped pixel's corners projected back to the patch's UTM zone); at
    73.8 N they are read as square pixels of their shorter side."""
    source = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    path = str(tmp_path / "s2_4326.tif")
    gdal.Warp(path, str(source), dstSRS="EPSG:4326")
    tiled = open_tiled(path, scaled, TileSettings(bands="4,3,2", encoder="rgb"))
    assert tiled.source.is_geographic and abs(tiled.source.geotransform[1]) < 1e-3
    width_m, height_m = pixel_metres(path, gdal.Open(str(source)).GetProjection())
    assert tiled.scale.raster_gsd_m == pytest.approx(min(width_m, height_m), rel=0.01)
    assert tiled.scale.tile_ground_m == pytest.approx(tiled.tile_px * tiled.scale.raster_gsd_m)
    assert tiled.tile_px == round(128 / most(scaled))
    assert tiled.scale.upsampling <= most(scaled) * 1.01
    assert [w for w in tiled.warnings if "stretched" not in w] == []  # (its pixels are)


def pixel_metres(path, utm_wkt):
    """Width and height in metres of the centre pixel of a lon/lat raster, through UTM."""
    dataset = gdal.Open(path)
    g, cx, cy = dataset.GetGeoTransform(), dataset.RasterXSize / 2, dataset.RasterYSize / 2
    wgs84, utm = osr.SpatialReference(), osr.SpatialReference(wkt=utm_wkt)
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_utm = osr.CoordinateTransformation(wgs84, utm)
    corners = [to_utm.TransformPoint(g[0] + c * g[1], g[3] + r * g[5])[:2]
               for c, r in ((cx, cy), (cx + 1, cy), (cx, cy + 1))]
    return (np.hypot(*np.subtract(corners[1], corners[0])),
            np.hypot(*np.subtract(corners[2], corners[0])))


def test_raster_in_us_survey_feet(scaled, tmp_path):
    """EPSG:2263 (New York Long Island, US survey feet): 10 ft pixels are 3.05 m."""
    path = make_tif(tmp_path / "feet.tif", [np.full((300, 300), 100)] * 3, epsg=2263,
                    geotransform=(1000000.0, 10.0, 0.0, 200000.0, 0.0, -10.0))
    tiled = open_tiled(path, scaled, TileSettings())
    assert tiled.scale.raster_gsd_m == pytest.approx(3.048, rel=1e-4)
    assert tiled.tile_px == round(128 / most(scaled))
    assert tiled.scale.gsd_m == pytest.approx(3.048 / most(scaled), rel=1e-4)
    assert_no_blur(tiled, scaled)


def test_a_raster_far_coarser_than_the_model_knows_is_warned_about(scaled, tmp_path):
    path = make_tif(tmp_path / "modis.tif", [np.full((400, 400), 100)] * 3,
                    geotransform=(400000.0, 250.0, 0.0, 5000000.0, 0.0, -250.0))
    tiled = open_tiled(path, scaled, TileSettings())
    assert tiled.scale.gsd_m == 37.5 and len(tiled.warnings) == 1
    assert "coarser than this model knows" in tiled.warnings[0]
    assert "Ground sample distance" in tiled.warnings[0]


def test_a_raster_without_crs_is_warned_about_when_the_scale_is_automatic(scaled, tmp_path):
    """No georeferencing: pixels are taken as 1 m, and the log says so and what to set."""
    path = make_tif(tmp_path / "photo.tif", [np.full((400, 400), 100)] * 3, epsg=None,
                    geotransform=None)
    automatic = open_tiled(path, scaled, TileSettings())
    assert any("no coordinate reference system" in w and "taken as 1 m" in w
               and "Ground sample distance" in w for w in automatic.warnings)
    given = open_tiled(path, scaled, TileSettings(gsd_m=0.6))
    assert not any("coordinate reference system" in w for w in given.warnings)


def test_a_bundle_without_a_range_behaves_as_before(sensors, shared_data):
    path = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    tiled = open_tiled(path, sensors, TileSettings(bands="4,3,2", encoder="rgb"))
    assert tiled.scale.how == "model default" and tiled.tile_px == 64  # gsd_m 0: native pixels
    assert tiled.warnings == []


def test_a_tile_size_other_than_the_models_input_is_said_and_warned_about(scaled, shared_data):
    """Tiles of 64 model pixels are resized to the model's 128: the model sees twice as fine
    a scale as the tile's, and raster pixels enlarged twice the model's limit (3 or 4 times),
    which the log says."""
    path = shared_data / "scenes" / "satclip_s2" / "patch_502692.tif"
    tiled = open_tiled(path, scaled, TileSettings(bands="4,3,2", encoder="rgb", tile_size=64))
    scale, tile_px = tiled.scale, round(64 / most(scaled))
    assert scale.resized and scale.input_size == 128 and tiled.tile_px == tile_px
    assert scale.seen_upsampling == pytest.approx(128 / tile_px)
    assert scale.seen_pixel_m == pytest.approx(tile_px * 10 / 128)
    assert "resized to the model's input of 128 pixels" in scale.describe()
    assert "Tile size 64 differs from the model's input of 128" in tiled.warnings[0]
    assert scale.record()["seen_upsampling"] == pytest.approx(128 / tile_px, abs=1e-3)
    same = open_tiled(path, scaled, TileSettings(bands="4,3,2", encoder="rgb"))
    assert not same.scale.resized and same.warnings == []


def test_pixels_stretched_on_the_ground_are_read_as_square_ones(scaled, tmp_path):
    """Longitude / latitude pixels of equal degrees at 60 N are half as wide as high: they are
    read through a view with square ground pixels of their shorter side (nothing the raster
    shows is lost) in the same CRS and extent, and said so."""
    degrees = 1e-4
    at_60 = make_tif(tmp_path / "north.tif", [np.full((300, 300), 100)] * 3, epsg=4326,
                     geotransform=(10.0, degrees, 0.0, 60.0, 0.0, -degrees))
    tiled = open_tiled(at_60, scaled, TileSettings())
    squared = tiled.source.squared
    assert squared["pixel_m_before"][1] / squared["pixel_m_before"][0] == pytest.approx(2.0,
                                                                                       rel=0.02)
    width, height = tiled.source.pixel_size_xy_m
    assert width == pytest.approx(height, rel=0.01)
    assert (tiled.source.width, tiled.source.height) == tuple(squared["size"]) == (300, 599)
    assert tiled.scale.raster_gsd_m == pytest.approx(squared["pixel_m_before"][0], rel=1e-3)
    g = tiled.source.geotransform
    assert (g[0], g[3]) == (10.0, 60.0)
    assert g[0] + tiled.source.width * g[1] == pytest.approx(10.03)
    assert g[3] + tiled.source.height * g[5] == pytest.approx(59.97)
    assert not any("stretched" in w for w in tiled.warnings)
    assert tiled.source.fingerprint()["square_pixels"] == squared
    equator = make_tif(tmp_path / "equator.tif", [np.full((300, 300), 100)] * 3, epsg=4326,
                       geotransform=(10.0, degrees, 0.0, 0.01, 0.0, -degrees))
    plain = open_tiled(equator, scaled, TileSettings())
    assert plain.source.squared is None and not plain.warnings
    assert "square_pixels" not in plain.source.fingerprint()


def test_a_raster_spanning_many_latitudes_is_warned_about(scaled, tmp_path):
    """Squared at its centre (50 N), a raster from 35 to 65 N is still stretched at its edges."""
    tall = make_tif(tmp_path / "tall.tif", [np.full((300, 100), 100)] * 3, epsg=4326,
                    geotransform=(10.0, 0.1, 0.0, 65.0, 0.0, -0.1))
    tiled = open_tiled(tall, scaled, TileSettings(gsd_m=0))
    assert tiled.source.squared is not None
    stretched = [w for w in tiled.warnings if "stretched" in w]
    assert len(stretched) == 1 and "degrees of latitude" in stretched[0]


def test_stretched_pixels_with_a_mask_file_are_left_as_they_are_and_warned_about(scaled,
                                                                                   tmp_path):
    """The warp would lose a mask file shared by the bands, so that raster is tiled as before."""
    path = make_tif(tmp_path / "masked.tif", [np.full((300, 300), 100)] * 3, epsg=4326,
                    geotransform=(10.0, 1e-4, 0.0, 60.0, 0.0, -1e-4))
    dataset = gdal.Open(path, gdal.GA_Update)
    dataset.CreateMaskBand(gdal.GMF_PER_DATASET)
    mask = np.full((300, 300), 255, np.uint8)
    mask[:, :100] = 0
    dataset.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    dataset = None
    tiled = open_tiled(path, scaled, TileSettings())
    assert tiled.source.squared is None
    stretched = [w for w in tiled.warnings if "stretched" in w]
    assert len(stretched) == 1 and "it has a mask shared by its bands" in stretched[0]
    assert "reproject the raster" in stretched[0]


def test_a_real_lon_lat_patch_is_tiled_in_square_ground_tiles(scaled, shared_data, tmp_path):
    """A real Sentinel-2 patch at 73.8 N warped to EPSG:4326 (pixels 3.6 times higher than wide
    on the ground): each tile covers a square of ground, checked in the patch's UTM zone, and
    shows what the same ground shows in the original patch."""
    source = shared_data / "scenes" / "satclip_s2" / "patch_25630.tif"
    path = str(tmp_path / "s2_4326.tif")
    gdal.Warp(path, str(source), dstSRS="EPSG:4326")
    settings = TileSettings(bands="4,3,2", encoder="rgb", gsd_m=0, tile_size=64)
    tiled = open_tiled(path, scaled, settings)
    before = tiled.source.squared["pixel_m_before"]
    assert before[1] / before[0] > 3
    utm = gdal.Open(str(source)).GetProjection()
    window = tiled.windows[len(tiled.windows) // 2]
    corners = to_crs(window_footprint(window, tiled.source.geotransform), utm)
    width_m = np.hypot(*np.subtract(corners[1], corners[0]))
    height_m = np.hypot(*np.subtract(corners[3], corners[0]))
    assert width_m == pytest.approx(height_m, rel=0.03)
    original = RasterSource(str(source), bands=[4, 3, 2])
    xs, ys = zip(*corners)
    box = extent_pixel_box(original.geotransform, (min(xs), min(ys), max(xs), max(ys)))
    truth, _, _ = original.read(Window(box[0], box[1], box[2] - box[0], box[3] - box[1]), 64)
    squared, _, _ = tiled.source.read(window, 64)
    unsquared = RasterSource(path, bands=[4, 3, 2])  # square tiles of degrees, as before
    x, y = pixel_to_map(tiled.source.geotransform, window.col + window.width / 2,
                        window.row + window.height / 2)
    col, row, _, _ = extent_pixel_box(unsquared.geotransform, (x, y, x, y))
    plain, _, _ = unsquared.read(Window(col - 32, row - 32, 64, 64), 64)
    # measured: 0.85 against 0.10 (the warp to EPSG:4326 took the nearest pixel, so not 1)
    assert correlation(squared, truth) > 0.6
    assert correlation(squared, truth) > correlation(plain, truth) + 0.3


def to_crs(points, wkt):
    wgs84, target = osr.SpatialReference(), osr.SpatialReference(wkt=wkt)
    wgs84.ImportFromEPSG(4326)
    for srs in (wgs84, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(wgs84, target)
    return [transform.TransformPoint(x, y)[:2] for x, y in points]


def correlation(first, second):
    return float(np.corrcoef(np.ravel(first.mean(axis=0)), np.ravel(second.mean(axis=0)))[0, 1])


def test_a_lon_lat_raster_too_small_is_refused_with_its_own_size(scaled, tmp_path):
    tiny = make_tif(tmp_path / "tiny.tif", [np.full((22, 27), 100)] * 3, epsg=4326,
                    geotransform=(10.0, 1e-4, 0.0, 60.0, 0.0, -1e-4))
    with pytest.raises(RasterError, match="27 x 22 pixels, read as 27 x 44 pixels square"):
        open_tiled(tiny, scaled, TileSettings(tile_size=512, gsd_m=5.0))
