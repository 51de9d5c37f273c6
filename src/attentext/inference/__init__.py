"""Classify texts with a run directory: `load` gives a `Classifier` on the engine asked for
(PyTorch, ONNX Runtime fp32 or int8, or the baseline's own), all behind one small protocol."""
