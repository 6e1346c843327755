"""Tests of reading rasters as model tiles, on real scenes and small synthetic GeoTIFFs."""

import inspect

import numpy as np
import pytest
from gdal_files import make_tif, ramp
from osgeo import gdal

from terralens.plugin.core.raster import (
    RasterError,
    RasterSource,
    TileBatch,
    is_flat,
    read_window,
    tile_px_for_gsd,
)
from terralens.plugin.core.tiling import Window


@pytest.fixture(scope="module")
def scenes(shared_data):
    """Paths of the real scenes used here (1-band UInt16, RGBA Byte, 12-band Sentinel-2)."""
    folder = shared_data / "scenes"
    return {"pan": folder / "spacenet_atlanta_pan.tif",
            "ortho": folder / "ortho_drone_small.tif",
            "s2": folder / "satclip_s2" / "patch_25630.tif"}


def all_batches(source, *args, **kwargs):
    return list(source.iter_batches(*args, **kwargs))


def test_pan_band_repeats_and_streams_in_bounded_batches(scenes):
    with RasterSource(scenes["pan"]) as source:
        assert (source.width, source.height, source.band_count) == (900, 900, 1)
        assert source.data_type == "UInt16" and source.bands == [1, 1, 1]
        assert source.pixel_size_m == pytest.approx(0.5) and not source.is_geographic
        assert "32616" in source.crs_wkt
        batches = source.iter_batches(224, 32, 112, batch_size=4)
        assert inspect.isgenerator(batches)
        batches = list(batches)
        assert all(isinstance(b, TileBatch) and 1 <= len(b) <= 4 for b in batches)
        assert sum(b.tiles_read for b in batches) == source.count_tiles(224, 32) == 25
        pixels = np.concatenate([b.pixels for b in batches])
        assert pixels.shape == (25, 3, 112, 112) and pixels.dtype == np.float32
        assert 0.0 <= pixels.min() and pixels.max() <= 1.0
        np.testing.assert_array_equal(pixels[:, 0], pixels[:, 2])  # one band, three times
        windows = [w for b in batches for w in b.windows]
        covered = np.zeros((900, 900), bool)
        for w in windows:
            covered[w.row:w.row + w.height, w.col:w.col + w.width] = True
        assert covered.all()


def test_percentile_stretch_clips_two_percent_each_side(scenes):
    with RasterSource(scenes["pan"]) as source:
        scaling = source.scaling
        assert scaling["rule"] == "percentile" and scaling["percentiles"] == [2.0, 98.0]
        raw = gdal.Open(str(scenes["pan"])).ReadAsArray().astype(float)
        assert scaling["low"][0] == pytest.approx(np.percentile(raw, 2), rel=0.02)
        assert scaling["high"][0] == pytest.approx(np.percentile(raw, 98), rel=0.02)
        pixels, valid = read_window(source, Window(0, 0, 900, 900), 900)
    assert valid.all()
    assert 0.01 < np.mean(pixels[0] == 0.0) < 0.03 and 0.01 < np.mean(pixels[0] == 1.0) < 0.03
    expected = np.clip((raw - scaling["low"][0]) / (scaling["high"][0] - scaling["low"][0]), 0, 1)
    np.testing.assert_allclose(pixels[0], expected, atol=1e-5)


def test_rgba_ortho_takes_rgb_and_divides_bytes_by_255(scenes):
    with RasterSource(scenes["ortho"]) as source:
        assert source.band_count == 4 and source.bands == [1, 2, 3]
        assert source.scaling == {"rule": "byte", "bands": [1, 2, 3], "low": [0.0] * 3,
                                  "high": [255.0] * 3}
        pixels, valid = read_window(source, Window(100, 200, 64, 64), 64)
        raw = gdal.Open(str(scenes["ortho"])).ReadAsArray(100, 200, 64, 64)[:3]
        assert valid.all()  # its alpha band is opaque everywhere
        np.testing.assert_allclose(pixels, raw / 255.0, atol=1e-6)
        # 2 cm pixels: a 224-pixel tile at 0.1 m covers 1120 raster pixels.
        assert tile_px_for_gsd(source, 224, 0.1) == 1120
        assert tile_px_for_gsd(source, 224, 0) == 224
        batch = next(source.iter_batches(1120, 0, 224, 8))
        assert batch.windows == [Window(0, 0, 1120, 1120), Window(123, 0, 1120, 1120)]
        assert batch.pixels.shape == (2, 3, 224, 224)
        # 841 rows of 1120 lie in the raster; the padding below is invalid but not nodata.
        assert batch.valid_fraction.tolist() == [1.0, 1.0]
        _, valid = read_window(source, batch.windows[0], 224)
        assert valid[:168].all() and not valid[169:].any()


