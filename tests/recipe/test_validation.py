"""Recipe validation: every bad recipe gets its exact message and exit code 2, through the real CLI."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zpipe.cli import main
from zpipe.engine.base import EngineError
from zpipe.plan import job_key
from zpipe.recipe import RecipeError, load_recipe

GOOD = """\
name: demo
prompt: "{material} texture, {variant}"
matrix:
  material: [granite, slate]
  variant: [clean, mossy]
"""

# (recipe text, expected message lines; {f} is the recipe path)
BAD = [
    ("name: demo\nprompt: x\nsize: 1000\nassets: [{id: a}]\n",
     ["{f}:3:7: size: size 1000x1000 is invalid: width and height must be multiples of 16 from 64 to 8192; use e.g. 1008"]),
    ("name: demo\nprompt: x\nsize: [512, 500]\nassets: [{id: a}]\n",
     ["{f}:3:7: size: size 512x500 is invalid: width and height must be multiples of 16 from 64 to 8192; use e.g. 496"]),
    ("name: demo\nprompt: x\nsize: huge\nassets: [{id: a}]\n",
     ["{f}:3:7: size: expected a size, got 'huge'; write a number like 1024, [width, height], 'WIDTHxHEIGHT' or a preset "
      "(square, a4-portrait, a4-landscape, a3-portrait, a3-landscape, 16:9, 9:16)"]),
    ("name: demo\nprompt: x\nstesp: 8\nassets: [{id: a}]\n",
     ["{f}:3:1: stesp: unknown key 'stesp'; did you mean 'steps'?"]),
    ("name: demo\nprompt: x\nsteps: eight\nassets: [{id: a}]\n",
     ["{f}:3:8: steps: expected an integer in [1, 100], got 'eight'; set it to an integer in [1, 100] "
      "(Sampling steps (8 = 8 DiT forwards for Z-Image-Turbo))"]),
    ("name: demo\nprompt: x\nseed: -1\nassets: [{id: a}]\n",
     ["{f}:3:7: seed: expected an integer in [0, 4294967295], got -1; set it to an integer in [0, 4294967295] "
      "(Base seed. Each asset's seed is derived from it and the asset id)"]),
    ("name: demo\nprompt: x\nmatrix: {}\n",
     ["{f}:3:9: matrix: the matrix is empty; write e.g. `matrix: {{material: [granite, slate], variant: [clean, mossy]}}`"]),
    ("name: demo\nprompt: x\nmatrix:\n  material: []\n",
     ["{f}:4:13: matrix.material: expected a non-empty list of values; write `material: [a, b]`"]),
    ("name: demo\nprompt: x\nassets:\n  - id: a\n  - id: a\n",
     ["{f}:5:5: assets[1]: duplicate asset id 'a' (also at assets[0]); give every asset a distinct id"]),
    ("name: demo\nprompt: x\nassets:\n  - id: Rock\n  - id: rock\n",
     ["{f}:5:5: assets[1]: duplicate asset id 'rock' ('Rock' differs only in case) (also at assets[0]); give every "
      "asset a distinct id"]),
    ("name: demo\nprompt: x\nassets:\n  - id: ../escape\n",
     ["{f}:4:9: assets[0].id: asset id '../escape' cannot be used as a folder name; use letters, digits, '_' and '-' "
      "only (no '/', '..' or dots), starting with a letter or digit"]),
    ("name: /etc/demo\nprompt: x\nassets: [{id: a}]\n",
     ["{f}:1:7: name: recipe name '/etc/demo' cannot be used as a folder name; use letters, digits, '_' and '-' only "
      "(no '/', '..' or dots), starting with a letter or digit"]),
    ("name: demo\nprompt: x\nassets:\n  - id: CON\n",
     ["{f}:4:9: assets[0].id: asset id 'CON' is reserved; use letters, digits, '_' and '-' only (no '/', '..' or "
      "dots), starting with a letter or digit"]),
    ("name: demo\nprompt: x\nassets: [{id: a}\n",
     ["{f}:4:1: YAML syntax error: expected ',' or ']', but got '<stream end>'; fix the YAML syntax at this position"]),
    ("name: demo\nprompt: \"{material} stone\"\nassets: [{id: a}]\n",
     ["{f}:2:9: prompt: unknown placeholder {{material}}; placeholders available here: id"]),
    ("name: demo\nprompt: x\nengine: dall-e\nassets: [{id: a}]\n",
     ["{f}:3:9: engine.name: expected one of 'auto', 'procedural', 'z-image-turbo', got 'dall-e'; set it to one of "
      "'auto', 'procedural', 'z-image-turbo' (auto, procedural or z-image-turbo)"]),
    ("name: demo\nprompt: x\nstages: [pbrr]\nassets: [{id: a}]\n",
     ["{f}:3:10: stages[0]: unknown stage 'pbrr'; did you mean 'pbr'?"]),
    ("name: demo\nprompt: x\nkind: meshes\nassets: [{id: a}]\n",
     ["{f}:3:7: kind: expected one of 'textures', 'posters', got 'meshes'; set it to one of 'textures', 'posters' "
      "(textures or posters)"]),
    ("prompt: x\nassets: [{id: a}]\n",
     ["{f}:1:1: name: missing required key 'name'; set it to a string (Recipe name: the output folder name)"]),
    ("name: demo\nprompt: x\n",
     ["{f}:1:1: the recipe defines no assets; add a `matrix:` or an `assets:` list"]),
    ("- just\n- a list\n",
     ["{f}:1:1: a recipe must be a mapping, got a list; start from a stock recipe in recipes/"]),
    ("name: demo\nprompt: !!python/object/apply:os.system [ls]\nassets: [{id: a}]\n",
     ["{f}:2:9: prompt: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'; "
      "recipes hold plain values only: remove the tag"]),
    ("name: demo\nprompt: x\noutput: {naming: '../{role}'}\nassets: [{id: a}]\n",
     ["{f}:3:18: output.naming: naming '../x' contains a path separator; names are plain file names inside the "
      "asset folder"]),
    ("name: demo\nprompt: x\nstages: [pbr]\noutput: {naming: '{asset}'}\nassets: [{id: a}]\n",
     ["{f}:4:18: output.naming: naming '{{asset}}' gives every map of 'a' the same file name (the pbr stage adds "
      "height, normal, roughness and ao); put {{role}} or {{suffix}} in it"]),
    ("name: demo\nprompt: x\noutput: {formats: [gif]}\nassets: [{id: a}]\n",
     None),  # message owned by the export stage's declaration; only the location and exit code are checked
]


@pytest.mark.parametrize("text,expected", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_recipe_exact_message(write_recipe, text, expected):
    path = write_recipe(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln]
    if expected is None:
        assert lines[0].startswith(f"{path}:3:") and "output.formats" in lines[0]
    else:
        assert lines == [e.format(f=path) for e in expected]


@pytest.mark.parametrize("text", [
    "name: d\nprompt: x\nstages: [{tile: {max_seam: .nan}}]\nassets: [{id: a}]\n",
    "name: d\nprompt: '{y}'\nassets: [{id: a, vars: {y: .inf}}]\n",
    "name: d\nprompt: '{y}'\nmatrix: {y: [1.0, .nan]}\n",
])
def test_non_finite_numbers_are_rejected(write_recipe, text):
    result = CliRunner().invoke(main, ["validate", str(write_recipe(text))])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_all_errors_reported_at_once(write_recipe):
    path = write_recipe("name: demo\nprompt: x\nsize: 100\nstepz: 3\nseed: x\nassets: [{id: a}, {id: a}]\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert [i.path for i in err.value.issues] == ["size", "stepz", "seed", "assets[1]"]


def test_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(main, ["validate", str(missing)])
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (f"{missing}: cannot read the recipe: No such file or directory; "
                                            "check the path and the file's permissions")


def test_good_recipe_expands(write_recipe):
    r = load_recipe(write_recipe(GOOD))
    assert [j.id for j in r.jobs] == ["granite_clean", "granite_mossy", "slate_clean", "slate_mossy"]
    assert r.jobs[1].prompt == "granite texture, mossy"
    assert (r.jobs[0].width, r.jobs[0].height, r.jobs[0].steps, r.jobs[0].tile) == (1024, 1024, 8, "xy")
    assert len({j.seed for j in r.jobs}) == 4
    result = CliRunner().invoke(main, ["validate", str(write_recipe(GOOD))])
    assert result.exit_code == 0 and "ok (textures, 4 assets" in result.output


def test_explicit_assets_with_overrides_and_seeds(write_recipe):
    r = load_recipe(write_recipe(
        "name: demo\nprompt: '{kind} floor'\nsize: 512\nseeds: 2\nassets:\n"
        "  - {id: hall, vars: {kind: marble}, seed: 7, size: [256, 128]}\n"
        "  - {id: yard, vars: {kind: sand}, prompt: 'wet {kind}'}\n"))
    assert [(j.id, j.seed, j.width, j.height, j.prompt) for j in r.jobs] == [
        ("hall_s1", 7, 256, 128, "marble floor"), ("hall_s2", 8, 256, 128, "marble floor"),
        ("yard_s1", r.jobs[2].seed, 512, 512, "wet sand"), ("yard_s2", r.jobs[3].seed, 512, 512, "wet sand")]


def test_seeds_come_from_ids_not_positions(write_recipe):
    a = load_recipe(write_recipe("name: d\nprompt: '{m}'\nmatrix: {m: [a, b, c]}\n", "a.yaml"))
    b = load_recipe(write_recipe("name: d\nprompt: '{m}'\nmatrix: {m: [c, a]}\n", "b.yaml"))
    seeds_a = {j.id: j.seed for j in a.jobs}
    assert all(seeds_a[j.id] == j.seed for j in b.jobs)


def test_set_overrides_and_engine_flag(write_recipe):
    path = write_recipe(GOOD)
    r = load_recipe(path, ["size=[512, 256]", "matrix.variant=[dusty]", "steps=4"], engine="procedural")
    assert [j.id for j in r.jobs] == ["granite_dusty", "slate_dusty"]
    assert (r.jobs[0].width, r.jobs[0].height, r.jobs[0].steps) == (512, 256, 4)
    assert r.engine == "procedural"
    with pytest.raises(RecipeError) as err:
        load_recipe(path, ["size=1001"])
    assert str(err.value).startswith("--set size=1001: size: size 1001x1001 is invalid")
    result = CliRunner().invoke(main, ["validate", str(path), "--set", "novalue"])
    assert result.exit_code == 2 and "expected KEY.PATH=VALUE" in result.output


def test_validate_does_not_import_torch_or_ray(write_recipe):
    import subprocess
    import sys

    path = write_recipe(GOOD)
    code = ("import sys; from zpipe.cli import main\n"
            "try:\n    main(['validate', sys.argv[1]])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'ray', 'rapidocr_onnxruntime')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


# Random YAML documents: validation may reject them, but must never crash.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(),
                    st.text(max_size=12))
keys = st.sampled_from(["name", "kind", "engine", "size", "steps", "seed", "seeds", "prompt", "matrix", "assets",
                        "stages", "output", "tile", "id", "title", "style", "vars", "formats", "x"])
docs = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(keys, inner, max_size=6)), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(keys, docs, max_size=8))
def test_fuzz_never_tracebacks(tmp_path, doc):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        recipe = load_recipe(path)
    except RecipeError as exc:
        assert exc.issues and all(str(i) for i in exc.issues)
        return
    # What validates must also key: canonical JSON refuses NaN and inf.
    engine = {"name": "procedural", "version": "1", "fingerprint": "f"}
    for job in recipe.jobs:
        job_key(job, engine, recipe.engine_options)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_fuzz_raw_text_never_tracebacks(tmp_path, text):
    path = tmp_path / "raw.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_recipe(path)
    except RecipeError as exc:
        assert exc.issues


def test_poster_text_the_fonts_cannot_draw_is_a_validation_error(write_recipe):
    path = write_recipe("name: p\nkind: posters\nstyle: calm\nassets:\n  - id: a\n    title: \"龙年 🐉\"\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    line = result.output.splitlines()[0]
    assert line.startswith(f"{path}:5:5: assets[0]: font \"Noto Sans CJK SC\" (")
    assert line.endswith('has no glyphs for 1 character: "🐉" U+1F409; add a font that covers them to '
                         "`fallback_fonts`, choose another `font`, or change the text")


def test_typeset_posters_ask_the_engine_for_a_text_free_background(write_recipe):
    base = "name: p\nkind: posters\nstyle: calm lake\nassets:\n  - {id: a, title: 春节快乐}\n"
    render = load_recipe(write_recipe(base, "r.yaml")).jobs[0]
    typeset = load_recipe(write_recipe(base + "text: typeset\n", "t.yaml")).jobs[0]
    assert "春节快乐" in render.prompt and "春节快乐" not in typeset.prompt
    assert [s.name for s in render.stages] == ["glyph_check"]
    assert [s.name for s in typeset.stages] == ["typeset", "glyph_check"]


def test_recipe_engine_options_are_exactly_what_the_engines_declare():
    from zpipe.engine.registry import ENGINES, engine_class
    from zpipe.recipe.fields import ENGINE_OPTION_OWNER, ENGINE_OPTIONS

    owner: dict[str, str] = {}
    for name in ENGINES:
        for key in engine_class(name).options:
            assert key not in owner, f"{key} is declared by {owner[key]} and {name}"
            owner[key] = name
    assert ENGINE_OPTION_OWNER == {"batch_size": "*", **owner}
    assert set(ENGINE_OPTIONS) == {"name"} | set(ENGINE_OPTION_OWNER)


def test_an_engine_checks_its_options_with_its_own_declarations(write_recipe):
    from zpipe.engine.procedural.engine import OPTIONS, ProceduralEngine

    assert ProceduralEngine.from_options({}).scale == OPTIONS["scale"].default
    with pytest.raises(EngineError, match=r"option 'scale': expected a number in \[0.25, 4.0\], got 9.0"):
        ProceduralEngine.from_options({"scale": 9.0})
    with pytest.raises(RecipeError, match=r"engine.scale.*expected a number in \[0.25, 4.0\], got 9.0"):
        load_recipe(write_recipe("name: r\nengine: {name: procedural, scale: 9.0}\nassets: [{id: a, prompt: x}]\n"))
