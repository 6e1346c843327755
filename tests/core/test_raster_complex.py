"""Complex (SAR) rasters read as amplitude."""

import numpy as np
from gdal_files import ramp
from osgeo import gdal

from terralens.plugin.core.raster import PIXEL_GEOTRANSFORM, RasterSource, read_window
from terralens.plugin.core.tiling import Window


def test_complex_raster_is_read_as_its_amplitude(tmp_path):
    """SAR single-look complex data: |z|, averaged after the amplitude is taken."""
    amplitude = ramp(16, 16, start=10)
    phase = np.linspace(0, 20, amplitude.size).reshape(amplitude.shape)
    path = tmp_path / "slc.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 16, 16, 1, gdal.GDT_CFloat32)
    ds.GetRasterBand(1).WriteArray(amplitude * np.exp(1j * phase))
    ds = None
    with RasterSource(path, value_range=(0, 1000)) as source:
        assert source.data_type == "Float32" and source.geotransform == PIXEL_GEOTRANSFORM
        pixels, valid = read_window(source, Window(0, 0, 16, 16), 16)
        assert valid.all()
        np.testing.assert_allclose(pixels[0] * 1000, amplitude, rtol=1e-5)
        shrunk, _ = read_window(source, Window(0, 0, 16, 16), 8)  # mean of amplitudes
        np.testing.assert_allclose(shrunk[0, 0, 0] * 1000, amplitude[:2, :2].mean(), rtol=1e-5)