def test_gsd_resampling_averages_raster_pixels(scenes):
    with RasterSource(scenes["pan"]) as source:
        tile_px = tile_px_for_gsd(source, 100, 1.0)  # 0.5 m pixels: 200 raster pixels a tile
        assert tile_px == 200
        pixels, _ = read_window(source, Window(0, 0, tile_px, tile_px), 100)
        low, high = source.scaling["low"][0], source.scaling["high"][0]
    raw = gdal.Open(str(scenes["pan"])).ReadAsArray(0, 0, 200, 200).astype(float)
    pooled = raw.reshape(100, 2, 100, 2).mean(axis=(1, 3))
    expected = np.clip((pooled - low) / (high - low), 0, 1)
    # GDAL rounds the 2 x 2 average to a whole UInt16 value: at most half a raw unit off.
    np.testing.assert_allclose(pixels[0], expected, atol=0.51 / (high - low))


def test_nodata_tiles_are_skipped_and_holes_filled(tmp_path):
    data = ramp(64, 64)
    data[:, :40] = 0  # nodata: tiles in columns 0-15 and 16-31 are empty; 32-47 is half valid
    path = make_tif(tmp_path / "nodata.tif", [data], nodata=0)
    with RasterSource(path, valid_fraction=0.5) as source:
        assert source.scaling["low"][0] >= 1000  # the stretch ignores nodata
        batches = all_batches(source, 16, 0, 16, 100)
        kept = [w for b in batches for w in b.windows]
        assert {w.col for w in kept} == {32, 48}
        assert sum(b.tiles_read for b in batches) == 16
        fractions = np.concatenate([b.valid_fraction for b in batches])
        assert sorted(set(fractions.tolist())) == [0.5, 1.0]
        pixels, valid = read_window(source, Window(32, 0, 16, 16), 16)
    assert valid[:, :8].sum() == 0 and valid[:, 8:].all()
    for channel in pixels:
        assert np.allclose(channel[~valid], channel[valid].mean())  # no fake edge at the hole
    with RasterSource(path, valid_fraction=0.6) as strict:
        assert {w.col for b in all_batches(strict, 16, 0, 16, 100) for w in b.windows} == {48}
    with RasterSource(path, valid_fraction=0.0) as lax:  # empty tiles are never scored
        assert {w.col for b in all_batches(lax, 16, 0, 16, 100) for w in b.windows} == {32, 48}


def test_tiles_of_one_value_are_skipped_only_when_asked(tmp_path):
    """One 8-bit step is still one value; a flat valid part beside nodata is flat too."""
    data = np.random.default_rng(0).integers(10, 250, (32, 64)).astype(np.uint8)
    data[:, 32:48] = 90  # one value, no nodata flag
    data[:, 48:] = 91 + np.arange(16)[None, :] % 2  # two neighbouring values: no detail either
    data[:8, 16:32] = 0  # nodata next to one value
    data[8:, 16:32] = 200
    path = make_tif(tmp_path / "flat.tif", [data], dtype=gdal.GDT_Byte, nodata=0)
    flat = []
    with RasterSource(path, valid_fraction=0.25, skip_flat=True) as source:
        kept = [w.col for b in source.iter_batches(16, 0, 16, 100, on_flat=flat.append)
                for w in b.windows]
    assert kept == [0, 0] and sorted({w.col for w in flat}) == [16, 32, 48]
    with RasterSource(path, valid_fraction=0.25) as source:  # off by default at this level
        assert len([w for b in all_batches(source, 16, 0, 16, 100) for w in b.windows]) == 8
    assert is_flat(np.full((3, 4, 4), 0.5, np.float32))
    assert not is_flat(np.array([[[0.5, 0.5 + 2 / 255]]], np.float32))


