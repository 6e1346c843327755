"""Export to a bundle folder: ONNX wrappers, open_clip models, the writer, the parity check."""
