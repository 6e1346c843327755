"""Stream a raster as model-ready tiles with GDAL: band mapping, scaling to [0, 1], nodata, GSD."""

import math
import os
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, osr

from .raster_bands import choose_bands, unique_in_order
from .raster_complex import amplitude_view, is_complex, read_float32
from .raster_scaling import (
    channel_ranges,
    describe_scaling,
    sample_read_size,
    stretch_from_sample,
)
from .scale import tile_pixels
from .tiling import (
    pixel_size_xy_m,
    pixel_to_map,
    place_window,
    tile_windows,
    windows_in_extent,
)

# Where a raster has no geotransform, QGIS places its pixels at x = column, y = -row: so do we,
# so that outputs line up with the raster in QGIS (GDAL's default would put them at y = +row).
PIXEL_GEOTRANSFORM = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
RESAMPLE = {"nearest": gdal.GRIORA_NearestNeighbour, "average": gdal.GRIORA_Average,
            "bilinear": gdal.GRIORA_Bilinear}


# A tile whose every band spans at most one 8-bit step (on the model's 0-1 scale) shows no
# detail: its label would be a guess. Such tiles are mostly borders filled with one value
# and no nodata flag (black collars of mosaics), so they are skipped like nodata.
FLAT_SPREAD = 1.0 / 255.0


class RasterError(ValueError):
    """A raster cannot be read as asked; the message says what to change."""


@dataclass
class TileBatch:
    """Tiles ready for an image encoder.

    Attributes:
        windows: the `tiling.Window` of each tile, in raster pixels.
        pixels: float32 (B, C, S, S) in [0, 1]; nodata pixels hold the tile's band mean.
        valid_fraction: float32 (B,), share of valid pixels in the part of each tile that lies
            inside the raster.
        tiles_read: windows read to make this batch, skipped ones included (for progress).
    """

    windows: list
    pixels: np.ndarray
    valid_fraction: np.ndarray
    tiles_read: int = 0

    def __len__(self):
        return len(self.windows)


