"""zpipe: recipes in, versioned asset folders out.

The public API (``zpipe.run``, ``zpipe.load_recipe``) is imported lazily, so that ``import zpipe`` and
``zpipe --help`` stay light and never pull in torch or ray.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "load_recipe", "run"]


def __getattr__(name: str):
    if name in ("run", "load_recipe"):
        from zpipe import api

        return getattr(api, name)
    raise AttributeError(f"module 'zpipe' has no attribute {name!r}")
