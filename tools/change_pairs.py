"""Real "before / after" raster pairs with a known truth, for testing and measuring change
detection: a mosaic of real scenes, and a copy where some cells hold other real scenes (of
another class), warped to another CRS and pixel size as a second date would come.

The pixels are all real photographs; what is not real is the time between them: nothing but
the replaced cells differs (no season, sensor or viewing-angle change unless `light` is given,
no registration error beyond the two resamplings).
"""

import csv
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

ORIGIN = (741000.0, 3741000.0)  # UTM 16N near Atlanta, as demo/make_sample_raster.py


def scenes(folder, pattern):
    """{class: sorted image paths} of a scene data set laid out as <class>/<image> or
    <class>_<n>.<ext> (AID)."""
    found = {}
    for path in sorted(Path(folder).glob(pattern)):
        name = path.parent.name if path.parent != Path(folder) else path.stem.rsplit("_", 1)[0]
        found.setdefault(name, []).append(path)
    return found


def read_rgb(path, side):
    """A scene as a (3, side, side) uint8 array."""
    dataset = gdal.Open(str(path))
    return dataset.ReadAsArray(buf_xsize=side, buf_ysize=side)[:3].astype(np.uint8)


def draw(by_class, cells, rng):
    """`cells` (class, path) pairs drawn at random without repeats; and what is left to draw."""
    classes = sorted(by_class)
    pool = {c: [by_class[c][i] for i in rng.permutation(len(by_class[c]))] for c in classes}
    picks = []
    for _ in range(cells):
        name = str(rng.choice([c for c in classes if pool[c]]))
        picks.append((name, pool[name].pop()))
    return picks, pool


def replaced(picks, pool, fraction, rng):
    """A copy of `picks` where round(fraction x cells) cells hold a scene of another class
    (not used elsewhere in either raster); and which cells changed."""
    count = int(round(fraction * len(picks)))
    changed = np.zeros(len(picks), bool)
    changed[rng.permutation(len(picks))[:count]] = True
    after = list(picks)
    for cell in np.nonzero(changed)[0]:
        others = sorted(c for c in pool if c != picks[cell][0] and pool[c])
        name = str(rng.choice(others))
        after[cell] = (name, pool[name].pop())
    return after, changed


def write_mosaic(path, picks, grid, side, gsd, epsg=32616, light=None):
    """A grid x grid mosaic of the picked scenes, `side` px a cell at `gsd` m, as a GeoTIFF.

    `light` = (gamma, (gain red, gain green, gain blue)) changes brightness and colour balance
    as another date's sun and atmosphere might (a synthetic change of the real pixels).
    """
    data = np.zeros((3, grid * side, grid * side), np.uint8)
    for number, (_name, image) in enumerate(picks):
        row, col = divmod(number, grid)
        data[:, row * side:(row + 1) * side, col * side:(col + 1) * side] = read_rgb(image, side)
    if light is not None:
        gamma, gains = light
        scaled = (data / 255.0) ** gamma * np.asarray(gains, np.float64)[:, None, None]
        data = np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), grid * side, grid * side, 3,
                                                   gdal.GDT_Byte, options=["COMPRESS=DEFLATE"])
    dataset.SetGeoTransform((ORIGIN[0], gsd, 0, ORIGIN[1], 0, -gsd))
    dataset.SetProjection(srs.ExportToWkt())
    for band in range(3):
        dataset.GetRasterBand(band + 1).WriteArray(data[band])
        dataset.GetRasterBand(band + 1).SetColorInterpretation(gdal.GCI_RedBand + band)
    dataset = None
    return str(path)


def warp(source, target, epsg, pixel):
    """`source` reprojected to EPSG `epsg` at `pixel` CRS units a pixel (bilinear)."""
    options = gdal.WarpOptions(dstSRS=f"EPSG:{epsg}", xRes=pixel, yRes=pixel,
                               resampleAlg="bilinear", creationOptions=["COMPRESS=DEFLATE"])
    if gdal.Warp(str(target), str(source), options=options) is None:
        raise RuntimeError(gdal.GetLastErrorMsg())
    return str(target)


def make_pair(folder, by_class, grid, side, gsd, fraction, seed, after_epsg=4326,
              after_pixel=None, light=None):
    """Write before.tif (UTM 16N) and after.tif (another CRS and pixel size) into `folder`.

    `after_pixel` defaults to 1.3 x `gsd` north-south in degrees (the after raster in
    longitude/latitude, a little coarser); `light` as in `write_mosaic`.

    Returns:
        (before path, after path, bool array of changed cells, row by row).
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    picks, pool = draw(by_class, grid * grid, rng)
    after, changed = replaced(picks, pool, fraction, rng)
    before = write_mosaic(folder / "before.tif", picks, grid, side, gsd)
    same_crs = write_mosaic(folder / "after_utm16.tif", after, grid, side, gsd, light=light)
    pixel = after_pixel if after_pixel else 1.3 * gsd / 111_000.0
    moved = warp(same_crs, folder / "after.tif", after_epsg, pixel)
    Path(same_crs).unlink()
    with open(folder / "truth.csv", "w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle)
        rows.writerow(["cell", "before", "after", "changed"])
        for cell, (first, second) in enumerate(zip(picks, after)):
            rows.writerow([cell, first[1].name, second[1].name, int(changed[cell])])
    return before, moved, changed
