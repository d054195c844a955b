"""Run under the bpy venv's python (not zpipe's): python blender_scene.py PLUGIN_DIR ZPIPE_CLI WORKDIR.

Enables the add-on, makes a scene with zpipe materials, builds their textures through the real zpipe CLI
(procedural engine, 64 px) and checks the node links and the image files. Prints "BLENDER OK" at the end;
any failed check raises (exit 1).
"""

import json
import os
import sys

plugin_dir, cli, work = sys.argv[1:4]
sys.path.insert(0, plugin_dir)

import bpy  # noqa: E402, I001  (bpy first: it puts addon_utils on sys.path)
import addon_utils  # noqa: E402

bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable("zpipe_blender", default_set=True, handle_error=None)
import zpipe_blender  # noqa: E402
from zpipe_blender import protocol  # noqa: E402

assert "zpipe" not in sys.modules, "the add-on must not import zpipe"
prefs = bpy.context.preferences.addons["zpipe_blender"].preferences
target, store = os.path.join(work, "textures"), os.path.join(work, "store")
prefs.cli_path, prefs.target, prefs.store, prefs.engine = cli, target, store, "procedural"


def obj_with(name, mat):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.data.materials.append(mat)
    return obj


def zmat(name, **props):
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    for k, v in {"enabled": True, "size": 64, **props}.items():
        setattr(mat.zpipe, k, v)
    return mat


stone = zmat("Stone", source="description", text="granite", map_height=True)
bricks = zmat("Bricks.001", source="prompt", text="red brick wall", map_ao=False, map_roughness=False)
other = zmat("Unselected", source="description", text="slate")
plain = bpy.data.materials.new("Plain")  # zpipe not enabled: skipped
a, b, c = obj_with("A", stone), obj_with("B", bricks), obj_with("C", other)
b.data.materials.append(plain)
for o in bpy.data.objects:
    o.select_set(o in (a, b))
bpy.context.view_layer.objects.active = a

assert bpy.ops.zpipe.build_textures(scope="SELECTED") == {"FINISHED"}


def linked_from(socket):
    assert socket.is_linked, f"{socket.node.name}.{socket.name} is not linked"
    return socket.links[0].from_node


def tex(node, role, srgb):
    assert node.bl_idname == "ShaderNodeTexImage", node.bl_idname
    assert node.extension == "REPEAT", node.extension
    path = bpy.path.abspath(node.image.filepath)
    material = node.id_data  # the node tree
    assert os.path.isfile(path), path
    assert os.path.dirname(os.path.dirname(path)) == target, path
    assert os.path.basename(path) == f"{role}.png", path
    assert node.image.colorspace_settings.name == ("sRGB" if srgb else "Non-Color"), node.image.colorspace_settings.name
    assert tuple(node.image.size) == (64, 64), tuple(node.image.size)
    return path, material


def bsdf_of(mat):
    return next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")


# Stone: albedo x AO -> Base Color, roughness -> Roughness, normal -> Normal Map -> Normal
bsdf = bsdf_of(stone)
mix = linked_from(bsdf.inputs["Base Color"])
assert mix.bl_idname == "ShaderNodeMix" and mix.blend_type == "MULTIPLY" and mix.data_type == "RGBA"
albedo_path, _ = tex(linked_from(zpipe_blender._socket(mix.inputs, "A_Color")), "albedo", srgb=True)
assert albedo_path == os.path.join(target, "Stone", "albedo.png")
tex(linked_from(zpipe_blender._socket(mix.inputs, "B_Color")), "ao", srgb=False)
tex(linked_from(bsdf.inputs["Roughness"]), "roughness", srgb=False)
nmap = linked_from(bsdf.inputs["Normal"])
assert nmap.bl_idname == "ShaderNodeNormalMap"
tex(linked_from(nmap.inputs["Color"]), "normal", srgb=False)
out = next(n for n in stone.node_tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
assert linked_from(out.inputs["Surface"]) == bsdf
# height -> Displacement node -> Material Output's Displacement, scale from the answer (pbr's depth)
disp = linked_from(out.inputs["Displacement"])
assert disp.bl_idname == "ShaderNodeDisplacement", disp.bl_idname
height_path, _ = tex(linked_from(disp.inputs["Height"]), "height", srgb=False)
assert abs(disp.inputs["Scale"].default_value - 0.02) < 1e-6, disp.inputs["Scale"].default_value
assert disp.inputs["Midlevel"].default_value == 0.5

# Bricks.001: albedo straight into Base Color, a normal map, no roughness / AO
bsdf = bsdf_of(bricks)
path, _ = tex(linked_from(bsdf.inputs["Base Color"]), "albedo", srgb=True)
assert path == os.path.join(target, "Bricks_001", "albedo.png")
assert not bsdf.inputs["Roughness"].is_linked
tex(linked_from(linked_from(bsdf.inputs["Normal"]).inputs["Color"]), "normal", srgb=False)

# not selected / not enabled: untouched, no files
for mat in (other, plain):
    assert not any(n.name.startswith("zpipe ") for n in (mat.node_tree.nodes if mat.node_tree else []))
assert not os.path.exists(os.path.join(target, "Unselected"))

# again: reused from the store, wiring replaced (not duplicated)
n_nodes = len(stone.node_tree.nodes)
answer, wired = zpipe_blender.export_materials([stone, bricks], cli, target, store, "procedural")
assert {n: m["status"] for n, m in answer["materials"].items()} == {"Stone": "reused", "Bricks.001": "reused"}, answer
assert wired == {"Stone": ["albedo", "ao", "roughness", "normal", "height"], "Bricks.001": ["albedo", "normal"]}, wired
assert answer["materials"]["Stone"]["height_scale"] == 0.02 and "height_scale" not in answer["materials"]["Bricks.001"]
assert len(stone.node_tree.nodes) == n_nodes
assert not bsdf_of(bricks).id_data.nodes.get("zpipe displacement")

# a height_scale in the answer sets the Displacement node's scale
zpipe_blender.wire_material(stone, dict(answer["materials"]["Stone"], height_scale=0.1))
disp = linked_from(out.inputs["Displacement"])
assert abs(disp.inputs["Scale"].default_value - 0.1) < 1e-6 and len(stone.node_tree.nodes) == n_nodes

# a DirectX normal map gets its green channel flipped before the Normal Map node
entry = dict(answer["materials"]["Bricks.001"], normal_y="directx")
zpipe_blender.wire_material(bricks, entry)
comb = linked_from(linked_from(bsdf_of(bricks).inputs["Normal"]).inputs["Color"])
assert comb.bl_idname == "ShaderNodeCombineColor"
assert linked_from(comb.inputs["Green"]).operation == "SUBTRACT"

# errors are clear: a wrong CLI path, a refused request
for bad_cli, expected in ((os.path.join(work, "nope", "zpipe"), "does not exist"),):
    try:
        zpipe_blender.export_materials([stone], bad_cli, target, store, "procedural")
    except protocol.HookFailed as exc:
        assert expected in str(exc), str(exc)
    else:
        raise AssertionError("no error for a missing CLI")
stone.zpipe.size = 100  # not a multiple of 16: zpipe answers exit 2
try:
    zpipe_blender.export_materials([stone], cli, target, store, "procedural")
except protocol.HookFailed as exc:
    assert "zpipe refused the request" in str(exc) and "materials[0] (Stone).size" in str(exc), str(exc)
else:
    raise AssertionError("no error for a bad size")

print(json.dumps({"wired": wired}))
print("BLENDER OK", bpy.app.version_string)
