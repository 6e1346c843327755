"""Tile settings, and a raster opened for a model with them: tile size, scale, windows, encoder."""

from dataclasses import dataclass, field

from osgeo import ogr

from .encoders import check_views
from .geometry import polygon_from_ring
from .raster import RasterError, RasterSource, open_dataset
from .raster_bands import AUTO, choose_image_spec, parse_band_mapping
from .scale import AUTOMATIC, choose_scale, scale_warnings
from .square_pixels import squared_view, why_not_squared
from .tiling import extent_pixel_box, window_footprint

# A raster must have at least this many pixels a side, and fill at least 1/this of a tile's side.
MIN_SIDE_PX = 8
DEFAULT_VIEWS = 3  # see TileSettings.views


@dataclass
class TileSettings:
    """How a raster is cut into tiles for a model.

    Attributes:
        tile_size: model pixels a tile (None: the bundle's default).
        gsd_m: metres of ground a model pixel (None: automatic, chosen from the raster's pixel
            size within the model's range, or the bundle's `gsd_m` for a bundle without one;
            0: the raster's own pixels). `open_tiled` keeps it as asked and gives the scale it
            chose as `TiledRaster.scale`.
        overlap: share of a tile shared with its neighbour, 0 <= overlap < 1.
        bands: 1-based raster band numbers feeding the model's bands, as a list or as text
            such as "4,3,2" (None: automatic); `resolved` turns text into the list.
        value_range: (min, max) scaled to [0, 1] (None: the raster's type decides).
        valid_fraction: tiles with less valid (non-nodata) area are skipped.
        batch_size: tiles encoded together.
        extent: (minx, miny, maxx, maxy) in the raster CRS to restrict the work to.
        area_wkt: a (multi)polygon in the raster CRS, as WKT: only tiles touching it are used.
        encoder: the bundle's image encoder to use by name ("rgb", "pan", "s2" ...); None or
            "auto" picks the one that fits the raster's bands (or the band mapping).
        views: rotations of each tile encoded and averaged, 1 to 4 (0, 180, 90, 270 degrees
            in that order; see `ImageEncoder.encode_embeddings`). 3 by default, the fewest
            within 0.5 points of the best on every figure of AID validation images (never UC
            Merced or RSSCN7): against 1 view, +2.0 points zero-shot (+1.7 refined) and +3.3,
            +2.0 and +1.3 with 1, 5 and 16 examples a class; 4 views gained no more than 0.3
            (`python -m training fewshot-select`). Prompt masks use one view (their dense maps
            are not rotated).
        skip_flat: skip tiles that show one value in every band, like nodata (no detail to
            recognise; mostly borders filled without a nodata flag). See `raster.FLAT_SPREAD`.
    """

    tile_size: int = None
    gsd_m: float = None
    overlap: float = 0.0
    bands: object = None
    value_range: tuple = None
    valid_fraction: float = 0.5
    batch_size: int = 16
    extent: tuple = None
    area_wkt: str = None
    encoder: str = None
    views: int = DEFAULT_VIEWS
    skip_flat: bool = True

    def resolved(self, bundle, spec=None):
        """A copy with the bundle's defaults filled in, checked; `gsd_m` stays None when it is
        automatic (`open_tiled` chooses it for the raster, see `scale.choose_scale`)."""
        tile_size = int(self.tile_size or bundle.tile_size)
        gsd_m = None if self.gsd_m is None else float(self.gsd_m)
        if not 0.0 <= float(self.overlap) < 1.0:
            raise ValueError(f"overlap is a share of the tile, 0 to below 1; got {self.overlap}")
        if tile_size < 8:
            raise ValueError(f"tile size must be at least 8 pixels, got {tile_size}")
        if gsd_m is not None and gsd_m < 0:
            raise ValueError(f"ground sample distance must be 0 (the raster's own pixels) or "
                             f"more, got {gsd_m}; leave it empty (-1 in Processing) for "
                             "automatic")
        return TileSettings(tile_size, gsd_m, float(self.overlap),
                            parse_band_mapping(self.bands), self.value_range,
                            self.valid_fraction, max(1, int(self.batch_size)), self.extent,
                            self.area_wkt, self.encoder or AUTO, check_views(self.views),
                            bool(self.skip_flat))

    def describe(self):
        """Plain dict for provenance records and cache keys."""
        return {"tile_size": self.tile_size, "gsd_m": self.gsd_m, "overlap": self.overlap,
                "bands": self.bands, "value_range": self.value_range,
                "valid_fraction": self.valid_fraction, "extent": self.extent,
                "area_wkt": self.area_wkt, "encoder": self.encoder, "views": self.views,
                "skip_flat": self.skip_flat}


