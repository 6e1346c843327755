"""A slow BLAS in the QGIS process: GSL's reference CBLAS taking the place of numpy's own.

QGIS on Debian and Ubuntu links `libgslcblas` (GNU Scientific Library's plain C BLAS) into
`qgis` and `qgis_process`. Loaded with the program, its `cblas_*` functions come first when
numpy's matrix products look theirs up, so numpy multiplies matrices with plain loops instead of
OpenBLAS: the same refinement of 4,624 tiles took 3.9 s inside `qgis_process` and 0.2 s with
OpenBLAS preloaded. Nothing inside the process can undo it; starting QGIS with OpenBLAS
preloaded does.
"""

import ctypes
import ctypes.util
from pathlib import Path

SHADOWING = "libgslcblas"
_checked = {}


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def global_cblas_library():
    """The file of the `cblas_sgemm` this program's global symbols give (what numpy's matrix
    products bind to when the program loaded one before numpy), or None when there is none."""
    try:
        function = ctypes.CDLL(None).cblas_sgemm
        libdl = ctypes.CDLL(ctypes.util.find_library("dl") or "libc.so.6")
    except (OSError, AttributeError):
        return None
    info = _DlInfo()
    if not libdl.dladdr(ctypes.cast(function, ctypes.c_void_p), ctypes.byref(info)):
        return None
    return info.dli_fname.decode("utf-8", "replace") if info.dli_fname else None


def slow_blas_warning(library=None):
    """A sentence for the log when the program's global `cblas_sgemm` is GSL's, else None
    (checked once a process unless `library` is given)."""
    if library is None:
        if "warning" not in _checked:
            _checked["warning"] = slow_blas_warning(global_cblas_library() or "")
        return _checked["warning"]
    if SHADOWING not in Path(library).name:
        return None
    return (f"numpy's matrix products run on {Path(library).name}, a plain and slow BLAS that "
            "QGIS loads, instead of OpenBLAS: refinement and searches of large rasters take "
            "many times longer (4,624 tiles refined in 3.9 s instead of 0.2 s). Start QGIS "
            "with OpenBLAS preloaded: LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 "
            "qgis  (the same for qgis_process.bin)")
