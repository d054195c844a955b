"""`zpipe run --report junit.xml --report summary.md` and `--fail-on`: schema-valid JUnit whose counts match
the manifest, a Markdown summary with seam/OCR results, and exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import run_cli

from zpipe.report.junit import junit_xml
from zpipe.report.rules import collect_warnings
from zpipe.report.summary import markdown, this_run

xmlschema = pytest.importorskip("xmlschema")

XSD = Path(__file__).with_name("junit.xsd")

# two assets pass the seam gate; `seamy` cannot (max_seam below any real score, no repair): a QA failure
RECIPE = """\
name: qa
engine: procedural
size: 64
prompt: "{material} texture"
matrix:
  material: [granite, slate]
assets:
  - id: seamy
    prompt: "brick wall texture"
    stages: [{tile: {max_seam: 0.5, repair: none, retries: 0, edge_aware: false}}]
stages:
  - tile: {max_seam: 3.0}
  - pbr: {maps: [normal, roughness]}
"""


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(XSD))


def cases(xml_path: Path) -> dict[str, ET.Element]:
    suite = ET.parse(xml_path).getroot().find("testsuite")
    return {c.get("name"): c for c in suite.findall("testcase")}


def check_against_manifest(xml_path: Path, manifest: dict, schema) -> ET.Element:
    schema.validate(str(xml_path))  # raises XMLSchemaValidationError with the reason
    root = ET.parse(xml_path).getroot()
    suite = root.find("testsuite")
    failed = [a for a in manifest["assets"] if a["status"] == "failed"]
    assert int(root.get("tests")) == int(suite.get("tests")) == len(manifest["assets"])
    assert int(root.get("failures")) == int(suite.get("failures")) == len(failed) == manifest["summary"]["failed"]
    got = cases(xml_path)
    assert list(got) == [a["id"] for a in manifest["assets"]]
    for a in manifest["assets"]:
        failures = got[a["id"]].findall("failure")
        if a["status"] == "failed":
            assert len(failures) == 1 and failures[0].get("message") == a["error"]
            assert failures[0].get("type") == a["error"].split(":")[0]
        else:
            assert failures == [] and got[a["id"]].find("error") is None
    return suite


def check_first_summary(md: str, rep, out) -> None:
    assert "**2 built, 0 reused, 1 failed**" in md
    assert "## Failed" in md and "| seamy | tile: " in md and "seam score" in md.split("## Failed")[1]
    assert "## Seam scores" in md
    assert "| granite | built | albedo | " in md and "| 3.0 | pass | – |" in md
    # links are relative to the summary's folder and point at real files
    link = next(ln for ln in md.splitlines() if ln.startswith("| granite | built | 64")).split("](")[1].split(")")[0]
    assert (rep / link).resolve() == (out / "qa" / "v0001" / "granite" / "albedo.png").resolve()


def test_junit_and_summary_match_the_manifest_over_two_runs(write_recipe, tmp_path, schema):
    path, out, rep = write_recipe(RECIPE), tmp_path / "out", tmp_path / "reports"
    r1 = run_cli("run", path, "--out", out, "--json", "--report", rep / "junit.xml", "--report", rep / "summary.md")
    assert r1.exit_code == 1, r1.output  # a QA failure fails the run
    m1 = json.loads((out / "qa" / "v0001" / "manifest.json").read_text())
    assert m1["summary"] == {"built": 2, "reused": 0, "failed": 1}
    check_against_manifest(rep / "junit.xml", m1, schema)
    fail = cases(rep / "junit.xml")["seamy"].find("failure")
    assert "seam score" in fail.get("message") and "max_seam 0.5" in fail.text
    assert f"seed {m1['assets'][2]['seed']}" in fail.text
    check_first_summary((rep / "summary.md").read_text(), rep, out)

    # add an asset: it is built, the passing ones are reused (passing test cases), the failure is tried again
    r2 = run_cli("run", path, "--out", out, "--set", "matrix.material=[granite, slate, marble]",
                 "--report", rep / "junit.xml", "--report", rep / "summary.md")
    assert r2.exit_code == 1
    m3 = json.loads((out / "qa" / "v0002" / "manifest.json").read_text())
    assert m3["summary"] == {"built": 1, "reused": 2, "failed": 1}
    suite = check_against_manifest(rep / "junit.xml", m3, schema)
    reused = [a["id"] for a in m3["assets"] if a["status"] == "reused"]
    assert reused == ["granite", "slate"]
    for aid in reused:
        assert "reused" in cases(rep / "junit.xml")[aid].find("system-out").text
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["version"] == "v0002" and props["reused"] == "2"
    assert "**1 built, 2 reused, 1 failed**" in (rep / "summary.md").read_text()


def test_up_to_date_run_reports_every_asset_reused(write_recipe, tmp_path, schema):
    path, out = write_recipe(RECIPE.replace("max_seam: 0.5, ", "")), tmp_path / "out"
    assert run_cli("run", path, "--out", out).exit_code == 0
    r = run_cli("run", path, "--out", out, "--report", tmp_path / "j.xml", "--report", tmp_path / "s.md")
    assert r.exit_code == 0
    manifest = this_run(json.loads((out / "qa" / "v0001" / "manifest.json").read_text()), up_to_date=True)
    assert manifest["summary"] == {"built": 0, "reused": 3, "failed": 0}
    check_against_manifest(tmp_path / "j.xml", manifest, schema)
    assert "**0 built, 3 reused, 0 failed** (up to date" in (tmp_path / "s.md").read_text()


def test_the_schema_rejects_broken_reports(tmp_path, schema):
    """The XSD is not vacuous: what the tests rely on it to catch, it catches."""
    manifest = {"recipe": {"name": "r"}, "version": "v0001", "created": "2026-11-26T23:00:00+00:00",
                "assets": [{"id": "a", "status": "failed", "error": "tile: bad seam", "timings": {"generate": 0.5}},
                           {"id": "b", "status": "built", "files": {"albedo": "b/albedo.png"}}]}
    good = junit_xml(manifest)
    assert schema.is_valid(good.decode())
    for broken in (good.replace(b'tests="2"', b'tests="two"', 1),                 # a count that is no number
                   good.replace(b'time="0.500"', b'time="half a second"', 1),     # a bad time
                   good.replace(b'<testcase name="a"', b'<testcase nom="a"', 1),  # a case without a name
                   good.replace(b"<properties>", b"<properties><bogus/>", 1)):    # an unknown element
        assert broken != good and not schema.is_valid(broken.decode())


def test_markdown_shows_ocr_results_and_stage_warnings(tmp_path):
    lines = [{"expected": "春节快乐", "found": "春节快乐", "ned": 1.0, "pass": True},
             {"expected": "Happy | New Year", "found": "Happy New Yaer", "ned": 0.86, "pass": False}]
    manifest = {"recipe": {"name": "posters"}, "version": "v0002", "engine": {"name": "procedural"},
                "assets": [{"id": "p1", "status": "failed", "error": "glyph_check: 'Happy' read as 'Hapy'",
                            "files": {}, "metrics": {"glyph_check": {"path": "render", "lines": lines}}},
                           {"id": "p2", "status": "built", "files": {"poster": "p2/poster.png"},
                            "metrics": {"glyph_check": {"path": "fallback", "lines": lines[:1]},
                                        "colour_grade": {"warnings": ["clipped 3% of pixels"]}}}]}
    manifest["assets"].append({"id": "t1", "status": "failed", "error": "tile: seam score 3.10", "metrics": {
        "tile": {"max_seam": 2.0, "passed": False, "scores_before": {"albedo": {"x": 3.3, "y": 1.1}},
                 "scores": {"albedo": {"x": 3.1, "y": 1.0}}, "repaired": True, "reseeds": 0}}})
    (tmp_path / "v0002").mkdir()
    (tmp_path / "v0002" / "contact_sheet.png").write_bytes(b"png")
    md = markdown(manifest, tmp_path / "v0002", tmp_path)
    assert "- contact sheet: [contact_sheet.png](v0002/contact_sheet.png)" in md
    assert "| p2 | built | – | 0.00 | [poster.png](v0002/p2/poster.png) |" in md
    assert "| t1 | failed | albedo | 3.1 | 1.0 | 3.3/1.1 | 2.0 | FAIL | repaired |" in md
    assert "## OCR glyph check" in md
    assert "| p1 | failed | render | Happy \\| New Year | Happy New Yaer | 0.860 | FAIL |" in md
    assert "| p2 | built | fallback | 春节快乐 | 春节快乐 | 1.000 | pass |" in md
    assert collect_warnings(manifest) == [
        ("p2", "glyph_check: no rendered candidate passed the OCR check; the typeset fallback was used"),
        ("p2", "colour_grade: clipped 3% of pixels")]
    assert "**p2**: colour_grade: clipped 3% of pixels" in md


def test_fail_on_warnings_engine_fallback(write_recipe, tmp_path):
    """`engine: auto` without weights falls back to procedural: a warning, fatal only with --fail-on warnings."""
    path, out = write_recipe("name: fb\nengine: auto\nsize: 64\nprompt: granite texture\nassets: [{id: a}]\n"), \
        tmp_path / "out"
    r1 = run_cli("run", path, "--out", out, "--report", tmp_path / "s.md")
    assert r1.exit_code == 0, r1.output
    assert "engine auto: using procedural (" in (tmp_path / "s.md").read_text()
    r2 = run_cli("run", path, "--out", out, "--fail-on", "warnings")  # up to date: the warning still holds
    assert r2.exit_code == 1
    assert "failing: 1 warning(s) and --fail-on warnings" in r2.output
    assert run_cli("run", path, "--out", out, "--engine", "procedural", "--fail-on", "warnings").exit_code == 0


def test_bad_report_arguments_exit_2_before_building(write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    r = run_cli("run", path, "--out", out, "--report", tmp_path / "report.txt")
    assert r.exit_code == 2
    assert "report.txt" in r.output and "use .xml for JUnit or .md" in r.output and "Traceback" not in r.output
    assert not out.exists()
    r = run_cli("run", path, "--out", out, "--fail-on", "errors")
    assert r.exit_code == 2 and "Traceback" not in r.output
