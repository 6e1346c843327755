"""Which image encoder fits a raster, and which raster bands feed its bands (user's or default)."""

from osgeo import gdal

from .band_names import SENTINEL2_L1C, SENTINEL2_L2A

RGB_INTERPRETATIONS = (gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand)
AUTO = "auto"


def unique_in_order(numbers):
    """The distinct numbers of a list, first occurrence first."""
    return list(dict.fromkeys(numbers))


def parse_band_mapping(bands):
    """Band numbers from a list, a single number or a string like "4,3,2" (None stays None).

    Raises:
        ValueError: anything that is not whole band numbers.
    """
    if bands is None:
        return None
    if isinstance(bands, str):
        parts = [part for part in bands.replace(" ", ",").split(",") if part]
    elif isinstance(bands, (int, float)):
        parts = [bands]
    else:
        parts = bands
    try:
        numbers = [_band_number(part) for part in parts]
    except (TypeError, ValueError):
        numbers = []
    if not numbers:
        raise ValueError(f"band mapping must be 1-based band numbers such as '3,2,1', "
                         f"got {bands!r}")
    return numbers


def _band_number(part):
    if isinstance(part, bool) or (isinstance(part, float) and not part.is_integer()):
        raise ValueError(part)
    return int(part.strip()) if isinstance(part, str) else int(part)


def data_bands(dataset):
    """1-based numbers of the raster's bands that hold data (alpha bands left out)."""
    count = dataset.RasterCount
    numbers = [i for i in range(1, count + 1)
               if dataset.GetRasterBand(i).GetColorInterpretation() != gdal.GCI_AlphaBand]
    return numbers or list(range(1, count + 1))


def choose_image_spec(bundle, dataset, bands=None, requested=None):
    """The bundle's image encoder for this raster.

    The one asked for by name; else the first (main first) whose band count equals the band
    mapping's or the raster's data bands (a 13-band Sentinel-2 L1C raster fits a 12-band L2A
    encoder); else the main encoder, which repeats a single band or takes the RGB ones.
    """
    if requested and requested != AUTO:
        return bundle.image_spec(requested)
    numbers = parse_band_mapping(bands)
    count = len(numbers) if numbers is not None else len(data_bands(dataset))
    for spec in bundle.image_specs:
        if len(spec.bands) == count:
            return spec
    if numbers is None and count == len(SENTINEL2_L1C):
        for spec in bundle.image_specs:
            if tuple(spec.bands) == SENTINEL2_L2A:
                return spec
    return bundle.image


def choose_bands(dataset, bands, model_bands, band_names=None):
    """The 1-based raster bands feeding each of the model's `model_bands` bands.

    A user mapping of one band is repeated; otherwise it must name one band per model band.

    Raises:
        ValueError: a mapping of the wrong length or naming a band the raster lacks.
    """
    count = dataset.RasterCount
    numbers = parse_band_mapping(bands)
    if numbers is None:
        return default_bands(dataset, model_bands, band_names)
    if len(numbers) == 1:
        numbers = numbers * model_bands
    if len(numbers) != model_bands:
        raise ValueError(f"the model takes {model_bands} bands but the band mapping "
                         f"{bands!r} names {len(numbers)}: give {model_bands} band numbers "
                         f"(or one, to repeat it)")
    wrong = [n for n in numbers if not 1 <= n <= count]
    if wrong:
        raise ValueError(f"band mapping {bands!r} names band {wrong[0]}, but the raster has "
                         f"{count} band{'s' if count > 1 else ''} (numbered 1 to {count})")
    return numbers


def default_bands(dataset, model_bands, band_names=None):
    """Bands named like the model's (band descriptions, Sentinel-2 L1C order); one band
    repeated; red, green, blue by colour interpretation; else the first bands."""
    count = dataset.RasterCount
    interpretations = [dataset.GetRasterBand(i).GetColorInterpretation()
                       for i in range(1, count + 1)]
    named = bands_by_name(dataset, band_names)
    if named:
        return named
    data_bands = [i + 1 for i, kind in enumerate(interpretations) if kind != gdal.GCI_AlphaBand]
    data_bands = data_bands or list(range(1, count + 1))
    if len(data_bands) == 1:
        return data_bands * model_bands
    if model_bands == 3 and all(kind in interpretations for kind in RGB_INTERPRETATIONS):
        return [interpretations.index(kind) + 1 for kind in RGB_INTERPRETATIONS]
    if len(data_bands) >= model_bands:
        return data_bands[:model_bands]
    example = ",".join(str(b) for b in (data_bands * model_bands)[:model_bands])
    raise ValueError(f"the raster has {len(data_bands)} bands and the model takes "
                     f"{model_bands}: choose a band mapping, {model_bands} raster band numbers "
                     f"in Bands (e.g. {example}), or an Image encoder made for "
                     f"{len(data_bands)} bands (auto picks one when the model has it)")


def bands_by_name(dataset, band_names):
    """Band numbers whose descriptions are the model's band names (e.g. "B4"), else None.

    A 13-band raster without such descriptions, fed to a Sentinel-2 L2A encoder, is read as
    L1C order with the cirrus band B10 left out.
    """
    if not band_names:
        return None
    descriptions = [(dataset.GetRasterBand(i).GetDescription() or "").strip().upper()
                    for i in range(1, dataset.RasterCount + 1)]
    wanted = [name.upper() for name in band_names]
    if all(name in descriptions for name in wanted):
        return [descriptions.index(name) + 1 for name in wanted]
    if tuple(band_names) == SENTINEL2_L2A and dataset.RasterCount == len(SENTINEL2_L1C):
        return [SENTINEL2_L1C.index(name) + 1 for name in SENTINEL2_L2A]
    return None