class RasterSource:
    """One raster opened read-only with GDAL, read as tiles in [0, 1] for a model.

    Args:
        path: any file or GDAL path (`/vsizip/...`) GDAL can open.
        bands: 1-based band numbers feeding the model's bands, as a list or "3,2,1"; one
            number is repeated. None picks: a single band repeated, red/green/blue by colour
            interpretation, else the first bands (1, 2, 3 for RGBA or RGBN).
        value_range: (min, max) mapped linearly to [0, 1] for every band, or (lows, highs) with
            one value per model band (`raster_scaling.channel_ranges`). None: Byte data is
            divided by 255, other types get a per-band 2nd-98th percentile stretch measured
            once on a decimated read of at most 1024 x 1024 valid pixels.
        valid_fraction: tiles with a smaller share of valid pixels are skipped.
        skip_flat: skip tiles that show one value in every band (see `FLAT_SPREAD`).
        model_bands: how many bands the model takes.
        band_names: the model's band names, matched against band descriptions for the default
            mapping (e.g. Sentinel-2 "B4").
        dataset: `path` already opened with `open_dataset` (None: open it here), or a view of
            it (`square_pixels.squared_view`).
        squared: the record of that view when it is one (kept in the fingerprint and logs).
        area: (col0, row0, col1, row1) raster pixels to work on as a raster of their own (its
            size, geotransform, stretch and tiles; nothing outside is read); None: all of it.

    Not thread-safe (GDAL dataset handles are not): use one source per thread.
    """

    def __init__(self, path, bands=None, value_range=None, valid_fraction=0.5, model_bands=3,
                 band_names=None, dataset=None, area=None, squared=None, skip_flat=False):
        if not 0.0 <= float(valid_fraction) <= 1.0:
            raise RasterError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")
        self.path = str(path)
        self.valid_fraction = float(valid_fraction)
        self.skip_flat = bool(skip_flat)
        self._ds = dataset or _open_dataset(self.path)
        self.squared = squared
        ds = self._ds
        self.width, self.height, self.band_count = ds.RasterXSize, ds.RasterYSize, ds.RasterCount
        self.data_type = gdal.GetDataTypeName(ds.GetRasterBand(1).DataType)
        self.geotransform = tuple(ds.GetGeoTransform(can_return_null=True) or PIXEL_GEOTRANSFORM)
        self.area = None
        if area is not None:
            self._crop(area)
        self.crs_wkt = ds.GetProjection() or ""
        srs = _srs(self.crs_wkt)
        self.is_geographic = bool(srs is not None and srs.IsGeographic())
        self.pixel_size_xy_m = _pixel_size_xy_m(self.geotransform, srs, self.width, self.height)
        self.pixel_size_m = math.sqrt(self.pixel_size_xy_m[0] * self.pixel_size_xy_m[1])
        try:
            self.bands = choose_bands(ds, bands, model_bands, band_names)
        except ValueError as err:
            raise RasterError(f"{self.path}: {err}") from None
        self._mask_bands = _mask_plan(ds, self.bands)
        self._alpha_band = _unused_alpha_band(ds, self.bands)
        # a band used twice (a 1-band raster repeated to RGB) is read and resampled once
        self._read_bands = unique_in_order(self.bands)
        self._band_take = [self._read_bands.index(b) for b in self.bands]
        self._low, self._high, self.scaling = self._measure_scaling(value_range)

    def _crop(self, area):
        """Work on the raster pixels `area` (col0, row0, col1, row1) as a raster of their own."""
        col0, row0 = max(0, int(area[0])), max(0, int(area[1]))
        col1, row1 = min(self.width, int(area[2])), min(self.height, int(area[3]))
        if col1 <= col0 or row1 <= row0:
            raise RasterError(f"{self.path}: the area {tuple(area)} misses the raster "
                              f"({self.width} x {self.height} pixels)")
        x0, y0 = pixel_to_map(self.geotransform, col0, row0)
        g = self.geotransform
        self.geotransform = (x0, g[1], g[2], y0, g[4], g[5])
        self.area = (col0, row0, col1, row1)
        self.width, self.height = col1 - col0, row1 - row0

    def _measure_scaling(self, value_range):
        """Per-channel low/high of the linear map to [0, 1], and its description."""
        channels = len(self.bands)
        if value_range is not None:
            try:
                lows, highs = channel_ranges(value_range, channels)
            except (TypeError, ValueError) as err:
                raise RasterError(str(err)) from None
            rule = "range"
        elif self.data_type == "Byte":
            lows, highs, rule = [0.0] * channels, [255.0] * channels, "byte"
        else:
            lows, highs, rule = self._percentile_stretch()
        return (np.array(lows, np.float32), np.array(highs, np.float32),
                describe_scaling(rule, lows, highs, self.bands))

    def _percentile_stretch(self):
        sample_w, sample_h = sample_read_size(self.width, self.height)
        raw, valid = self._read_raw(0, 0, self.width, self.height, sample_w, sample_h,
                                    RESAMPLE["nearest"])
        lows, highs = stretch_from_sample(raw, valid)
        return lows, highs, "percentile"

    def windows(self, tile_px, overlap_px, extent=None):
        """Tile windows over the raster (see `tiling.tile_windows`), those overlapping `extent`."""
        try:
            windows = tile_windows(self.width, self.height, tile_px, overlap_px)
            if extent is not None:
                windows = windows_in_extent(windows, self.geotransform, extent)
        except ValueError as err:
            raise RasterError(f"{self.path}: {err}") from None
        return windows

    def count_tiles(self, tile_px, overlap_px, extent=None):
        """How many windows `windows` gives (skipped ones included): the total for progress."""
        return len(self.windows(tile_px, overlap_px, extent))

    def iter_batches(self, tile_px, overlap_px, out_size, batch_size, extent=None, resample=None,
                     windows=None, on_flat=None):
        """Yield `TileBatch`es of at most `batch_size` tiles, resampled to `out_size` pixels.

        Reads one window at a time, so memory stays bounded whatever the raster's size. Tiles
        with no valid pixel or fewer than `valid_fraction` are skipped; no empty batch is
        yielded. `tile_px` is in raster pixels (see `tile_px_for_gsd`); `windows`, when
        given, replaces the grid (a caller that filtered it, by an area for example).
        """
        if int(batch_size) < 1:
            raise RasterError(f"batch_size must be at least 1, got {batch_size}")
        if windows is None:
            windows = self.windows(tile_px, overlap_px, extent)
        tiles, pixels, fractions, tiles_read = [], [], [], 0
        for window in windows:
            tiles_read += 1
            tile, _, fraction = self.read(window, out_size, resample)
            if fraction <= 0.0 or fraction < self.valid_fraction:
                continue
            if self.skip_flat and is_flat(tile):
                if on_flat is not None:
                    on_flat(window)
                continue
            tiles.append(window)
            pixels.append(tile)
            fractions.append(fraction)
            if len(tiles) == int(batch_size):
                yield _batch(tiles, pixels, fractions, tiles_read)
                tiles, pixels, fractions, tiles_read = [], [], [], 0
        if tiles:
            yield _batch(tiles, pixels, fractions, tiles_read)

    def read(self, window, out_size, resample=None):
        """One window as (pixels (C, S, S) in [0, 1], valid (S, S), valid fraction).

        Parts of the window outside the raster are invalid padding and do not count in the
        fraction. Invalid pixels take the tile's per-band mean of its valid pixels (0.5 when
        it has none), so nodata edges do not look like image edges to the model.
        """
        size = int(out_size)
        if size < 1:
            raise RasterError(f"out_size must be at least 1 pixel, got {out_size}")
        channels = len(self.bands)
        pixels = np.zeros((channels, size, size), np.float32)
        valid = np.zeros((size, size), bool)
        placed = place_window(window, size, self.width, self.height)
        if placed is None:
            return pixels + 0.5, valid, 0.0
        (x0, y0, x1, y1), (dx0, dy0, dx1, dy1) = placed
        alg = _resample_alg(resample, window.width, size)
        raw, ok = self._read_raw(x0, y0, x1 - x0, y1 - y0, dx1 - dx0, dy1 - dy0, alg)
        pixels[:, dy0:dy1, dx0:dx1] = self._scale(raw)
        valid[dy0:dy1, dx0:dx1] = ok
        _fill_invalid(pixels, valid)
        fraction = float(ok.sum()) / ok.size
        return pixels, valid, fraction

    def read_scaled(self, xoff, yoff, xsize, ysize, buf_w, buf_h):
        """Pixels (C, buf_h, buf_w) in [0, 1] of a raster rectangle (averaged when shrinking)
        and where they are valid: the image as the model sees it, at any size."""
        alg = _resample_alg(None, max(xsize, ysize), max(buf_w, buf_h))
        raw, valid = self._read_raw(int(xoff), int(yoff), int(xsize), int(ysize), int(buf_w),
                                    int(buf_h), alg)
        return self._scale(raw), valid

    def _scale(self, raw):
        span = np.maximum(self._high - self._low, np.finfo(np.float32).tiny)
        scaled = (raw - self._low[:, None, None]) / span[:, None, None]
        return np.clip(scaled, 0.0, 1.0, out=scaled)

    def _read_raw(self, xoff, yoff, xsize, ysize, buf_w, buf_h, alg):
        """Chosen bands as float32 (C, buf_h, buf_w) and where all of them are valid."""
        if self.area is not None:  # offsets are in the area's pixels
            xoff, yoff = xoff + self.area[0], yoff + self.area[1]
        data = read_float32(self._ds, xoff, yoff, xsize, ysize, buf_w, buf_h, self._read_bands,
                            alg)
        if data is None:
            raise RasterError(f"GDAL could not read pixels of {self.path}: "
                              f"{gdal.GetLastErrorMsg() or 'read error'}")
        data = data.reshape(len(self._read_bands), buf_h, buf_w)
        if len(self._read_bands) != len(self.bands):
            data = data[self._band_take]
        valid = np.isfinite(data).all(axis=0)
        for band_number in self._mask_bands:
            mask = self._ds.GetRasterBand(band_number).GetMaskBand().ReadAsArray(
                xoff, yoff, xsize, ysize, buf_xsize=buf_w, buf_ysize=buf_h, resample_alg=alg)
            valid &= mask > 0
        if self._alpha_band is not None:
            alpha = self._ds.GetRasterBand(self._alpha_band).ReadAsArray(
                xoff, yoff, xsize, ysize, buf_xsize=buf_w, buf_ysize=buf_h, resample_alg=alg)
            valid &= alpha > 0
        return data, valid

    @property
    def always_valid(self):
        """True when no band read has nodata, an alpha band or a mask: every pixel is valid."""
        return not self._mask_bands and self._alpha_band is None

    def pixel_size_at_row_m(self, row):
        """(width, height) in metres of the pixels of one row (they vary with the latitude in a
        geographic CRS)."""
        x, y = pixel_to_map(self.geotransform, 0, row)
        g = self.geotransform
        return _pixel_size_xy_m((x, g[1], g[2], y, g[4], g[5]), _srs(self.crs_wkt), 0, 0)

    def fingerprint(self):
        """What identifies this raster's content for cache keys (path, size, mtime, shape)."""
        try:
            stat = os.stat(self.path)
            size, mtime = stat.st_size, stat.st_mtime
        except OSError:  # a GDAL virtual path (/vsizip/...) has no stat of its own
            size, mtime = 0, 0.0
        path = self.path if self.path.startswith("/vsi") else os.path.abspath(self.path)
        record = {"path": path, "size": size, "mtime": mtime, "width": self.width,
                  "height": self.height, "bands": list(self.bands), "data_type": self.data_type}
        if self.area is not None:
            record["area"] = list(self.area)
        if self.squared is not None:
            record["square_pixels"] = self.squared
        return record

    def close(self):
        """Release the GDAL dataset."""
        self._ds = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_window(source, window, out_size, resample=None):
    """Read one window of `source` as (pixels (C, S, S) float32 in [0, 1], valid mask (S, S))."""
    pixels, valid, _ = source.read(window, out_size, resample)
    return pixels, valid


