"""ONNX export of encoder wrappers (TorchScript exporter, opset 17) and smaller text models."""

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

OPSET = 17
# onnxruntime 1.17, the oldest the plugin accepts, reads ONNX IR versions up to 9.
MAX_IR_VERSION = 9
TEXT_PRECISIONS = ("fp32", "fp16", "int8")
FP16_MIN_ELEMENTS = 1024  # small tensors (biases, norms) stay float32: no size to gain


class TerraLensImage(nn.Module):
    """pixel_values -> (image_embeds, dense_features) of a `TerraLensCLIP`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.encode_image_dense(pixel_values)


class TerraLensText(nn.Module):
    """(input_ids, attention_mask) -> text_embeds: frozen MiniLM, mean pool, projection."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model.encode_text(input_ids, attention_mask)


def export_onnx(module, example_inputs, input_names, output_names, dynamic_axes, target):
    """Export `module` in eval mode to `target` and check the file's IR version.

    The exporter follows the top-level module's training flag (BatchNorm would use batch
    statistics in a wrapper left in training mode), so the wrapper is put in eval mode here.

    Raises:
        RuntimeError: the graph holds an op ONNX lacks, or the IR version is too new.
    """
    module.eval()
    # nn.MultiheadAttention's inference fast path is a fused op ONNX has no symbol for.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        # The TorchScript exporter is deprecated and warns about every traced shape comparison;
        # the parity check, not these warnings, is what tells whether the graph is right.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, tuple(example_inputs), str(target),
                              input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=OPSET,
                              do_constant_folding=True, dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    check_ir_version(target)
    return Path(target)


def check_ir_version(path):
    """Raise if `path` needs a newer onnxruntime than the plugin's oldest supported one."""
    import onnx
    version = onnx.load(str(path), load_external_data=False).ir_version
    if version > MAX_IR_VERSION:
        raise RuntimeError(f"{path} has ONNX IR version {version}; onnxruntime 1.17 reads up to "
                           f"{MAX_IR_VERSION}: pin the exporter to an older IR")


def batch_axes(names, length_axis=None):
    """dynamic_axes marking axis 0 of every name as the batch (and `length_axis` as length)."""
    axes = {}
    for name in names:
        axes[name] = {0: "batch"}
        if length_axis is not None:
            axes[name][length_axis] = "length"
    return axes


def reduce_precision(path, precision):
    """Store an exported model smaller, in place.

    fp16: float weights stored as float16 with a Cast to float32 in front (the CPU computes in
    float32, so only rounding of the weights is lost). int8: onnxruntime's dynamic
    quantization of MatMul/Gather weights (int8 per channel, activations quantized at run
    time); MiniLM loses about 0.01 of cosine to it.
    """
    if precision not in TEXT_PRECISIONS:
        raise ValueError(f"text precision must be one of {TEXT_PRECISIONS}, not {precision!r}")
    if precision == "fp16":
        store_weights_fp16(path)
    elif precision == "int8":
        quantize_int8(path)
    check_ir_version(path)
    return Path(path)


def store_weights_fp16(path, min_elements=FP16_MIN_ELEMENTS):
    """Rewrite the float32 initializers of `path` as float16 followed by Cast nodes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    model = onnx.load(str(path))
    casts = []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        name = init.name
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                       f"{name}__fp16")
        init.CopyFrom(half)
        casts.append(helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT,
                                      name=f"{name}__to_fp32"))
    nodes = casts + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(path))


def quantize_int8(path):
    """Dynamic int8 quantization of `path` in place (onnxruntime.quantization)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    path = Path(path)
    quantized = path.with_name(path.stem + ".int8" + path.suffix)
    root = logging.getLogger()
    level = root.level
    try:
        # quantize_dynamic logs a pre-processing hint on the root logger; for these graphs
        # pre-processing neither works (symbolic shapes) nor changes the result.
        root.setLevel(logging.ERROR)
        # Per-channel weights: per-tensor scales cost MiniLM 0.03 of cosine, these 0.01.
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gather"], per_channel=True)
        quantized.replace(path)
    finally:
        root.setLevel(level)
        if quantized.exists():
            quantized.unlink()
