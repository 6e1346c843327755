"""Complex rasters (SAR single-look complex) read as their amplitude |z|, through a GDAL VRT."""

from xml.sax.saxutils import escape

from osgeo import gdal, gdal_array

AMPLITUDE_KEY = "TERRALENS_AMPLITUDE"  # marks a dataset made by `amplitude_view`


def is_complex(dataset):
    """Whether any band of a GDAL dataset holds complex values."""
    return any(gdal.DataTypeIsComplex(dataset.GetRasterBand(n).DataType)
               for n in range(1, dataset.RasterCount + 1))


def amplitude_view(dataset, path):
    """A Float32 VRT dataset whose bands are the amplitudes of `dataset`'s (opened from `path`).

    GDAL would otherwise read a complex band as its real part, which for SAR data is noise.
    """
    bands = "".join(_band_xml(dataset.GetRasterBand(n), n, path)
                    for n in range(1, dataset.RasterCount + 1))
    geotransform = dataset.GetGeoTransform(can_return_null=True)
    xml = (f'<VRTDataset rasterXSize="{dataset.RasterXSize}" '
           f'rasterYSize="{dataset.RasterYSize}">'
           f'<Metadata><MDI key="{AMPLITUDE_KEY}">YES</MDI></Metadata>'
           + (f"<SRS>{escape(dataset.GetProjection())}</SRS>" if dataset.GetProjection() else "")
           + (f"<GeoTransform>{', '.join(repr(v) for v in geotransform)}</GeoTransform>"
              if geotransform else "")
           + bands + "</VRTDataset>")
    return gdal.Open(xml)


def _band_xml(band, number, path):
    nodata = band.GetNoDataValue()  # a complex nodata value z has the amplitude |z|
    return (f'<VRTRasterBand dataType="Float32" band="{number}" '
            'subClass="VRTDerivedRasterBand"><PixelFunctionType>mod</PixelFunctionType>'
            # read the sources as complex: by default they are read as the band's Float32
            "<SourceTransferType>CFloat64</SourceTransferType>"
            + (f"<NoDataValue>{abs(nodata)!r}</NoDataValue>" if nodata is not None else "")
            + f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(path)}</SourceFilename>'
            f"<SourceBand>{number}</SourceBand></SimpleSource></VRTRasterBand>")


def read_float32(dataset, xoff, yoff, xsize, ysize, buf_w, buf_h, bands, alg):
    """`dataset.ReadAsArray` as float32; on an amplitude view, a shrinking read averages
    amplitudes (as multi-looking does), where GDAL would average the complex values first."""
    shrinking = buf_w < xsize or buf_h < ysize
    if (shrinking and alg != gdal.GRIORA_NearestNeighbour
            and dataset.GetMetadataItem(AMPLITUDE_KEY) == "YES"):
        full = dataset.ReadAsArray(xoff, yoff, xsize, ysize, band_list=bands,
                                   buf_type=gdal.GDT_Float32)
        if full is None:
            return None
        dataset = gdal_array.OpenArray(full.reshape(len(bands), ysize, xsize))
        xoff, yoff, bands = 0, 0, list(range(1, len(bands) + 1))
    return dataset.ReadAsArray(xoff, yoff, xsize, ysize, buf_xsize=buf_w, buf_ysize=buf_h,
                               band_list=bands, buf_type=gdal.GDT_Float32, resample_alg=alg)
