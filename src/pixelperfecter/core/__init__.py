"""The pure core: grid detection, cell colour recovery, rendering and metrics.

Imports only NumPy, OpenCV and Pillow.
"""

from .grid import detect_grid
from .io import ImageLoadError, LoadedImage, load_image, save_png
from .pipeline import OutputOptions, WrittenFiles, reconstruct, reconstruct_file, write_outputs
from .types import Grid, GridCandidate, GridDetection, Metrics, Reconstruction, ReconstructParams, Thresholds

__all__ = [
    "Grid", "GridCandidate", "GridDetection", "ImageLoadError", "LoadedImage", "Metrics",
    "OutputOptions", "Reconstruction", "ReconstructParams", "Thresholds", "WrittenFiles",
    "detect_grid", "load_image", "reconstruct", "reconstruct_file", "save_png", "write_outputs",
]