def test_alpha_band_marks_nodata(tmp_path):
    rgb = [ramp(32, 32, step=s) % 256 for s in (1, 2, 3)]
    alpha = np.full((32, 32), 255)
    alpha[16:] = 0
    interps = [gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand, gdal.GCI_AlphaBand]
    path = make_tif(tmp_path / "rgba.tif", rgb + [alpha], gdal.GDT_Byte, interps=interps)
    with RasterSource(path) as source:
        assert source.bands == [1, 2, 3]
        kept = [w for b in all_batches(source, 16, 0, 16, 4) for w in b.windows]
    assert sorted(kept) == [Window(0, 0, 16, 16), Window(16, 0, 16, 16)]


def test_float_nan_and_explicit_range(tmp_path):
    data = np.linspace(-1, 1, 48 * 48).reshape(48, 48)
    data[0, 0] = np.nan
    path = make_tif(tmp_path / "float.tif", [data], gdal.GDT_Float32)
    with RasterSource(path, value_range=(-1, 1)) as source:
        assert source.scaling["rule"] == "range" and source.data_type == "Float32"
        pixels, valid = read_window(source, Window(0, 0, 48, 48), 48)
    assert not valid[0, 0] and valid.sum() == 48 * 48 - 1
    np.testing.assert_allclose(pixels[0][valid], ((data + 1) / 2)[valid], atol=1e-6)
    with RasterSource(path) as stretched:
        assert stretched.scaling["rule"] == "percentile"
        assert stretched.scaling["low"][0] == pytest.approx(-0.96, abs=0.01)
    with pytest.raises(RasterError, match="min < max"):
        RasterSource(path, value_range=(1, 1))


def test_geographic_crs_pixel_size_in_metres(tmp_path):
    gt = (10.0, 0.0001, 0.0, 60.05, 0.0, -0.0001)  # centre latitude 60 degrees
    path = make_tif(tmp_path / "geo.tif", [ramp(1000, 1000)], epsg=4326, geotransform=gt)
    with RasterSource(path) as source:
        assert source.is_geographic
        width_m, height_m = source.pixel_size_xy_m
        assert width_m == pytest.approx(5.58, abs=0.02)  # 0.0001 deg of longitude at 60 N
        assert height_m == pytest.approx(11.14, abs=0.02)
        assert tile_px_for_gsd(source, 224, 10.0) == round(2240 / source.pixel_size_m)


def test_small_and_single_pixel_rasters_give_one_padded_tile(tmp_path):
    small = make_tif(tmp_path / "small.tif", [ramp(30, 50)])
    with RasterSource(small) as source:
        (batch,) = all_batches(source, 64, 16, 64, 8)
        assert batch.windows == [Window(0, 0, 64, 64)]
        assert batch.valid_fraction[0] == 1.0  # padding is not nodata
        pixels, valid = read_window(source, batch.windows[0], 64)
    assert valid[:30, :50].all() and not valid[30:].any() and not valid[:, 50:].any()
    assert np.allclose(pixels[0][~valid], pixels[0][valid].mean())
    one = make_tif(tmp_path / "one.tif", [[[7]]], gdal.GDT_Byte)
    with RasterSource(one) as source:
        (batch,) = all_batches(source, 224, 0, 32, 8)
    assert batch.pixels.shape == (1, 3, 32, 32)
    assert np.allclose(batch.pixels, 7 / 255)


def test_streaming_never_reads_the_whole_raster(tmp_path):
    path = make_tif(tmp_path / "big.tif", [ramp(200, 300)])
    source = RasterSource(path)
    reads = []
    real_dataset = source._ds

    class Spy:
        def __getattr__(self, name):
            return getattr(real_dataset, name)

        def ReadAsArray(self, xoff, yoff, xsize, ysize, **kwargs):
            reads.append((xsize, ysize))
            return real_dataset.ReadAsArray(xoff, yoff, xsize, ysize, **kwargs)

    source._ds = Spy()
    sizes = [len(b) for b in source.iter_batches(32, 8, 16, batch_size=5)]
    assert max(sizes) == 5 and sum(sizes) == source.count_tiles(32, 8)
    assert reads and max(max(r) for r in reads) <= 32


def test_extent_limits_tiles(tmp_path):
    path = make_tif(tmp_path / "ext.tif", [ramp(64, 64)])  # 2 m pixels from (400000, 5000000)
    with RasterSource(path) as source:
        extent = (400000.0, 4999968.0, 400040.0, 5000000.0)  # top-left 20 x 16 pixels
        assert source.count_tiles(16, 0, extent=extent) == 2
        kept = [w for b in source.iter_batches(16, 0, 16, 8, extent=extent) for w in b.windows]
    assert kept == [Window(0, 0, 16, 16), Window(16, 0, 16, 16)]


