"""The ground scale a raster is tiled at: metres of ground a model pixel, chosen per raster."""

from dataclasses import dataclass

from .bundle import DEFAULT_MAX_UPSAMPLING

AUTOMATIC = "automatic"  # chosen from the raster's pixel size within the model's range
GIVEN = "given"  # the user's ground sample distance
NATIVE = "raster pixels"  # the user asked for the raster's own pixels (0)
MODEL_DEFAULT = "model default"  # a bundle without a range: its `gsd_m` for every raster
# Warn about a given scale this many times finer or coarser than the model's range.
FAR_OUTSIDE = 2.0


@dataclass(frozen=True)
class Scale:
    """The scale a raster is tiled at, and why.

    Attributes:
        gsd_m: metres of ground a model pixel (0: the raster's own pixels).
        tile_size: model pixels a tile side.
        tile_px: raster pixels a tile side.
        raster_gsd_m: metres of ground a raster pixel.
        how: AUTOMATIC, GIVEN, NATIVE or MODEL_DEFAULT.
        model_range_m: (finest, coarsest) metres a model pixel the model knows, or None.
        max_upsampling: the most model pixels a raster pixel should become, along a side.
        automatic_gsd_m: what AUTOMATIC picks for this raster (None: the model has no range).
        input_size: pixels a side of the image the encoder takes (None: `tile_size`); a tile
            of another size is resized to it, so the model sees another scale than `gsd_m`.
    """

    gsd_m: float
    tile_size: int
    tile_px: int
    raster_gsd_m: float
    how: str
    model_range_m: tuple = None
    max_upsampling: float = DEFAULT_MAX_UPSAMPLING
    automatic_gsd_m: float = None
    input_size: int = None

    @property
    def resized(self):
        """True when tiles are resized to an encoder input of another size than `tile_size`."""
        return self.input_size is not None and self.input_size != self.tile_size

    @property
    def seen_pixel_m(self):
        """Metres of ground a pixel of the image the encoder really takes."""
        return self.tile_ground_m / (self.input_size or self.tile_size)

    @property
    def seen_upsampling(self):
        """Encoder pixels a raster pixel becomes along a side."""
        return (self.input_size or self.tile_size) / self.tile_px

    @property
    def tile_ground_m(self):
        """Metres of ground a tile side covers."""
        return self.tile_px * self.raster_gsd_m

    @property
    def model_pixel_m(self):
        """Metres of ground a model pixel really covers (tile_px is rounded to whole pixels)."""
        return self.tile_ground_m / self.tile_size

    @property
    def upsampling(self):
        """Model pixels a raster pixel becomes along a side (above 1: enlarged, below: shrunk)."""
        return self.tile_size / self.tile_px

    def describe(self):
        """A short sentence for the log: the scale, the ground a tile covers, how chosen."""
        if self.how == NATIVE:
            text = f"the raster's own pixels of {_m(self.raster_gsd_m)}"
        else:
            text = f"{_m(self.model_pixel_m)} a model pixel"
        text += f", tiles of {_m(self.tile_ground_m)}"
        if self.upsampling > 1.05:
            text += f", raster pixels of {_m(self.raster_gsd_m)} enlarged {self.upsampling:.1f}x"
        elif self.upsampling < 0.95:
            text += (f", raster pixels of {_m(self.raster_gsd_m)} shrunk "
                     f"{1 / self.upsampling:.1f}x")
        if self.how == AUTOMATIC:
            low, high = self.model_range_m
            text += (f"; automatic: the model knows {_m(low)} to {_m(high)} a pixel and a "
                     f"raster pixel is enlarged at most {self.max_upsampling:g}x")
        elif self.how == MODEL_DEFAULT:
            text += "; the model's own scale"
        elif self.how == GIVEN:
            text += "; as given by Ground sample distance"
        if self.resized:
            text += (f"; each tile is resized to the model's input of {self.input_size} pixels, "
                     f"so it sees {_m(self.seen_pixel_m)} a pixel (raster pixels scaled "
                     f"{self.seen_upsampling:.2g}x)")
        return text

    def record(self):
        """Plain dict for the outputs' metadata."""
        return {"how": self.how, "gsd_m": round(self.model_pixel_m, 4),
                "tile_size": self.tile_size, "tile_px": self.tile_px,
                "tile_ground_m": round(self.tile_ground_m, 2),
                "raster_gsd_m": round(self.raster_gsd_m, 4),
                "upsampling": round(self.upsampling, 3),
                "model_range_m": list(self.model_range_m) if self.model_range_m else None,
                "max_upsampling": self.max_upsampling,
                "input_px": self.input_size or self.tile_size,
                "seen_gsd_m": round(self.seen_pixel_m, 4),
                "seen_upsampling": round(self.seen_upsampling, 3)}


def tile_pixels(tile_size, gsd_m, raster_gsd_m):
    """Raster pixels covering `tile_size` model pixels at `gsd_m` metres (<= 0: native pixels)."""
    if gsd_m is None or gsd_m <= 0:
        return int(tile_size)
    return max(1, int(round(tile_size * gsd_m / raster_gsd_m)))


