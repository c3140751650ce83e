"""colorlib: deep-learning image colorization in CIE Lab, for teaching and reproducible reports."""

__version__ = "0.1.0"
