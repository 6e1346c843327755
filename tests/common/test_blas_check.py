"""The slow-BLAS check: GSL's reference CBLAS loaded by QGIS shadows numpy's OpenBLAS."""

from terralens.plugin.common import blas_check


def test_warned_only_when_the_global_cblas_is_gsls():
    warning = blas_check.slow_blas_warning("/usr/lib/x86_64-linux-gnu/libgslcblas.so.0")
    assert "libgslcblas.so.0" in warning and "LD_PRELOAD=" in warning
    assert blas_check.slow_blas_warning(
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3") is None
    assert blas_check.slow_blas_warning("") is None


def test_plain_python_has_no_global_cblas_to_shadow_numpys():
    """numpy loads its BLAS privately; a plain Python program exports no cblas_sgemm."""
    import numpy  # noqa: F401

    assert blas_check.global_cblas_library() is None
    assert blas_check.slow_blas_warning() is None
