"""Pose data: loaders (COCO, YOLO-pose, synthetic), augmentation, heatmap targets, the tf.data pipeline."""
