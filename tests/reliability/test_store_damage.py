"""Damage to the store on disk is detected, never spread: gc, resume, reuse through hardlinks, `zpipe verify`,
the hook's target, an interrupted publish, and store files of the wrong shape (issue 13, items 1-5)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import run_cli

from zpipe.cli import main
from zpipe.exits import EXIT_FAILED
from zpipe.integrity import HAS_CTIME
from zpipe.store import RecipeStore

RECIPE = "name: t\nengine: procedural\nsize: 64\nprompt: '{m} stone'\nmatrix: {m: [granite, slate, basalt]}\n"


def build(path, out, *extra):
    r = run_cli("run", path, "--out", out, "--json", *extra)
    done = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    return r, (done[-1] if done else None)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_manifest_matches_files(version: Path) -> None:
    manifest = json.loads((version / "manifest.json").read_text())
    for a in manifest["assets"]:
        for rel, digest in a["outputs"].items():
            assert sha(version / rel) == digest, rel


def two_versions(write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    assert build(path, out)[0].exit_code == 0
    path.write_text(RECIPE.replace("basalt]", "basalt, marble]"))
    assert build(path, out)[1]["version"] == "v0002"
    return path, out, out / "t"


def test_gc_refuses_while_the_latest_is_damaged_and_keeps_the_newest_readable(write_recipe, tmp_path):
    path, out, root = two_versions(write_recipe, tmp_path)
    (root / "v0002" / "manifest.json").write_text("{not json")
    r = run_cli("gc", root, "--keep", "1")
    assert r.exit_code == 1 and "v0002/manifest.json" in r.output and "Traceback" not in r.output
    assert RecipeStore(out, "t").versions() == ["v0001", "v0002"]
    # A damaged version newer than LATEST (a stray folder) is not the latest: the newest readable one stays.
    (root / "v0002" / "manifest.json").write_text(json.dumps({"assets": "?"}))
    shutil.copytree(root / "v0001", root / "v0003")
    (root / "LATEST").write_text("v0003\n")
    (root / "v0003" / "manifest.json").write_text("[]")
    assert run_cli("gc", root, "--keep", "1").exit_code == 1
    (root / "LATEST").write_text("v0001\n")
    r = run_cli("gc", root, "--keep", "1")
    assert r.exit_code == 0, r.output
    assert RecipeStore(out, "t").versions() == ["v0001", "v0003"]  # v0001: the newest readable and the latest


def test_gc_that_fails_half_way_puts_back_what_it_moved(write_recipe, tmp_path, monkeypatch):
    path, out, root = two_versions(write_recipe, tmp_path)
    path.write_text(RECIPE.replace("basalt]", "basalt, marble, slate2]"))
    assert build(path, out)[1]["version"] == "v0003"
    before = listing(root)
    real = os.rename

    def refuse_v0002(src, dst):  # a version that cannot move (Windows: a file open in another program)
        if Path(src).name == "v0002":
            raise PermissionError(13, "The process cannot access the file", str(src))
        real(src, dst)

    monkeypatch.setattr(os, "rename", refuse_v0002)
    r = run_cli("gc", root, "--keep", "1")
    monkeypatch.undo()
    assert r.exit_code == EXIT_FAILED and "v0002" in r.output, r.output
    assert listing(root) == before  # v0001, moved first, is back
    assert RecipeStore(out, "t").versions() == ["v0001", "v0002", "v0003"]


def test_resume_rebuilds_a_truncated_staged_file(write_recipe, tmp_path, monkeypatch):
    path, out = write_recipe(RECIPE), tmp_path / "out"

    def killed(*a, **k):  # the process dies before it publishes: finished assets stay in staging
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(RecipeStore, "publish", killed)
        assert build(path, out)[0].exit_code == 130
    staged = sorted((out / "t" / ".staging").glob("*/albedo.png"))
    assert len(staged) == 3
    staged[0].write_bytes(staged[0].read_bytes()[:100])  # truncated
    (staged[1].parent / "result.json").write_text('{"outputs": ')  # a damaged record
    r, done = build(path, out)
    assert r.exit_code == 0, r.output
    resumed = [json.loads(x).get("resumed") for x in r.output.splitlines() if '"asset_done"' in x]
    assert resumed.count(True) == 1 and done["built"] == 3
    assert_manifest_matches_files(out / "t" / "v0001")


def test_an_edit_through_a_hardlink_is_rebuilt_not_published_and_verify_repairs_it(write_recipe, tmp_path):
    path, out, root = two_versions(write_recipe, tmp_path)
    a1, a2 = root / "v0001" / "granite" / "albedo.png", root / "v0002" / "granite" / "albedo.png"
    assert os.stat(a1).st_ino == os.stat(a2).st_ino
    with open(a2, "r+b") as f:  # an edit in place: every version that links the file changes
        f.seek(200)
        f.write(b"\0" * 16)
    r = run_cli("verify", root)
    assert r.exit_code == 1 and "damaged: v0001/granite/albedo.png: changed" in r.output
    assert "damaged: v0002/granite/albedo.png: changed" in r.output and "2 damaged" in r.output
    # The next run rebuilds the damaged asset instead of publishing it under the old sha256.
    r, done = build(path, out)
    assert r.exit_code == 0 and (done["version"], done["built"], done["reused"]) == ("v0003", 1, 3)
    assert_manifest_matches_files(root / "v0003")
    # --repair re-links the old versions from the intact rebuilt copy (same key, same bytes).
    r = run_cli("verify", root, "--repair")
    assert r.exit_code == 0, r.output
    assert "repaired: v0001/granite/albedo.png" in r.output and "all intact" in r.output
    for v in ("v0001", "v0002", "v0003"):
        assert_manifest_matches_files(root / v)


def edit_keeping_size_and_mtime(file: Path) -> None:
    """Bytes changed in place, then the old mtime put back (what `cp -p`, rsync or an unzip may do)."""
    st = os.stat(file)
    data = bytearray(file.read_bytes())
    data[200:216] = bytes(b ^ 0xFF for b in data[200:216])
    with open(file, "r+b") as f:
        f.write(data)
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(file).st_size, os.stat(file).st_mtime_ns) == (st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("how", ["default", "--verify-reuse", "ZPIPE_VERIFY_REUSE=1"])
def test_an_edit_that_keeps_size_and_mtime_is_rebuilt_not_published(write_recipe, tmp_path, monkeypatch, how):
    if how == "default" and not HAS_CTIME:
        pytest.skip("no inode change time here: only --verify-reuse finds such an edit")
    if how.startswith("ZPIPE_"):
        monkeypatch.setenv(*how.split("="))
    path, out, root = two_versions(write_recipe, tmp_path)
    edit_keeping_size_and_mtime(root / "v0002" / "granite" / "albedo.png")
    r, done = build(path, out, *([how] if how.startswith("--") else []))
    assert r.exit_code == 0 and (done["version"], done["built"], done["reused"]) == ("v0003", 1, 3), r.output
    assert_manifest_matches_files(root / "v0003")


@pytest.mark.skipif(not HAS_CTIME, reason="links move no stat on this platform")
def test_files_whose_ctime_a_link_moved_are_hashed_once(write_recipe, tmp_path, monkeypatch):
    import zpipe.integrity

    path, out, root = two_versions(write_recipe, tmp_path)
    assert run_cli("gc", root, "--keep", "1").exit_code == 0  # unlinks v0001: the ctime of what v0002 shares moves
    hashed = []
    real = zpipe.integrity.file_sha256
    monkeypatch.setattr(zpipe.integrity, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    assert build(path, out)[1]["up_to_date"]
    assert len(hashed) == 3 * len(os.listdir(root / "v0002" / "granite"))  # the three assets v0001 shared
    hashed.clear()
    assert build(path, out)[1]["up_to_date"] and hashed == []  # their stat and digest are in .hashes now
    edit_keeping_size_and_mtime(root / "v0002" / "slate" / "albedo.png")  # the cache trusts no changed ctime
    r, done = build(path, out)
    assert (done["version"], done["built"], done["reused"]) == ("v0003", 1, 3), r.output


def test_verify_repair_rebuilds_what_has_no_intact_copy(write_recipe, tmp_path):
    path, out, root = two_versions(write_recipe, tmp_path)
    (root / "v0002" / "slate" / "normal.png").unlink(missing_ok=True)
    (root / "v0002" / "slate" / "albedo.png").write_bytes(b"not a png")  # a new file: v0001 keeps its bytes
    victim = root / "v0002" / "marble" / "albedo.png"  # built in v0002 only: no other copy
    victim.write_bytes(b"junk")
    r = run_cli("verify", root, "--repair")
    assert r.exit_code == 0, r.output
    assert "repaired: v0002/marble/albedo.png" in r.output and "repaired: v0002/slate/albedo.png" in r.output
    assert RecipeStore(out, "t").versions() == ["v0001", "v0002", "v0003"]  # the rebuild
    for v in ("v0001", "v0002", "v0003"):
        assert_manifest_matches_files(root / v)


def test_a_deleted_published_file_is_rebuilt(write_recipe, tmp_path):
    path, out, root = two_versions(write_recipe, tmp_path)
    (root / "v0002" / "slate" / "albedo.png").unlink()
    r, done = build(path, out)
    assert r.exit_code == 0, r.output
    # slate's key is also in v0001, whose copy is intact: it is linked from there (reuse from any version)
    assert (done["version"], done["built"], done["reused"]) == ("v0003", 0, 4)
    assert_manifest_matches_files(root / "v0003")
    (root / "v0001" / "slate" / "albedo.png").unlink()  # with no intact copy left, it is rebuilt
    (root / "v0003" / "slate" / "albedo.png").unlink()
    r, done = build(path, out)
    assert (done["version"], done["built"]) == ("v0004", 1)
    assert_manifest_matches_files(root / "v0004")


def test_hook_target_inside_the_store_is_refused(tmp_path):
    request = {"version": 1, "target": "store/t/v0001", "store": "store", "engine": "procedural", "link": "symlink",
               "defaults": {"size": 64}, "materials": [{"name": "Rock", "description": "granite"}]}
    req = tmp_path / "r.json"
    req.write_text(json.dumps(request))
    r = CliRunner().invoke(main, ["hook", "export", "--request", str(req), "--json"])
    assert r.exit_code == 2
    answer = json.loads(r.stdout)
    assert answer["ok"] is False and "inside the asset store" in answer["error"]
    assert not (tmp_path / "store" / "t").exists()


def test_a_publish_killed_after_the_rename_is_finished_not_duplicated(write_recipe, tmp_path, monkeypatch):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    assert build(path, out)[0].exit_code == 0
    path.write_text(RECIPE.replace("basalt]", "basalt, marble]"))

    def killed(self, name):  # dies right after `os.rename(tmp, vNNNN)`, before LATEST and latest move
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(RecipeStore, "_point_latest", killed)
        assert build(path, out)[0].exit_code == 130
    root = out / "t"
    assert (root / "LATEST").read_text().strip() == "v0001" and (root / "v0002").is_dir()
    r, done = build(path, out)
    assert r.exit_code == 0 and done["version"] == "v0002" and done["up_to_date"] is True
    assert RecipeStore(out, "t").versions() == ["v0001", "v0002"]
    assert (root / "LATEST").read_text().strip() == "v0002" and os.readlink(root / "latest") == "v0002"
    assert list((root / ".staging").iterdir()) == []


@pytest.mark.parametrize("damage", ["wrong-shape", "assets-not-dicts", "list"])
def test_a_manifest_of_the_wrong_shape_is_a_message(write_recipe, tmp_path, damage):
    path, out = write_recipe(RECIPE), tmp_path / "out"
    assert build(path, out)[0].exit_code == 0
    text = {"wrong-shape": '{"assets": {"a": 1}}', "assets-not-dicts": '{"assets": [1, "x"]}', "list": "[1]"}[damage]
    (out / "t" / "v0001" / "manifest.json").write_text(text)
    for args in (("run", path, "--out", out), ("versions", out / "t"), ("plan", path, "--out", out),
                 ("diff", out / "t", "v0001", "v0001")):
        r = run_cli(*args)
        assert r.exit_code == 1 and "v0001/manifest.json: " in r.output and "restore the folder" in r.output, args
        assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)


def test_latest_replaced_by_a_folder_does_not_fail_a_build(write_recipe, tmp_path):
    path, out, root = two_versions(write_recipe, tmp_path)
    (root / "LATEST").unlink()
    (root / "LATEST").mkdir()
    path.write_text(RECIPE)
    r, done = build(path, out)
    assert r.exit_code == 0 and done["version"] == "v0003", r.output
    assert r.exit_code == 0 and run_cli("versions", root).exit_code == 0


def _without_file_privileges() -> None:
    """preexec_fn for root: cut CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the bounding set,
    so that the program exec'd next obeys file permissions (what `setpriv --bounding-set` does)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def unprivileged(tmp_path, zpipe_cmd):
    """Run the zpipe CLI in a process that cannot ignore file permissions: as it is for a normal user; as
    root, without the capabilities that override them. Skips where neither works (no POSIX permissions)."""
    if os.name != "posix":
        pytest.skip("POSIX file permissions")
    preexec = _without_file_privileges if os.geteuid() == 0 else None

    def run(*args, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(args, capture_output=True, text=True, timeout=120, preexec_fn=preexec, **kwargs)

    probe = tmp_path / "read-only-probe"
    probe.mkdir(mode=0o555)
    try:
        r = run(sys.executable, "-c", "import sys; open(sys.argv[1] + '/x', 'w')", str(probe))
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot give up the right to ignore permissions here: {exc}")
    finally:
        probe.chmod(0o755)
    if r.returncode == 0:
        pytest.skip("this process cannot give up the right to ignore file permissions")
    return lambda *args: run(*zpipe_cmd, *map(str, args))


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_gc_without_write_permission_changes_nothing(write_recipe, tmp_path, unprivileged):
    path, out, root = two_versions(write_recipe, tmp_path)
    before = listing(root)
    folders = [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]
    for folder in folders:  # the whole store read-only (another user's, or a read-only mount)
        folder.chmod(0o555)
    try:
        r = unprivileged("gc", root, "--keep", "1")
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert r.returncode == EXIT_FAILED, r.stderr
    assert r.stderr == f"error: {root} is read-only for this user (Permission denied); building, gc and repair " \
                       "write there: run as the user who owns it, or give this one write permission\n"
    assert listing(root) == before

    # The recipe's folder writable, an asset folder of the version to delete not: found before anything moves.
    asset = next(p for p in sorted((root / "v0001").iterdir()) if p.is_dir())
    asset.chmod(0o555)
    try:
        r = unprivileged("gc", root, "--keep", "1")
    finally:
        asset.chmod(0o755)
    assert r.returncode == EXIT_FAILED and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: {asset}: no permission to delete in it, so gc changed nothing;"), r.stderr
    assert listing(root) == before

    r = unprivileged("gc", root, "--keep", "1")  # with the permission back, the same command works
    assert r.returncode == 0 and r.stdout.startswith("removed 1 version: v0001;"), r.stdout + r.stderr
    assert RecipeStore(out, "t").versions() == ["v0002"]
    assert_manifest_matches_files(root / "v0002")


PAYLOADS = {
    "garbage": b"\x00garbage{", "not utf-8": b"\xff\xfe\xfd\n", "empty": b"", "deep": b"[" * 100_000,
    "wrong shape": b'{"assets": [{"id": 1}], "a": [1, 2]}', "short rows": b"a\tb\nc\n", "folder": None,
}
STORE_FILES = ["v0002/manifest.json", "v0002/.keys", "v0001/manifest.json", "v0001/.keys", "LATEST", "latest",
               ".hashes", ".lock.holder", ".staging"]


@pytest.fixture(scope="module")
def two_version_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    path, out = folder / "r.yaml", folder / "out"
    path.write_text(RECIPE)
    assert build(path, out)[0].exit_code == 0
    path.write_text(RECIPE.replace("basalt]", "basalt, marble]"))
    assert build(path, out)[1]["version"] == "v0002"
    return path, out


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("name", STORE_FILES)
def test_any_damaged_store_file_is_a_message_or_a_repair(two_version_store, tmp_path, name, payload):
    src_recipe, src_out = two_version_store
    path, out = tmp_path / "r.yaml", tmp_path / "out"
    shutil.copy(src_recipe, path)
    shutil.copytree(src_out, out, symlinks=True)
    root = out / "t"
    target = root / name
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if PAYLOADS[payload] is None:
        target.mkdir()
    else:
        target.write_bytes(PAYLOADS[payload])
    for args in (["versions", root], ["diff", root], ["plan", path, "--out", out], ["verify", root],
                 ["run", path, "--out", out], ["gc", root, "--keep", "1"]):
        r = run_cli(*args)
        assert r.exit_code in (0, 1, 2) and "Traceback" not in r.output, (args, r.output)


RECORD_DAMAGE = {
    "stat a list": {"stat": [1, 2]}, "stat values wrong": {"stat": {"granite/albedo.png": "x"}},
    "digest a number": {"outputs": {"granite/albedo.png": 5}}, "outputs escape": {"outputs": {"../../x": "0" * 64}},
    "seed a string": {"seed": "x"}, "size wrong": {"size": "big"}, "engine a list": {"engine": [1]},
    "metrics a list": {"metrics": [1]}, "sha256 a list": {"sha256": [1]},
}


@pytest.mark.parametrize("damage", RECORD_DAMAGE)
def test_manifest_records_with_odd_fields_are_messages_or_rebuilds(two_version_store, tmp_path, damage):
    src_recipe, src_out = two_version_store
    path, out = tmp_path / "r.yaml", tmp_path / "out"
    shutil.copy(src_recipe, path)
    shutil.copytree(src_out, out, symlinks=True)
    root = out / "t"
    manifest = json.loads((root / "v0002" / "manifest.json").read_text())
    manifest["assets"] = [{**a, **RECORD_DAMAGE[damage]} for a in manifest["assets"]]
    (root / "v0002" / "manifest.json").write_text(json.dumps(manifest))
    for args in (["versions", root], ["diff", root], ["plan", path, "--out", out], ["verify", root],
                 ["run", path, "--out", out], ["diff", root], ["gc", root, "--keep", "1"]):
        r = run_cli(*args)
        assert r.exit_code in (0, 1, 2) and "Traceback" not in r.output, (args, r.output)



def test_the_hash_cache_is_saved_once_per_plan_however_many_versions_it_reads(write_recipe, tmp_path, monkeypatch):
    import zpipe.integrity
    from zpipe.plan import make_plan
    from zpipe.recipe import load_recipe

    path, out, root = two_versions(write_recipe, tmp_path)
    path.write_text(RECIPE.replace("slate, basalt]", "]"))
    assert build(path, out)[1]["version"] == "v0003"  # granite only
    path.write_text(RECIPE.replace("basalt]", "marble]"))
    saves = []
    real = zpipe.integrity.HashCache.save
    monkeypatch.setattr(zpipe.integrity.HashCache, "save", lambda self: saves.append(1) or real(self))
    plan = make_plan(load_recipe(path), RecipeStore(out, "t"))
    assert sorted(pj.origin for pj in plan.jobs) == ["v0002", "v0002", "v0003"]  # two versions checked
    assert len(saves) == 1


@pytest.mark.skipif(not HAS_CTIME, reason="links move no stat on this platform")
def test_verify_keeps_what_it_hashed_for_the_runs_after_it(write_recipe, tmp_path, monkeypatch):
    import zpipe.integrity

    path, out, root = two_versions(write_recipe, tmp_path)
    assert run_cli("gc", root, "--keep", "1").exit_code == 0  # unlinks v0001: the ctime of what v0002 shares moves
    (root / ".hashes").unlink(missing_ok=True)
    assert run_cli("verify", root).exit_code == 0  # hashes every file (no lock held)
    hashed = []
    real = zpipe.integrity.file_sha256
    monkeypatch.setattr(zpipe.integrity, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    assert build(path, out)[1]["up_to_date"] and hashed == []  # verify's digests are in .hashes


def test_hash_cache_saves_merge_with_what_another_process_saved_meanwhile(tmp_path):
    from zpipe.integrity import HashCache, file_sha256, stat_of

    files = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for i, f in enumerate(files):
        f.write_bytes(bytes([i]) * 100)
    first, second = HashCache(tmp_path / ".hashes"), HashCache(tmp_path / ".hashes")  # e.g. a run and a verify
    first.add(files[0], stat_of(files[0]), file_sha256(files[0]))
    second.add(files[1], stat_of(files[1]), file_sha256(files[1]))
    first.save()
    second.save()
    saved = HashCache(tmp_path / ".hashes")
    assert all(saved.holds(f, stat_of(f), file_sha256(f)) for f in files[:2]), saved.entries
    files[0].unlink()
    second.add(files[2], stat_of(files[2]), file_sha256(files[2]))
    second.save()  # keeps no entry for a file that is gone
    assert set(json.loads((tmp_path / ".hashes").read_text())) == {"b.png", "c.png"}


def outputs(version: Path) -> list[Path]:
    manifest = json.loads((version / "manifest.json").read_text())
    return [version / rel for a in manifest["assets"] for rel in a["outputs"]]


@pytest.mark.parametrize("how", ["--verify-reuse", "ZPIPE_VERIFY_REUSE=1"])
def test_verify_reuse_records_the_hashes_it_computes_and_trusts_none(write_recipe, tmp_path, monkeypatch, how):
    from zpipe.integrity import stat_of

    path, out, root = two_versions(write_recipe, tmp_path)
    (root / ".hashes").unlink(missing_ok=True)
    args = [how] if how.startswith("--") else []
    if how.startswith("ZPIPE_"):
        monkeypatch.setenv(*how.split("="))
    assert build(path, out, *args)[1]["up_to_date"]
    cached = json.loads((root / ".hashes").read_text())
    files = outputs(root / "v0002")
    assert len(files) >= 4
    assert all(cached[p.relative_to(root).as_posix()] == [*stat_of(p), sha(p)] for p in files), cached

    # A cache entry that vouches for an edited file does not fool --verify-reuse (it hashes every file).
    edited = root / "v0002" / "granite" / "albedo.png"
    digest = sha(edited)
    edit_keeping_size_and_mtime(edited)
    cached[edited.relative_to(root).as_posix()] = [*stat_of(edited), digest]
    (root / ".hashes").write_text(json.dumps(cached))
    r, done = build(path, out, *args)
    assert (done["version"], done["built"], done["reused"]) == ("v0003", 1, 3), r.output


def test_gc_walks_each_doomed_tree_once_and_counts_what_it_frees(write_recipe, tmp_path, monkeypatch):
    import zpipe.store

    path, out, root = two_versions(write_recipe, tmp_path)  # v0002 links v0001's three assets
    only_v1 = sum(p.stat().st_size for p in (root / "v0001").rglob("*") if p.is_file() and p.stat().st_nlink == 1)
    walked = []
    real = os.walk
    monkeypatch.setattr(zpipe.store.os, "walk", lambda top, *a, **k: walked.append(Path(top).name) or real(top, *a, **k))
    freed = RecipeStore(out, "t").gc(1)
    assert freed.versions == ["v0001"] and walked == ["v0001"]
    assert freed.bytes == only_v1 > 0
