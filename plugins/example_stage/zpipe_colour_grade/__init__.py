"""zpipe-colour-grade: an example zpipe stage plugin (the stage is in :mod:`zpipe_colour_grade.stage`)."""

__version__ = "0.1.0"
