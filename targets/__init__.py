"""Board definitions (one YAML file per board) and firmware sources, shipped as package data.

This folder is installed as ``edgepose.targets``; ``edgepose.boards`` reads it.
"""
