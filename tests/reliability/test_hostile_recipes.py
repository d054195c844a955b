"""Hostile recipes end in exit 2 with a message that names the place, quickly, never a traceback: format
specs, recursive aliases, deep nesting, huge numbers, alias bombs, bad --set paths, limits checked before
expansion, per-asset seeds. A fuzz test mixes all of them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zpipe.cli import main
from zpipe.recipe import RecipeError, load_recipe

BASE = "name: t\nprompt: x\n"
LAUGHS = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9 if p else ['x'] * 9)}]\n"
                 for p, c in zip([None, *"abcdefgh"], "abcdefghi"))
HOSTILE = {
    "format spec": ("name: t\nprompt: '{id:d}'\nassets: [{id: a}]\n", "2:9: prompt: {id:d}: format specs"),
    "nested format spec": ("name: t\nprompt: '{id:{id}}'\nassets: [{id: a}]\n", "format specs"),
    "gigabyte format spec": ("name: t\nprompt: '{id:>2000000000}'\nassets: [{id: a}]\n", "format specs"),
    "id template conversion": ("name: t\nprompt: x\nid: '{m!r}'\nmatrix: {m: [a]}\n", "id: {m!r}: format specs"),
    "recursive alias": (BASE + "assets: &a [*a]\n", "3:9: an alias refers to a node that contains it"),
    "5000 levels": (BASE + "assets: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels"),
    "100 levels": (BASE + "assets: " + "[" * 100 + "]" * 100 + "\n", "nested more than 64 levels"),
    "5000-digit int": (BASE + "seed: " + "9" * 5000 + "\nassets: [{id: a}]\n", "3:7: seed: the number 999"),
    "billion laughs": (BASE + LAUGHS, "more than 200,000 values once its aliases are expanded"),
    "10^12 matrix": ("name: t\nprompt: '{a}{b}{c}{d}'\nmatrix: {" + ", ".join(
        f"{k}: {list(range(1000))}" for k in "abcd") + "}\n", "makes 1,000,000,000,000 assets"),
    "10^6 matrix": ("name: t\nprompt: '{a}{b}'\nmatrix: {" + ", ".join(
        f"{k}: {list(range(1000))}" for k in "ab") + "}\n", "the limit is 10,000"),
    "seeds times assets": (BASE + "seeds: 1000\nmatrix: {m: " + str(list(range(11))) + "}\n", "makes 11,000 assets"),
    "stage sizes": (BASE + "size: 512\nstages: [{resize: {scale: 16}}, {upscale: {factor: 4}}]\nassets: [{id: a}]\n",
                    "the upscale stage makes a 32768x32768 image, over the limit of 67,108,864 pixels"),
}
SEEDS = ["-5", "18446744073709551621", "true", "abc", "1.5", ".nan", "[1]", "{a: 1}"]


def validate(path, *extra):
    return CliRunner().invoke(main, ["validate", str(path), *extra])


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_recipe_is_exit_2_naming_the_place(write_recipe, case):
    text, expected = HOSTILE[case]
    r = validate(write_recipe(text))
    assert r.exit_code == 2 and expected in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.parametrize("seed", SEEDS)
def test_per_asset_seed_is_validated(write_recipe, seed):
    r = validate(write_recipe(BASE + f"assets:\n  - {{id: a, seed: {seed}}}\n"))
    assert r.exit_code == 2 and ":4:19: assets[0].seed: expected an integer in [0, 4294967295]" in r.output, r.output


def test_limits_are_raised_by_the_recipe(write_recipe):
    text = BASE + "seeds: 1000\nmatrix: {m: " + str(list(range(11))) + "}\nlimits: {assets: 11000}\n"
    assert len(load_recipe(write_recipe(text)).jobs) == 11000
    six_levels = "".join(LAUGHS.splitlines(keepends=True)[:6])  # about 672,000 values expanded
    assert "aliases are expanded" in validate(write_recipe(BASE + six_levels)).output
    r = validate(write_recipe(BASE + six_levels + "limits: {values: 1000000}\n"))
    assert "aliases are expanded" not in r.output and "unknown key 'a'" in r.output


@pytest.mark.parametrize("override, expected", [
    ("....=1", "--set '....=1': expected KEY.PATH=VALUE"),
    ("[]=1", "expected KEY.PATH=VALUE"),
    ("assets[" + "9" * 50 + "]=1", "is too large"),
    ("prompt=&a [*a]", "a recursive alias"),
    ("seed=" + "9" * 5000, "has too many digits"),
    ("seed=!!python/object:os.system x", "unsupported YAML"),
])
def test_bad_set_is_exit_2(write_recipe, override, expected):
    r = validate(write_recipe(BASE + "assets: [{id: a}]\n"), "--set", override)
    assert r.exit_code == 2 and expected in r.output, r.output
    assert len(r.output) < 1000  # a 5000-digit --set is not echoed whole


# --- fuzz: random recipes built from the hostile pieces above --------------------------------------
templates = st.lists(st.sampled_from(["{id}", "{m}", "{id:d}", "{id:{id}}", "{id!r}", "{", "}", "{{x}}", "{0}",
                                      "{id.x}", "{id[0]}", "{:>99999}", "stone", " "]), max_size=5).map("".join)
numbers = st.one_of(st.integers(-2**70, 2**70).map(str), st.text("0123456789", min_size=1, max_size=5000),
                    st.sampled_from([".nan", ".inf", "-.inf", "1e999", "true", "0x1F", "1_000", "abc"]))
nesting = st.integers(0, 300).map(lambda n: "[" * n + "]" * n or "[]")
aliases = st.sampled_from(["&a [*a]", "&a {k: *a}", "[&a x, *a, *a]", LAUGHS.replace("\n", "\n  ")[:-2],
                           "&a [x]", "*undefined", "[&b [1], *b, *b]"])


@st.composite
def hostile_recipes(draw) -> str:
    lines = ["name: fuzz", f"prompt: '{draw(templates)}'"]
    optional = [
        lambda: f"seed: {draw(numbers)}",
        lambda: f"id: '{draw(templates)}'",
        lambda: f"matrix: {{m: [a, b, {draw(numbers)}]}}",
        lambda: f"assets: [{{id: a, seed: {draw(numbers)}, size: {draw(numbers)}}}]",
        lambda: f"stages: {draw(nesting)}",
        lambda: f"extra: {draw(aliases)}",
        lambda: f"limits: {{assets: {draw(numbers)}, values: {draw(numbers)}}}",
    ]
    lines += [line() for line in optional if draw(st.booleans())]
    return "\n".join(draw(st.permutations(lines))) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=hostile_recipes(), override=st.one_of(st.none(), st.builds("{}={}".format, st.sampled_from(
    ["seed", "....", "assets[0].seed", "a.b[3]", "prompt", "[0]"]), st.one_of(numbers, aliases, templates))))
def test_fuzz_hostile_recipes_are_values_or_recipe_errors(tmp_path, text, override):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        recipe = load_recipe(path, [override] if override else [])
    except RecipeError as exc:
        assert exc.issues and all(str(i) for i in exc.issues)
        return
    assert all("{" not in j.id for j in recipe.jobs)