def preferred_gsd(bundle, spec=None):
    """The bundle's `gsd_m`, or its image encoder `spec`'s when that has its own."""
    return bundle.gsd_m if spec is None or spec.gsd_m is None else spec.gsd_m


@dataclass
class TiledRaster:
    """A raster opened for a model, with its tile size in raster pixels, the scale it is tiled
    at (`scale.Scale`) and its image encoder."""

    source: RasterSource
    settings: TileSettings
    tile_px: int
    overlap_px: int
    windows: list = field(default_factory=list)
    encoder: object = None  # the model's ImageEncoder that fits the raster's bands
    warnings: list = field(default_factory=list)  # what the user should know about the tiling
    scale: object = None  # the scale.Scale tiles are read at

    @property
    def windows_total(self):
        return len(self.windows)


def open_tiled(path, model, settings):
    """Open `path` for `model` with `settings` resolved against the model's bundle."""
    bundle = model.bundle
    dataset = open_dataset(path)
    spec = choose_image_spec(bundle, dataset, settings.bands, settings.encoder)
    settings = settings.resolved(bundle, spec)
    dataset, squared = squared_view(dataset)
    options = {"bands": settings.bands, "valid_fraction": settings.valid_fraction,
               "model_bands": len(spec.bands), "band_names": spec.bands, "dataset": dataset,
               "squared": squared, "skip_flat": settings.skip_flat}
    area = None
    if settings.extent is not None:  # sizes only: a given value range reads no pixel
        whole = RasterSource(path, value_range=(0.0, 1.0), **options)
        area = work_area(whole, settings.extent,
                         raster_scale(whole, settings, bundle, spec).tile_px)
    source = RasterSource(path, value_range=settings.value_range, area=area, **options)
    scale = raster_scale(source, settings, bundle, spec)
    tile_px = scale.tile_px
    check_tile_fits(source, tile_px)
    overlap_px = min(tile_px - 1, int(round(tile_px * settings.overlap)))
    windows = source.windows(tile_px, overlap_px, settings.extent)
    if settings.area_wkt:
        windows = windows_touching(windows, source.geotransform, settings.area_wkt)
    if not windows:
        raise ValueError("no tile of the raster lies in the chosen extent or area: check that "
                         "they overlap the raster (and are in a CRS QGIS can transform)")
    warnings = (scale_warnings(scale) + unknown_pixel_size_warning(source, settings)
                + stretched_pixels_warning(source, dataset)
                + tiling_warnings(source, scale, spec.size))
    return TiledRaster(source, settings, tile_px, overlap_px, windows,
                       encoder=model.image_for(spec.name), warnings=warnings, scale=scale)


def raster_scale(source, settings, bundle, spec):
    """The scale.Scale `source` is tiled at with resolved `settings` (automatic or given)."""
    return choose_scale(source.pixel_size_m, settings.tile_size, settings.gsd_m,
                        preferred_gsd(bundle, spec), bundle.scale, spec.size)


def work_area(source, extent, tile_px):
    """The raster pixels (col0, row0, col1, row1) an extent needs: its own, at least a tile a side
    (centred on it) where the raster allows; None when that is the whole raster.

    Working on that area alone keeps a small extent of a huge raster as fast as a small raster:
    nothing else is read, not even for the value stretch.
    """
    col0, row0, col1, row1 = extent_pixel_box(source.geotransform, extent)
    col0, row0 = max(col0, 0), max(row0, 0)
    col1, row1 = min(col1, source.width), min(row1, source.height)
    if col1 <= col0 or row1 <= row0:
        raise ValueError("no tile of the raster lies in the chosen extent or area: check that "
                         "they overlap the raster (and are in a CRS QGIS can transform)")
    col0, col1 = _at_least(col0, col1, tile_px, source.width)
    row0, row1 = _at_least(row0, row1, tile_px, source.height)
    if (col0, row0, col1, row1) == (0, 0, source.width, source.height):
        return None
    return col0, row0, col1, row1


