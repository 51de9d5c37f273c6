"""Export a run directory's model for other engines: ONNX (fp32, and int8 chosen by measurement)."""
