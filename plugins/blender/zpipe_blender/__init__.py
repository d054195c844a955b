"""zpipe textures for Blender: build the selected materials' textures with zpipe and wire them in.

Material Properties > zpipe: describe a material (a prompt, a short description, or a recipe asset),
then *Build zpipe textures* (or File > Export > zpipe textures). The add-on sends the request to a running
`zpipe serve` when one answers (its engine stays loaded), else calls the zpipe CLI at the path set in its
preferences (Blender's Python is separate: the add-on never imports zpipe), using the hook protocol
(pipeline/docs/hook-protocol.md). The build runs in the background: the panel shows its progress with a
Cancel button (Esc cancels too) while Blender stays usable. Then the maps are wired into the Principled BSDF:

* albedo -> Base Color (multiplied by AO through a Mix node when there is an AO map),
* normal -> Normal Map node -> Normal (a DirectX normal map gets its green channel flipped first),
* roughness -> Roughness,
* height -> Displacement node (mid-level 0.5, scale = the answer's ``height_scale``: the relief the map
  spans as a fraction of the texture's width) -> the Material Output's Displacement. The material's
  displacement method stays the user's: "Bump Only" (the default) shades it as bump, "Displacement and
  Bump" moves subdivided geometry in Cycles,
* every image Non-Color except the albedo (sRGB), extension REPEAT.

Nodes the add-on makes are named ``zpipe …`` and replaced on the next build; other nodes are left alone.
"""

bl_info = {
    "name": "zpipe textures",
    "author": "zpipe",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "Properties > Material > zpipe; File > Export > zpipe textures",
    "description": "Build seamless PBR textures for materials with zpipe and wire them into the Principled BSDF",
    "category": "Material",
}

import os  # noqa: E402

