"""jndtf.export: TFLite / ONNX / TensorRT export of trained jndtf models (issue 5; not built yet)."""
