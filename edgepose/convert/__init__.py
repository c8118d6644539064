"""From a trained (or brought) model to deployable float artifacts: export, ONNX folding, inspection."""