def tile_px_for_gsd(source, tile_size, gsd_m):
    """Raster pixels covering `tile_size` model pixels at `gsd_m` metres (<= 0: native pixels)."""
    return tile_pixels(tile_size, gsd_m, source.pixel_size_m)


def open_dataset(path):
    """A read-only GDAL dataset, or a RasterError saying why the file cannot be read."""
    return _open_dataset(str(path))


def _open_dataset(path):
    if not path.startswith("/vsi") and not os.path.exists(path):
        raise RasterError(f"raster file not found: {path}")
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # report GDAL's message in our error instead
    try:
        ds = gdal.Open(path, gdal.GA_ReadOnly)
    finally:
        gdal.PopErrorHandler()
    if ds is None:
        raise RasterError(f"GDAL cannot open {path} as a raster: "
                          f"{gdal.GetLastErrorMsg() or 'unknown format'}")
    if ds.RasterCount == 0:
        hint = "; open one of its subdatasets" if ds.GetSubDatasets() else ""
        raise RasterError(f"{path} has no raster bands{hint}")
    if ds.RasterXSize <= 0 or ds.RasterYSize <= 0:
        raise RasterError(f"{path} has zero size ({ds.RasterXSize} x {ds.RasterYSize} pixels)")
    return amplitude_view(ds, path) if is_complex(ds) else ds


