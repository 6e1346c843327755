"""onnxruntime sessions: options, execution providers, the install hint when it is missing."""

import sys

import pytest

from terralens.plugin.core import onnx_session
from terralens.plugin.core.onnx_session import open_session


def test_session_options(repo_root):
    session = open_session(repo_root / "tests" / "data" / "tiny-clip" / "image.onnx", threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 1


def test_provider_choice():
    available = ["CPUExecutionProvider"]
    assert onnx_session.choose_providers(None, available) == ["CPUExecutionProvider"]
    assert onnx_session.choose_providers("auto", available) == ["CPUExecutionProvider"]
    assert onnx_session.choose_providers("auto", ["CUDAExecutionProvider"] + available)[0] == \
        "CUDAExecutionProvider"
    with pytest.raises(ValueError, match="no execution provider TensorrtExecutionProvider"):
        onnx_session.choose_providers(["TensorrtExecutionProvider"], available)


def test_missing_onnxruntime_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        onnx_session.import_onnxruntime()
