"""Evaluation: metrics (COCO AP/AR through pycocotools, mean OKS, PCK, pixel error) and the evaluation loop."""
