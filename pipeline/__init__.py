"""zpipe: recipes in, versioned asset folders out.

Keep this module light: ``zpipe --help`` imports it and must not pull in torch or ray.
"""

__version__ = "0.1.0"
