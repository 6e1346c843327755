"""qgis_process tells when QGIS's GSL CBLAS slows numpy's matrix products (Debian's QGIS)."""

import shutil
import subprocess

OPENBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"


def test_qgis_process_is_told_when_its_binary_links_gsl(qgis_process):
    """The real qgis_process: warned exactly when the binary links libgslcblas (Debian's
    QGIS does), and not when OpenBLAS is preloaded."""
    binary = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
    linked = "libgslcblas" in subprocess.run(["ldd", binary], capture_output=True,
                                             text=True).stdout
    args = ("run", "terralens:buildindex", "--", f"INPUT={qgis_process.home / 'r.tif'}")
    make_raster(qgis_process.home / "r.tif")
    first = qgis_process.run(*args)
    told = "a plain and slow BLAS" in first.stdout + first.stderr
    assert told == linked
    if linked:
        qgis_process.env["LD_PRELOAD"] = OPENBLAS
        try:
            again = qgis_process.run(*args)
        finally:
            qgis_process.env.pop("LD_PRELOAD")
        assert "a plain and slow BLAS" not in again.stdout + again.stderr


def make_raster(path):
    import numpy as np
    from osgeo import gdal, osr

    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 256, 256, 3, gdal.GDT_Byte)
    dataset.SetGeoTransform((400000.0, 0.6, 0.0, 5000000.0, 0.0, -0.6))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    dataset.SetProjection(srs.ExportToWkt())
    for number in range(1, 4):
        dataset.GetRasterBand(number).WriteArray(
            np.random.default_rng(number).integers(0, 255, (256, 256), dtype=np.uint8))
    dataset = None
