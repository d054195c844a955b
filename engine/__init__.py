"""zpipe.engine: image generators behind one small interface.

Nothing heavy is imported here; engines load lazily through :mod:`zpipe.engine.registry`.
"""

from zpipe.engine.base import Capability, Engine, EngineError, Generated, Request

__all__ = ["Capability", "Engine", "EngineError", "Generated", "Request"]
