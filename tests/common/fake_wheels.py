"""Tiny wheels written by the tests, so that real pip installs run offline and fast."""

import base64
import hashlib
import zipfile
from pathlib import Path

WORKING = "__version__ = '{version}'\n\n\ndef get_available_providers():\n" \
          "    return ['CPUExecutionProvider']\n"
BROKEN = "raise ImportError('onnxruntime_pybind11_state: undefined symbol: PyFoo (a wheel " \
         "for another Python)')\n"


def write_wheel(folder, name="onnxruntime", version="1.17.0", init_source=WORKING,
                requires=("numpy>=1.21.6",)):
    """A pure-Python wheel `name-version-py3-none-any.whl` in `folder`; returns its path."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": init_source.format(version=version),
        f"{dist}/METADATA": "Metadata-Version: 2.1\n" f"Name: {name}\nVersion: {version}\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: terralens-tests\nRoot-Is-Purelib: "
                         "true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    wheel = Path(folder) / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