import bpy  # noqa: E402
from bpy.props import (  # noqa: E402
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import protocol  # noqa: E402

NODE_PREFIX = "zpipe "
# The pbr stage's default depth, for answers from zpipe versions that did not report height_scale.
DEFAULT_HEIGHT_SCALE = 0.02


# --- settings ------------------------------------------------------------------------------------------

class ZpipePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    cli_path: StringProperty(name="zpipe CLI", default="zpipe", subtype="FILE_PATH",
                             description="The zpipe executable (a name on PATH or a full path, "
                                         "e.g. /opt/zpipe/venv/bin/zpipe)")
    store: StringProperty(name="Asset store", default="", subtype="DIR_PATH",
                          description="zpipe's cache of built assets (empty: $ZPIPE_OUT or ~/.cache/zpipe/store)")
    target: StringProperty(name="Texture folder", default="//zpipe_textures", subtype="DIR_PATH",
                           description="Where the textures are put (// = next to the .blend file)")
    engine: EnumProperty(name="Engine", default="auto", items=[
        ("auto", "Auto", "Z-Image-Turbo when its weights are found, else procedural"),
        ("z-image-turbo", "Z-Image-Turbo", "The AI engine (needs its weights)"),
        ("procedural", "Procedural", "Fast placeholder textures, no weights")])
    timeout: IntProperty(name="Timeout (s)", default=3600, min=10)
    server: StringProperty(name="zpipe server", default="http://127.0.0.1:8765",
                           description="A running `zpipe serve` (engine kept loaded); used when it answers and "
                                       "the texture folder is inside its --root, else the CLI. Empty: always the CLI")
    token: StringProperty(name="Server token", default="", subtype="PASSWORD",
                          description="The server's --token, if it has one")

    def draw(self, context):
        for prop in ("cli_path", "store", "target", "engine", "timeout", "server", "token"):
            self.layout.prop(self, prop)


class ZpipeMaterialProps(bpy.types.PropertyGroup):
    enabled: BoolProperty(name="Build with zpipe", default=False)
    source: EnumProperty(name="Source", default="description", items=[
        ("description", "Description", "A few words, e.g. 'mossy granite'; zpipe writes the prompt"),
        ("prompt", "Prompt", "The full prompt"),
        ("recipe", "Recipe asset", "An asset of a zpipe recipe file")])
    text: StringProperty(name="Text", default="", description="The description or the prompt")
    recipe: StringProperty(name="Recipe", default="", subtype="FILE_PATH")
    asset: StringProperty(name="Asset id", default="", description="The recipe's asset (empty: the material's name)")
    size: IntProperty(name="Size", default=1024, min=64, max=8192, step=16)
    seed: IntProperty(name="Seed", default=-1, min=-1, description="-1: derived from the material's name")
    map_normal: BoolProperty(name="Normal", default=True)
    map_roughness: BoolProperty(name="Roughness", default=True)
    map_ao: BoolProperty(name="AO", default=True)
    map_height: BoolProperty(name="Height", default=False)


def _prefs(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


# --- the request and the wiring ----------------------------------------------------------------------

def material_entry(mat):
    p = mat.zpipe
    if p.source == "recipe":
        return protocol.material_entry(mat.name, "recipe", bpy.path.abspath(p.recipe), recipe_asset=p.asset or None)
    maps = ["albedo"] + [m for m in ("normal", "roughness", "ao", "height") if getattr(p, f"map_{m}")]
    return protocol.material_entry(mat.name, p.source, p.text, size=p.size, seed=p.seed, maps=maps)


def _tex_node(nodes, role, path, x, y):
    node = nodes.new("ShaderNodeTexImage")
    node.name = node.label = NODE_PREFIX + role
    node.location = (x, y)
    image = bpy.data.images.load(path, check_existing=True)
    image.reload()  # the file may have been rebuilt since it was loaded
    image.colorspace_settings.name = "sRGB" if role == "albedo" else "Non-Color"
    node.image = image
    node.extension = "REPEAT"
    return node


def _socket(sockets, identifier):
    """A socket by identifier (the Mix node has several sockets named "A")."""
    return next(s for s in sockets if s.identifier == identifier)


def wire_material(mat, entry):
    """Wire an answer's maps into ``mat``'s Principled BSDF (made if missing). Returns the roles wired."""
    nodes, links, bsdf, out = _shader(mat)
    files = entry.get("files", {})
    x, y = bsdf.location.x - 700, bsdf.location.y + 300
    wired = []
    tex = {role: _tex_node(nodes, role, files[role], x, y - 300 * i)
           for i, role in enumerate(r for r in ("albedo", "ao", "roughness", "normal", "height") if r in files)}
    if "albedo" in tex:
        wired += _wire_base_colour(nodes, links, tex, bsdf, x, y)
    if "roughness" in tex:
        links.new(tex["roughness"].outputs["Color"], bsdf.inputs["Roughness"])
        wired.append("roughness")
    if "normal" in tex:
        _wire_normal(nodes, links, tex["normal"], bsdf, entry.get("normal_y") == "directx", x, y)
        wired.append("normal")
    if "height" in tex:
        disp = nodes.new("ShaderNodeDisplacement")
        disp.name = disp.label = NODE_PREFIX + "displacement"
        disp.location = (x + 350, y - 1200)
        disp.inputs["Midlevel"].default_value = 0.5
        disp.inputs["Scale"].default_value = float(entry.get("height_scale", DEFAULT_HEIGHT_SCALE))
        links.new(tex["height"].outputs["Color"], disp.inputs["Height"])
        links.new(disp.outputs["Displacement"], out.inputs["Displacement"])
        wired.append("height")
    return wired


def _shader(mat):
    """The material's nodes and links, its Principled BSDF and active output (made if missing), with the
    nodes of an earlier build removed."""
    if hasattr(mat, "use_nodes") and not mat.use_nodes and bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    for node in [n for n in nodes if n.name.startswith(NODE_PREFIX)]:
        nodes.remove(node)
    bsdf = next((n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None)
    outputs = [n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial"]
    out = next((n for n in outputs if n.is_active_output), outputs[0] if outputs else None)
    if out is None:
        out = nodes.new("ShaderNodeOutputMaterial")
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.name = NODE_PREFIX + "principled"
        links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return nodes, links, bsdf, out


def _wire_base_colour(nodes, links, tex, bsdf, x, y):
    """Albedo -> Base Color, multiplied by the AO map (a Mix node) when there is one; the roles wired."""
    colour = tex["albedo"].outputs["Color"]
    wired = ["albedo"]
    if "ao" in tex:
        mix = nodes.new("ShaderNodeMix")
        mix.name = mix.label = NODE_PREFIX + "ao multiply"
        mix.data_type, mix.blend_type = "RGBA", "MULTIPLY"
        mix.location = (x + 350, y)
        mix.inputs["Factor"].default_value = 1.0
        links.new(colour, _socket(mix.inputs, "A_Color"))
        links.new(tex["ao"].outputs["Color"], _socket(mix.inputs, "B_Color"))
        colour = _socket(mix.outputs, "Result_Color")
        wired.append("ao")
    links.new(colour, bsdf.inputs["Base Color"])
    return wired


def _wire_normal(nodes, links, node, bsdf, directx, x, y):
    """Normal map -> Normal Map node -> Normal; Blender's node reads OpenGL (Y+), so a DirectX map's green
    channel is flipped first."""
    colour = node.outputs["Color"]
    if directx:
        sep, inv, comb = (nodes.new(t) for t in ("ShaderNodeSeparateColor", "ShaderNodeMath",
                                                 "ShaderNodeCombineColor"))
        for n, label in ((sep, "separate"), (inv, "flip green"), (comb, "combine")):
            n.name = n.label = NODE_PREFIX + label
        inv.operation = "SUBTRACT"
        inv.inputs[0].default_value = 1.0
        links.new(colour, sep.inputs["Color"])
        links.new(sep.outputs["Red"], comb.inputs["Red"])
        links.new(sep.outputs["Green"], inv.inputs[1])
        links.new(inv.outputs["Value"], comb.inputs["Green"])
        links.new(sep.outputs["Blue"], comb.inputs["Blue"])
        colour = comb.outputs["Color"]
    nmap = nodes.new("ShaderNodeNormalMap")
    nmap.name = nmap.label = NODE_PREFIX + "normal map"
    nmap.location = (x + 350, y - 900)
    links.new(colour, nmap.inputs["Color"])
    links.new(nmap.outputs["Normal"], bsdf.inputs["Normal"])


def prepare_request(materials, target, store="", engine="auto"):
    """The materials with zpipe enabled and the request for them (HookFailed says what to fix first)."""
    todo = [m for m in materials if m is not None and m.zpipe.enabled]
    if not todo:
        raise protocol.HookFailed("no selected material has 'Build with zpipe' enabled")
    for m in todo:
        if m.zpipe.source != "recipe" and not m.zpipe.text.strip():
            raise protocol.HookFailed(f"material {m.name!r}: write a {m.zpipe.source} first")
    target = bpy.path.abspath(target)
    if not os.path.isabs(target):
        raise protocol.HookFailed("save the .blend file first, or set an absolute texture folder")
    request = protocol.make_request([material_entry(m) for m in todo], target,
                                    store=bpy.path.abspath(store) if store else None, engine=engine)
    return todo, request


def wire_answer(todo, answer):
    """Wire every material of ``todo`` that has its files in ``answer``. Returns {material: roles}."""
    wired = {}
    for m in todo:
        entry = answer["materials"].get(m.name)
        if entry and entry.get("status") != "failed":
            wired[m.name] = wire_material(m, entry)
    return wired


class BuildSession:
    """One build, polled without blocking: what the modal operator runs on its timer (and what tests drive).

    ``settings``: cli, target, store, engine, timeout, server, token (as the preferences hold them).
    """

    def __init__(self, materials, settings):
        self.todo, request = prepare_request(materials, settings["target"], settings.get("store", ""),
                                             settings.get("engine", "auto"))
        self.build = protocol.start_build(request, settings["cli"], settings.get("server"), settings.get("token"),
                                          settings.get("timeout", 3600))
        self.via = self.build.via
        self.answer, self.wired = None, {}

    def step(self):
        """(finished, fraction done, message); once finished, the maps are wired and ``answer`` is set."""
        done, fraction, message = self.build.poll()
        if done:
            self.answer = self.build.answer()
            self.wired = wire_answer(self.todo, self.answer)
        return done, fraction, message

    def cancel(self):
        self.build.cancel()


def export_materials(materials, cli, target, store="", engine="auto", timeout=3600, server=None, token=None):
    """Build ``materials`` (those with zpipe enabled), waiting, and wire them. Returns (answer, {material: roles})."""
    todo, request = prepare_request(materials, target, store, engine)
    answer = protocol.run_hook(cli, request, timeout=timeout, server=server, token=token)
    return answer, wire_answer(todo, answer)


def selected_materials(context):
    mats = []
    for obj in context.selected_objects or ([context.object] if context.object else []):
        for slot in getattr(obj, "material_slots", []):
            if slot.material is not None and slot.material not in mats:
                mats.append(slot.material)
    return mats


# --- UI ---------------------------------------------------------------------------------------------

class ZPIPE_OT_build_textures(bpy.types.Operator):
    """Build the zpipe textures of the selected objects' materials and wire them into their shaders"""

    bl_idname = "zpipe.build_textures"
    bl_label = "Build zpipe textures"
    bl_options = {"REGISTER", "UNDO"}

    scope: EnumProperty(name="Materials", default="SELECTED", items=[
        ("SELECTED", "Selected objects", "Materials of the selected objects"),
        ("ACTIVE", "Active material", "The active object's active material"),
        ("ALL", "All", "Every material with zpipe enabled")])

    _session = None
    _timer = None

    def _materials(self, context):
        if self.scope == "ALL":
            return list(bpy.data.materials)
        if self.scope == "ACTIVE":
            return [context.object.active_material] if context.object else []
        return selected_materials(context)

    @staticmethod
    def _settings(context):
        prefs = _prefs(context)
        cli = os.environ.get("ZPIPE_CLI") or (prefs.cli_path if prefs else "zpipe")
        return {"cli": cli, "target": prefs.target if prefs else "//zpipe_textures",
                "store": prefs.store if prefs else "", "engine": prefs.engine if prefs else "auto",
                "timeout": prefs.timeout if prefs else 3600,
                "server": os.environ.get("ZPIPE_SERVER", prefs.server if prefs else ""),
                "token": (prefs.token if prefs else "") or os.environ.get("ZPIPE_TOKEN") or None}

    def execute(self, context):
        """Blocking: for scripts and background mode (the UI goes through invoke/modal)."""
        cfg = self._settings(context)
        try:
            answer, _ = export_materials(self._materials(context), cfg["cli"], cfg["target"], cfg["store"],
                                         cfg["engine"], cfg["timeout"], cfg["server"], cfg["token"])
        except protocol.HookFailed as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._summarise(answer)
        return {"FINISHED"}

    def invoke(self, context, event):
        """Start the build and return at once; a timer polls it (the UI stays live; Esc or Cancel stops it)."""
        wm = context.window_manager
        if wm.zpipe_running:
            self.report({"WARNING"}, "a zpipe build is already running")
            return {"CANCELLED"}
        try:
            self._session = BuildSession(self._materials(context), self._settings(context))
        except protocol.HookFailed as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm.zpipe_running, wm.zpipe_cancel, wm.zpipe_progress = True, False, 0.0
        wm.zpipe_status = f"zpipe ({self._session.via}): starting"
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        wm = context.window_manager
        if event.type == "ESC" or wm.zpipe_cancel:
            self._session.cancel()
            self._finish(context)
            self.report({"WARNING"}, "zpipe: build cancelled (finished textures are kept for the next build)")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            done, fraction, message = self._session.step()
        except protocol.HookFailed as exc:
            self._finish(context)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm.zpipe_progress, wm.zpipe_status = fraction, f"zpipe ({self._session.via}): {message}"
        wm.progress_update(int(fraction * 100))
        for area in context.screen.areas if context.screen else []:
            if area.type == "PROPERTIES":
                area.tag_redraw()
        if not done:
            return {"PASS_THROUGH"}
        self._finish(context)
        self._summarise(self._session.answer)
        return {"FINISHED"}

    def _finish(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        wm.zpipe_running, wm.zpipe_cancel = False, False

    def _summarise(self, answer):
        failed = {n: e.get("error", "") for n, e in answer["materials"].items() if e.get("status") == "failed"}
        s = answer.get("summary", {})
        msg = f"zpipe: {s.get('built', 0)} built, {s.get('reused', 0)} reused, {len(failed)} failed"
        for name, error in failed.items():
            self.report({"WARNING"}, f"{name}: {error}")
        self.report({"WARNING"} if failed else {"INFO"}, msg)


class ZPIPE_OT_cancel_build(bpy.types.Operator):
    """Stop the running zpipe build (finished textures are kept for the next build)"""

    bl_idname = "zpipe.cancel_build"
    bl_label = "Cancel zpipe build"

    def execute(self, context):
        context.window_manager.zpipe_cancel = True
        return {"FINISHED"}


class ZPIPE_PT_material(bpy.types.Panel):
    bl_label = "zpipe"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "material"

    @classmethod
    def poll(cls, context):
        return context.material is not None

    def draw_header(self, context):
        self.layout.prop(context.material.zpipe, "enabled", text="")

    def draw(self, context):
        p = context.material.zpipe
        col = self.layout.column()
        col.active = p.enabled
        col.prop(p, "source")
        if p.source == "recipe":
            col.prop(p, "recipe")
            col.prop(p, "asset")
        else:
            col.prop(p, "text")
            col.prop(p, "size")
            col.prop(p, "seed")
            row = col.row(align=True)
            for m in ("normal", "roughness", "ao", "height"):
                row.prop(p, f"map_{m}", toggle=True)
        wm = context.window_manager
        if wm.zpipe_running:
            row = self.layout.row()
            if hasattr(row, "progress"):  # Blender 4.0+
                row.progress(factor=wm.zpipe_progress, type="BAR", text=wm.zpipe_status)
            else:
                row.label(text=wm.zpipe_status)
            row.operator(ZPIPE_OT_cancel_build.bl_idname, text="", icon="CANCEL")
        else:
            self.layout.operator(ZPIPE_OT_build_textures.bl_idname, icon="TEXTURE")


def _export_menu(self, context):
    self.layout.operator(ZPIPE_OT_build_textures.bl_idname, text="zpipe textures (selected materials)")


CLASSES = (ZpipePreferences, ZpipeMaterialProps, ZPIPE_OT_build_textures, ZPIPE_OT_cancel_build, ZPIPE_PT_material)
WM_PROPS = {  # the running build's state, for the panel's progress bar and the Cancel button
    "zpipe_running": lambda: BoolProperty(default=False),
    "zpipe_cancel": lambda: BoolProperty(default=False),
    "zpipe_progress": lambda: FloatProperty(default=0.0, min=0.0, max=1.0),
    "zpipe_status": lambda: StringProperty(default=""),
}


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Material.zpipe = PointerProperty(type=ZpipeMaterialProps)
    for name, prop in WM_PROPS.items():
        setattr(bpy.types.WindowManager, name, prop())
    bpy.types.TOPBAR_MT_file_export.append(_export_menu)


def unregister():
    bpy.types.TOPBAR_MT_file_export.remove(_export_menu)
    del bpy.types.Material.zpipe
    for name in WM_PROPS:
        delattr(bpy.types.WindowManager, name)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
