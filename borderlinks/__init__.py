"""borderlinks: a daily border-and-migration news digest generator."""

__version__ = "0.1.0"
