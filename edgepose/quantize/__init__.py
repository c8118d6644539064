"""int8 post-training quantization: calibration sets, TFLite and ONNX Runtime quantizers, per-layer error,
and the report that proves what each step cost in accuracy."""