def _at_least(start, stop, size, length):
    """[start, stop) grown around its middle to `size` (within [0, length))."""
    missing = size - (stop - start)
    if missing <= 0:
        return start, stop
    start = max(0, start - missing // 2)
    stop = min(length, start + size)
    return max(0, stop - size), stop


def check_tile_fits(source, tile_px):
    """Refuse a raster too small to fill a useful part of a tile of `tile_px` raster pixels
    (a 1 x 1 raster, a 3-pixel strip, or tiles made huge by the tile size or the GSD)."""
    side = min(source.width, source.height)
    if side < MIN_SIDE_PX or side * MIN_SIDE_PX < tile_px:
        size = f"{source.width} x {source.height} pixels"
        if source.squared is not None:
            before = source.squared["size_before"]
            size = f"{before[0]} x {before[1]} pixels, read as {size} square on the ground"
        raise RasterError(
            f"{source.path} is too small for its tiles: {size}, and a tile covers "
            f"{tile_px} x {tile_px}; a raster needs at least "
            f"{MIN_SIDE_PX} pixels and 1/{MIN_SIDE_PX} of a tile a side: lower the tile size "
            "or the ground sample distance (0: the raster's own pixels)")


def unknown_pixel_size_warning(source, settings):
    """A warning when the raster has no CRS and the scale is automatic: its map units (or, with
    no georeferencing at all, its pixels) are taken as metres, which may be far off."""
    if source.crs_wkt or settings.gsd_m is not None:
        return []
    return [f"the raster has no coordinate reference system, so its pixels are taken as "
            f"{source.pixel_size_m:.3g} m of ground (map units as metres) and the automatic scale "
            "may be wrong: set Ground sample distance to the metres of ground a model pixel "
            "should show, or give the raster its CRS"]


STRETCH_WARNED = 1.15  # pixels this much longer one way than the other on the ground


def stretched_pixels_warning(source, dataset):
    """A warning when tiles still show the ground stretched: pixels far from square that could
    not be read as square ones (`square_pixels`), or a longitude / latitude raster so tall that
    its pixels, squared at its centre, are far from square at its northern or southern edge."""
    if source.squared is None:
        width, height = source.pixel_size_xy_m
        stretch = _stretch(width, height)
        if stretch < STRETCH_WARNED:
            return []
        why = why_not_squared(dataset, width, height)
        return [f"the raster's pixels cover {width:.3g} x {height:.3g} m of ground and could not "
                f"be read as square ones ({why}), so its square tiles are stretched "
                f"{stretch:.2f} to 1 and the model sees scenes squashed: reproject the raster to "
                "a projected CRS (its UTM zone, say) with square pixels for better results"]
    centre = _ratio(*source.pixel_size_xy_m)
    edges = [_ratio(*source.pixel_size_at_row_m(row)) for row in (0, source.height)]
    stretch = max(max(edge, centre) / min(edge, centre) for edge in edges)
    if stretch < STRETCH_WARNED:
        return []
    return [f"the raster spans so many degrees of latitude that its pixels, made square on the "
            f"ground at its centre, are stretched up to {stretch:.2f} to 1 near its northern or "
            "southern edge, so the model sees scenes there squashed: reproject the raster to a "
            "projected CRS with square pixels, or split it into bands of latitude"]


def _ratio(width, height):
    return width / height if width > 0 and height > 0 else 1.0


def _stretch(width, height):
    return max(width, height) / min(width, height) if min(width, height) > 0 else 1.0


def tiling_warnings(source, scale, input_px):
    """Warnings about a tiling (`scale.Scale`) that makes results describe far more than a tile
    should."""
    largest, tile_px = max(source.width, source.height), scale.tile_px
    if tile_px >= largest and largest > 2 * input_px and _at_finest(scale):
        return [f"the whole raster ({scale.raster_gsd_m * source.width:.3g} x "
                f"{scale.raster_gsd_m * source.height:.3g} m) is smaller than one tile at the "
                f"finest scale this model knows ({scale.tile_ground_m:.3g} m), so it is "
                "labelled as one tile. A smaller Ground sample distance gives more tiles, but "
                "at scales the model was not trained on: expect less reliable results"]
    if tile_px >= largest and largest > 2 * input_px:
        gsd = (f"{scale.model_pixel_m:.3g} m a model pixel" if scale.gsd_m
               else "the raster's own pixels")
        return [f"the whole raster ({source.width} x {source.height} pixels) fits in one tile "
                f"of {tile_px} x {tile_px} raster pixels ({scale.tile_size} model pixels at "
                f"{gsd}), so every result describes the whole raster: set a smaller Ground "
                "sample distance (0 = the raster's own pixels) or Tile size for finer results"]
    return []


def _at_finest(scale):
    """True when the automatic scale is already the finest the model knows."""
    return (scale.how == AUTOMATIC and scale.model_range_m is not None
            and scale.model_pixel_m <= scale.model_range_m[0] * 1.05)


def windows_touching(windows, geotransform, area_wkt):
    """The windows whose footprint intersects a polygon given as WKT in the raster CRS."""
    area = ogr.CreateGeometryFromWkt(area_wkt)
    if area is None or area.IsEmpty():
        raise ValueError("the area to work in is empty or not a valid polygon")
    return [w for w in windows
            if polygon_from_ring(window_footprint(w, geotransform)).Intersects(area)]