def dataset_pixel_size_m(dataset):
    """(width, height) in metres of an opened dataset's pixels, at its centre."""
    geotransform = tuple(dataset.GetGeoTransform(can_return_null=True) or PIXEL_GEOTRANSFORM)
    return _pixel_size_xy_m(geotransform, _srs(dataset.GetProjection()), dataset.RasterXSize,
                            dataset.RasterYSize)


def _srs(wkt):
    if not wkt:
        return None
    srs = osr.SpatialReference()
    return srs if srs.ImportFromWkt(wkt) == 0 else None


def _pixel_size_xy_m(geotransform, srs, width, height):
    """Approximate pixel width and height in metres (no CRS: map units taken as metres)."""
    if srs is None:
        return pixel_size_xy_m(geotransform, width, height)
    if srs.IsGeographic():
        degrees = math.degrees(srs.GetAngularUnits())
        return pixel_size_xy_m(geotransform, width, height, degrees_per_unit=degrees)
    return pixel_size_xy_m(geotransform, width, height, metres_per_unit=srs.GetLinearUnits())


def _unused_alpha_band(ds, bands):
    """The number of an alpha band GDAL does not apply as a mask (it does so only for 2- and
    4-band rasters, so a 12-band Sentinel-2 scene warped with an alpha band would read its
    outside as valid zeros), or None."""
    if ds.GetRasterBand(bands[0]).GetMaskFlags() & gdal.GMF_ALPHA:
        return None
    for number in range(ds.RasterCount, 0, -1):
        if ds.GetRasterBand(number).GetColorInterpretation() == gdal.GCI_AlphaBand:
            return number if number not in bands else None
    return None


def _mask_plan(ds, bands):
    """Band numbers whose GDAL mask must be read (nodata value, alpha band or mask file)."""
    plan, dataset_mask_seen = [], False
    for number in unique_in_order(bands):
        flags = ds.GetRasterBand(number).GetMaskFlags()
        if flags & gdal.GMF_ALL_VALID:
            continue
        if flags & gdal.GMF_PER_DATASET:  # one mask shared by every band: read it once
            if dataset_mask_seen:
                continue
            dataset_mask_seen = True
        plan.append(number)
    return plan


def _resample_alg(resample, tile_px, out_size):
    if resample is None:  # average when shrinking, bilinear when enlarging
        resample = "average" if tile_px >= out_size else "bilinear"
    if resample not in RESAMPLE:
        raise RasterError(f"resample must be one of {sorted(RESAMPLE)}, got {resample!r}")
    return RESAMPLE[resample]


def is_flat(pixels):
    """True when every band of a tile (C, S, S) in [0, 1] spans at most `FLAT_SPREAD`.

    Invalid pixels hold their band's mean of the valid ones (`read`), so they never widen
    the span: this looks at the valid pixels alone.
    """
    spans = pixels.max(axis=(1, 2)) - pixels.min(axis=(1, 2))
    return bool((spans <= FLAT_SPREAD).all())


def _fill_invalid(pixels, valid):
    if valid.all():
        return
    for channel in pixels:
        values = channel[valid]
        channel[~valid] = values.mean() if values.size else 0.5


def _batch(windows, pixels, fractions, tiles_read):
    return TileBatch(list(windows), np.stack(pixels).astype(np.float32, copy=False),
                     np.asarray(fractions, np.float32), tiles_read)
