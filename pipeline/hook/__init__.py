"""The DCC hook protocol: a JSON request in, materials built (or reused), a JSON answer out.

``zpipe hook export --request request.json --json`` is what the Blender add-on and the Unity editor
script call. The protocol is documented, with its version history, in ``zpipe/docs/hook-protocol.md`` (``pipeline/docs`` in the repository); this
package is its only implementation: :mod:`.request` checks a request (:func:`read_request`,
:func:`parse_request`), :mod:`.recipe` makes the generated recipe, :mod:`.export` builds it through the
store and :mod:`.place` puts each material's files in ``<target>/<material>/``.
"""

from zpipe.hook.export import default_store, export
from zpipe.hook.request import (
    PROTOCOL_VERSION,
    HookError,
    HookRequest,
    Material,
    parse_request,
    read_request,
    slug,
)

__all__ = ["PROTOCOL_VERSION", "HookError", "HookRequest", "Material", "default_store", "export", "parse_request",
           "read_request", "slug"]