def automatic_gsd(raster_gsd_m, preferred_m, scale_spec):
    """The finest scale within the model's range that enlarges a raster pixel at most
    `scale_spec.max_upsampling` times along a side, and no finer than `preferred_m`.

    A raster finer than the model's scales is shrunk to them (nothing is lost that the model
    could use); one too coarse gets the coarsest scale the model knows.
    """
    low, high = scale_spec.gsd_range_m
    preferred = preferred_m if preferred_m and preferred_m > 0 else low
    wanted = max(preferred, raster_gsd_m / scale_spec.max_upsampling)
    return min(max(wanted, low), high)


def choose_scale(raster_gsd_m, tile_size, requested_gsd_m, preferred_m, scale_spec,
                 input_size=None):
    """The Scale a raster is tiled at.

    Args:
        raster_gsd_m: metres of ground a raster pixel.
        tile_size: model pixels a tile side.
        requested_gsd_m: the user's ground sample distance: None for automatic, 0 for the
            raster's own pixels, else metres a model pixel.
        preferred_m: the bundle's (or its image encoder's) `gsd_m`.
        scale_spec: the bundle's ScaleSpec, or None (an older bundle: `preferred_m` always).
        input_size: pixels a side of the encoder's input (None: `tile_size`).
    """
    automatic = None if scale_spec is None else automatic_gsd(raster_gsd_m, preferred_m,
                                                              scale_spec)
    if requested_gsd_m is not None:
        gsd, how = float(requested_gsd_m), GIVEN if requested_gsd_m > 0 else NATIVE
    elif automatic is not None:
        gsd, how = automatic, AUTOMATIC
    else:
        gsd, how = preferred_m, MODEL_DEFAULT
    spec_range = None if scale_spec is None else tuple(scale_spec.gsd_range_m)
    most = DEFAULT_MAX_UPSAMPLING if scale_spec is None else scale_spec.max_upsampling
    return Scale(gsd if gsd > 0 else 0.0, int(tile_size),
                 tile_pixels(tile_size, gsd, raster_gsd_m), float(raster_gsd_m), how,
                 spec_range, most, automatic, input_size)


def scale_warnings(scale):
    """What the user should know about a scale that makes results unreliable, with the
    parameter to change: raster pixels blown up into blur, or tiles far outside what the
    model knows."""
    if scale.resized and scale.seen_upsampling > scale.max_upsampling * 1.05:
        return [f"Tile size {scale.tile_size} differs from the model's input of "
                f"{scale.input_size} pixels: each tile is resized to it, so each "
                f"{_m(scale.raster_gsd_m)} raster pixel is enlarged "
                f"{scale.seen_upsampling:.1f} times and the model sees blur ("
                f"{_m(scale.seen_pixel_m)} a pixel): leave Tile size empty (or "
                f"{scale.input_size}) and set the scale with Ground sample distance"]
    if scale.upsampling > scale.max_upsampling * 1.05:
        return [_blur_warning(scale)]
    if scale.model_range_m is None or scale.how == AUTOMATIC:
        return []
    low, high = scale.model_range_m
    side = scale.tile_size
    if not low / FAR_OUTSIDE <= scale.model_pixel_m <= high * FAR_OUTSIDE:
        finer = scale.model_pixel_m < low
        return [f"tiles of {_m(scale.tile_ground_m)} of ground ({_m(scale.model_pixel_m)} a "
                f"model pixel) are far {'smaller' if finer else 'larger'} than what this "
                f"model knows (tiles of {_m(low * side)} to {_m(high * side)}, {_m(low)} to "
                f"{_m(high)} a model pixel), so its results are unreliable: set Ground "
                f"sample distance to -1 (automatic: {_m(scale.automatic_gsd_m)} here)"]
    return []


def _blur_warning(scale):
    enlarged = (f"each {_m(scale.raster_gsd_m)} raster pixel is enlarged "
                f"{scale.upsampling:.1f} times")
    if scale.how == AUTOMATIC:
        low, high = scale.model_range_m
        return (f"the raster's pixels ({_m(scale.raster_gsd_m)}) are coarser than this model "
                f"knows ({_m(low)} to {_m(high)} a model pixel): even at its coarsest scale "
                f"{enlarged}, so it sees blur and its results are unreliable. A model trained "
                f"on coarser imagery would do better; or set Ground sample distance to 0 (the "
                f"raster's own pixels: no blur, but tiles of "
                f"{_m(scale.raster_gsd_m * scale.tile_size)}, larger than the model knows)")
    least = f"at least {scale.raster_gsd_m / scale.max_upsampling:.3g} m"
    hint = (f"-1 (automatic: {_m(scale.automatic_gsd_m)} here) or {least}"
            if scale.automatic_gsd_m else f"{least}, or 0 for the raster's own pixels")
    return (f"at {_m(scale.model_pixel_m)} a model pixel {enlarged}: the model sees blur, not "
            f"detail, and its results are unreliable. Set Ground sample distance to {hint}")


def _m(metres):
    """A distance in words: '640 m', '1.28 km', '0.6 m'."""
    if metres >= 1000:
        return f"{metres / 1000:.3g} km"
    return f"{metres:.3g} m"