def test_unreadable_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(RasterError, match="not found"):
        RasterSource(tmp_path / "missing.tif")
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(RasterError, match="cannot open"):
        RasterSource(junk)
    empty = tmp_path / "empty.vrt"
    empty.write_text('<VRTDataset rasterXSize="0" rasterYSize="5">'
                     '<VRTRasterBand dataType="Byte" band="1"/></VRTDataset>')
    with pytest.raises(RasterError, match="0 x 5"):
        RasterSource(empty)
    path = make_tif(tmp_path / "two.tif", [ramp(8, 8), ramp(8, 8)])
    with pytest.raises(RasterError, match="has 2 bands and the model takes 3"):
        RasterSource(path)
    with RasterSource(path, bands="1,2,2") as source:
        with pytest.raises(RasterError, match="overlap"):
            source.count_tiles(8, 8)
        with pytest.raises(RasterError, match="batch_size"):
            next(source.iter_batches(8, 0, 8, 0))


def test_raster_without_georeferencing_is_placed_as_qgis_places_it(tmp_path):
    path = tmp_path / "plain.tif"
    gdal.GetDriverByName("GTiff").Create(str(path), 8, 8, 1, gdal.GDT_Byte).FlushCache()
    with RasterSource(path) as source:
        assert source.geotransform == (0.0, 1.0, 0.0, 0.0, 0.0, -1.0) and source.crs_wkt == ""


def test_an_area_is_read_as_a_raster_of_its_own(tmp_path):
    """Only the area's pixels are read, stretch included; its geotransform starts at it."""
    path = make_tif(tmp_path / "big.tif", [ramp(64, 64)])  # 2 m pixels from (400000, 5000000)
    with RasterSource(path, area=(16, 8, 48, 40)) as source:
        assert (source.width, source.height) == (32, 32)
        assert source.geotransform == (400032.0, 2.0, 0.0, 4999984.0, 0.0, -2.0)
        assert source.fingerprint()["area"] == [16, 8, 48, 40]
        low, high = source.scaling["low"][0], source.scaling["high"][0]
        assert ramp(64, 64)[8:40, 16:48].min() <= low < high <= ramp(64, 64)[8:40, 16:48].max()
    with RasterSource(path, value_range=(0, 10000), area=(16, 8, 48, 40)) as part, \
            RasterSource(path, value_range=(0, 10000)) as whole:
        np.testing.assert_array_equal(read_window(part, Window(0, 0, 8, 8), 8)[0],
                                      read_window(whole, Window(16, 8, 8, 8), 8)[0])
    with pytest.raises(RasterError, match="misses the raster"):
        RasterSource(path, area=(70, 0, 80, 10))


def test_an_alpha_band_gdal_ignores_still_marks_nodata(tmp_path):
    """GDAL applies an alpha band as the mask of 2- and 4-band rasters only: a 12-band
    Sentinel-2 scene warped with an alpha band (13 bands) would read its outside as valid."""
    data = [np.full((64, 64), 500, np.uint16) for _ in range(12)]
    alpha = np.full((64, 64), 65535, np.uint16)
    alpha[:, :32] = 0
    interps = [gdal.GCI_Undefined] * 12 + [gdal.GCI_AlphaBand]
    path = make_tif(tmp_path / "s2_alpha.tif", data + [alpha], interps=interps)
    source = RasterSource(path, bands=list(range(1, 13)), model_bands=12)
    _, valid, fraction = source.read(Window(0, 0, 64, 64), 64)
    assert not valid[:, :32].any() and valid[:, 32:].all() and fraction == 0.5
    assert not source.always_valid
    rgba = make_tif(tmp_path / "rgba.tif", data[:3] + [alpha],
                    interps=[gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand,
                             gdal.GCI_AlphaBand])
    _, valid, fraction = RasterSource(rgba).read(Window(0, 0, 64, 64), 64)
    assert fraction == 0.5  # GDAL's own alpha mask, as before
    assert RasterSource(make_tif(tmp_path / "plain.tif", data[:3])).always_valid
