"""The command line: a thin click layer over zpipe's plain functions.

Heavy imports (torch, ray, OCR) happen inside commands, never at module import, so ``zpipe --help``
and ``zpipe validate`` start fast on machines without a GPU stack.
Exit codes: 0 ok, 1 some assets failed (or the build could not run), 2 invalid input or usage,
70 a bug in zpipe (see :data:`zpipe.exits.EXIT_CODES`, the one place that maps errors to codes), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback

import click

from zpipe import __version__
from zpipe.exits import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    ExitWithoutHandlers,
    classify,
    exit_for,
    failed_answer,
)
from zpipe.std_streams import open_missing, silence


class InvalidInput(click.ClickException):
    """Bad input found by the CLI itself: the message as is, exit 2."""

    exit_code = EXIT_INVALID

    def show(self, file=None) -> None:
        click.echo(self.message, err=True)


def _fail_invalid(message: str):
    raise InvalidInput(message)


def _report_bug(exc: BaseException, verbose: int) -> None:
    """The last resort: one line that names the log with the trace (and the trace itself under -v)."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log_path = _write_crash_log(trace)
    where = f"the log {log_path}" if log_path else "the trace (rerun with -v to see it)"
    click.echo(f"zpipe {__version__}: internal error ({type(exc).__name__}: {str(exc)[:200]}); this is a bug in "
               f"zpipe: please file a bug report with {where}", err=True)
    if verbose:
        click.echo(trace, err=True, nl=False)


def _write_crash_log(trace: str) -> str | None:
    import tempfile
    import time

    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    text = f"zpipe {__version__}\nargv: {sys.argv}\n\n{trace}"
    for folder in (os.path.join(cache, "zpipe", "logs"), tempfile.gettempdir()):
        try:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return None


def _load(path: str, overrides: tuple[str, ...] = (), engine: str | None = None):
    from zpipe.recipe import load_recipe

    return load_recipe(path, list(overrides), engine)


verify_reuse_option = click.option(
    "--verify-reuse", is_flag=True, envvar="ZPIPE_VERIFY_REUSE",
    help="Hash every file before reusing it, trusting no size/time stat (slower; for CI). [env ZPIPE_VERIFY_REUSE=1]")
only_option = click.option(
    "--only", "only", multiple=True, metavar="ID_OR_GLOB",
    help="Build only these assets (ids or globs such as 'granite_*'; repeatable or comma-separated); the "
         "others keep what the latest version has.")


def _selection(recipe, only: tuple[str, ...]) -> list[str] | None:
    """The --only patterns, checked against the recipe's ids (a pattern matching nothing is a usage error)."""
    from zpipe.plan import SelectionError, select

    patterns = [p.strip() for item in only for p in item.split(",") if p.strip()]
    if not patterns:
        return None
    try:
        select(recipe.jobs, patterns)
    except SelectionError as exc:
        raise click.BadParameter(str(exc).removeprefix("--only "), param_hint="--only") from None
    return patterns


recipe_options = [
    click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                 help="Override a recipe field, e.g. --set size=512 --set assets[0].seed=7 (repeatable)."),
    click.option("--engine", "engine", default=None, metavar="NAME",
                 help="Override the engine name: auto, procedural or z-image-turbo."),
]
out_option = click.option("--out", "-o", default=lambda: os.environ.get("ZPIPE_OUT", "out"), show_default=False,
                          type=click.Path(file_okay=False),
                          help="Output root; builds go to OUT/RECIPE/vNNNN.  [default: $ZPIPE_OUT, else ./out]")


def _apply(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


def _verbosity(ctx: click.Context, _param, count: int) -> None:
    """-v/-vv anywhere (before or after the subcommand): the counts add up; -v info, -vv debug."""
    meta = ctx.find_root().meta
    meta["zpipe.verbose"] = meta.get("zpipe.verbose", 0) + count
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(logging.WARNING - 10 * min(meta["zpipe.verbose"], 2))


def _verbose_option() -> click.Option:
    return click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_verbosity,
                        help="More log output on stderr (-vv for debug).")


class _Command(click.Command):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(_verbose_option())


class _Main(click.Group):
    """Ends every command with the exit code of :data:`zpipe.exits.EXIT_CODES` and a message, never a trace."""

    def main(self, *args, **kwargs):
        open_missing()
        return super().main(*args, **kwargs)

    command_class = _Command
    group_class = type  # subgroups (hook, models) are _Main too

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(_verbose_option())

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
            if isinstance(exc, BrokenPipeError):  # nobody reads the output any more: nothing to say, and no one to say it to
                silence(sys.stdout)
                silence(sys.stderr)
                sys.exit(EXIT_FAILED)
            code, message = classify(exc)
            if message is None:
                _report_bug(exc, ctx.meta.get("zpipe.verbose", 0))
            else:
                click.echo(message, err=True)
            raise exit_for(exc, code) from None  # the error was reported above


def entry() -> None:
    """The console script and ``python -m zpipe``: :func:`main`, ended without the interpreter's exit
    handlers when a command ends with :class:`zpipe.exits.ExitWithoutHandlers` (an error after which a
    library cannot exit cleanly, see :class:`zpipe.executors.ray_executor.ClusterError`). Tests call
    ``main`` in their own process."""
    try:
        main(prog_name="zpipe")
    except ExitWithoutHandlers as exc:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(exc.code if isinstance(exc.code, int) else EXIT_FAILED)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zpipe")
def main() -> None:
    """zpipe: build game textures and bilingual posters from YAML recipes, reproducibly.

    \b
    zpipe run recipes/stone_textures.yaml      build (only what changed) into out/stone_textures/vNNNN
    zpipe validate recipes/*.yaml              check recipes, every problem at once
    zpipe plan recipes/stone_textures.yaml     what would be built and what reused
    """


@main.command()
@click.argument("recipes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_apply(recipe_options)
def validate(recipes, overrides, engine):
    """Check recipes and report every problem with file:line:column. Exit 0 if all are valid, else 2."""
    from zpipe.recipe import RecipeError, load_recipe

    bad = 0
    for path in recipes:
        try:
            r = load_recipe(path, list(overrides), engine)
        except RecipeError as exc:
            bad += 1
            click.echo(str(exc), err=True)
            continue
        click.echo(f"{path}: ok ({r.kind}, {len(r.jobs)} asset{'s' if len(r.jobs) != 1 else ''}, engine {r.engine})")
        if r.kind == "posters":
            from zpipe.text.poster import unverifiable_warnings

            for warning in unverifiable_warnings(r):
                click.echo(f"warning: {warning}", err=True)
    sys.exit(EXIT_INVALID if bad else EXIT_OK)


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@_apply([*recipe_options, out_option])
@click.option("--force", is_flag=True, help="Plan as if nothing could be reused.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@verify_reuse_option
@only_option
def plan(recipe, overrides, engine, out, force, as_json, verify_reuse, only):
    """Show what `zpipe run` would build, reuse (and from which version) or resume, without building."""
    from zpipe.plan import make_plan
    from zpipe.store import RecipeStore

    r = _load(recipe, overrides, engine)
    p = make_plan(r, RecipeStore(out, r.name), force=force, only=_selection(r, only), verify=verify_reuse)
    if as_json:
        click.echo(json.dumps({"recipe": r.name, "engine": p.engine, "latest": p.latest, "removed": p.removed,
                               "up_to_date": p.up_to_date,
                               "jobs": [{"id": j.job.id, "key": j.key, "action": j.action, "from": j.origin or None}
                                        for j in p.jobs]},
                              indent=2, ensure_ascii=False))
        return
    for j in p.jobs:
        origin = f"  from {j.origin}" if j.origin else ""
        click.echo(f"{j.action:7} {j.job.id:32} {j.key[:12]}  {j.job.width}x{j.job.height} seed {j.job.seed}{origin}")
    for rid in p.removed:
        click.echo(f"{'remove':7} {rid}")
    eng = p.engine["name"] + (f" (auto: {p.engine['fallback']})" if p.engine.get("fallback") else "")
    older = sum(1 for j in p.jobs if j.action == "reuse" and j.origin != p.latest)
    carried = f", {p.count('carry')} kept as they are (not in --only)" if only else ""
    click.echo(f"{r.name}: {p.count('build')} to build, {p.count('resume')} to resume, {p.count('reuse')} reused"
               f"{f' ({older} from older versions)' if older else ''}{carried}, {len(p.removed)} removed; "
               f"engine {eng}" + ("; up to date" if p.up_to_date else ""))


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@_apply([*recipe_options, out_option])
@click.option("--force", is_flag=True, help="Rebuild every asset, reusing nothing.")
@click.option("--no-wait", is_flag=True, help="Fail at once if another run is writing this recipe's output.")
@click.option("--json", "as_json", is_flag=True, help="NDJSON events on stdout instead of a progress bar.")
@click.option("--executor", type=click.Choice(["auto", "local", "ray"]), default="auto", show_default=True,
              help="auto picks ray when several GPUs are visible or --address / RAY_ADDRESS is set.")
@click.option("--address", default=None, help="Ray cluster address (implies --executor ray).")
@click.option("--devices", default=None, help="GPUs to use, e.g. 0,1 (default: all visible).")
@click.option("--report", "reports", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              callback=lambda ctx, param, paths: _check_report_paths(paths), help="Write a report after the build, format by extension: .xml JUnit, .md Markdown (repeatable).")
@click.option("--fail-on", type=click.Choice(["failures", "warnings"]), default="failures", show_default=True,
              help="Exit 1 on failed assets; `warnings` also on warnings (engine fallback, repaired seams, "
                   "typeset fallback, stage warnings).")
@verify_reuse_option
@only_option
def run(recipe, overrides, engine, out, force, no_wait, as_json, executor, address, devices, reports, fail_on,
        verify_reuse, only):
    """Build RECIPE into OUT/<name>/vNNNN, rebuilding only what changed."""
    from zpipe.build import build
    from zpipe.executors.choose import choose_executor
    from zpipe.report.progress import EventPrinter

    r = _load(recipe, overrides, engine)
    selection = _selection(r, only)
    try:
        name, options = choose_executor(executor, address, devices)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    printer = EventPrinter(json_mode=as_json)
    run_warnings: list[str] = []

    def on_event(event):
        if event["event"] == "warning":
            run_warnings.append(event["message"])
        printer(event)

    try:
        result = build(r, out, force=force, wait=not no_wait, executor=name, executor_options=options,
                       on_event=on_event, only=selection, verify_reuse=verify_reuse)
    finally:
        printer.close()
    sys.exit(_finish_run(result, reports, fail_on, run_warnings))


def _check_report_paths(paths: tuple[str, ...]) -> tuple[str, ...]:
    from zpipe.report.summary import report_format

    for path in paths:
        try:
            report_format(path)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--report") from None
    return paths


def _finish_run(result, reports, fail_on: str, run_warnings: list[str]) -> int:
    """Write the --report files from the published manifest; the exit code under --fail-on."""
    from zpipe.report.rules import collect_warnings
    from zpipe.report.summary import load_manifest, this_run, write_reports

    code = result.exit_code
    if not result.path:
        return code
    if reports:
        try:
            for path in write_reports(reports, result.path, up_to_date=result.up_to_date,
                                      run_warnings=run_warnings):
                click.echo(f"wrote {path}", err=True)
        except OSError as exc:
            click.echo(f"error: cannot write a report: {exc}", err=True)
            return EXIT_FAILED
    if fail_on == "warnings" and code == EXIT_OK:
        warnings = collect_warnings(this_run(load_manifest(result.path), result.up_to_date, run_warnings))
        if warnings:
            for aid, message in warnings:
                click.echo(f"warning: {aid + ': ' if aid else ''}{message}", err=True)
            click.echo(f"failing: {len(warnings)} warning(s) and --fail-on warnings", err=True)
            code = EXIT_FAILED
    return code


_DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docs")


@main.group(help="DCC export hooks (Blender, Unity): JSON request in, files and a JSON answer out.\n\n"
                 "The protocol (request and answer fields, versions, the `zpipe serve` route) is in "
                 f"{os.path.join(_DOCS, 'hook-protocol.md')}")
def hook():
    pass


@hook.command("export")
@click.option("--request", "request_path", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              metavar="FILE", help="The request JSON (- for standard input); relative paths are from its folder.")
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False),
              help="Asset store when the request names none (default $ZPIPE_OUT, else ~/.cache/zpipe/store).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object on stdout.")
def hook_export(request_path, out, as_json):
    """Build the request's materials (reusing cached ones) and put their files in its target folder.

    Exit 0 when every material has its files, 1 when some failed (the answer says which), 2 for a bad request.
    """
    from zpipe.hook import export, read_request

    def progress(event):
        if event["event"] == "asset_done":
            click.echo(f"zpipe hook: {event['status']} {event['id']}", err=True)
        elif event["event"] in ("warning", "waiting"):
            click.echo(f"zpipe hook: {event['message']}", err=True)

    try:
        answer = export(read_request(request_path), out, on_event=progress)
    except BaseException as exc:  # the caller reads stdout: it gets an answer whatever happened
        if as_json:
            click.echo(json.dumps(failed_answer(exc), ensure_ascii=False))
        raise
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        for name, m in answer["materials"].items():
            where = ", ".join(f"{role} {path}" for role, path in m["files"].items()) or m.get("error", "")
            click.echo(f"{m['status']:7} {name}: {where}")
    sys.exit(EXIT_OK if answer["ok"] else EXIT_FAILED)


@main.command()
@click.argument("name", required=False)
def stages(name):
    """List stages (built-in and plugins) with their parameters, types and defaults."""
    from zpipe.stages import registry

    names = [name] if name else registry.names()
    for n in names:
        try:
            cls = registry.get(n)
        except KeyError:
            _fail_invalid(f"error: no stage {n!r}; {registry.unknown_stage_fix(n)}")
        where = "output:" if n == "export" else f"stages: [{n}]"
        click.echo(f"{n}  ({', '.join(cls.kinds)}; {where})  {cls.doc}")
        for pname, p in cls.params.items():
            click.echo(f"    {pname:16} {p.describe():40} default {p.default!r}  {p.doc}")


@main.command()
@click.argument("target", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print [{version, latest, created, assets, summary}] as JSON, oldest first.")
def versions(target, as_json):
    """List the versions in OUT/RECIPE with their build summaries."""

    store = _store_at(target)
    latest = store.latest()
    if as_json:
        rows = []
        for v in store.versions():
            m = store.manifest(v)
            rows.append({"version": v, "latest": v == latest, "created": m.get("created"),
                         "assets": len(m.get("assets", [])), "summary": m.get("summary", {})})
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for v in store.versions():
        m = store.manifest(v)
        s = m.get("summary", {})
        mark = "*" if v == latest else " "
        click.echo(f"{mark} {v}  {m.get('created', '?')}  {len(m.get('assets', []))} assets "
                   f"(built {s.get('built', 0)}, reused {s.get('reused', 0)}, failed {s.get('failed', 0)})")
    if not store.versions():
        click.echo(f"no versions in {target}", err=True)


def _store_at(target: str):
    from pathlib import Path

    from zpipe.store import RecipeStore

    p = Path(target)
    if not p.is_dir():
        _fail_invalid(f"error: {target} is not a folder; pass OUT/RECIPE, e.g. out/stone_textures")
    store = RecipeStore(p.parent, p.name)
    if not store.versions() and not (p / ".lock").exists():
        _fail_invalid(f"error: {target} holds no zpipe versions; pass OUT/RECIPE, e.g. out/stone_textures")
    return store


@main.command()
@click.argument("target", type=click.Path(file_okay=False))
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the difference as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a side-by-side HTML page of changed assets.")
def diff(target, old, new, as_json, html_path):
    """Assets added, removed and changed between two versions (default: the last two), and for each changed
    asset what changed: prompt, seed, stage parameters, engine, files and metrics."""
    from zpipe.report.diff import details, diff_manifests, text_lines

    store = _store_at(target)
    vs = store.versions()
    if old is None and new is None:
        if len(vs) < 2:
            _fail_invalid(f"error: {target} has {len(vs)} version(s); diff needs two")
        old, new = vs[-2], vs[-1]
    elif new is None:
        new = store.latest()
    for v in (old, new):
        if v not in vs:
            _fail_invalid(f"error: no version {v!r} in {target}; versions: {', '.join(vs) or 'none'}")
    a, b = store.manifest(old), store.manifest(new)
    d = diff_manifests(a, b)
    changes = details(a, b, d["changed"])
    if as_json:
        click.echo(json.dumps({"old": old, "new": new, **d, "details": changes}, indent=2, ensure_ascii=False))
    else:
        for kind in ("added", "removed", "changed"):
            for aid in d[kind]:
                click.echo(f"{kind:8} {aid}")
                for line in text_lines(changes[aid]) if kind == "changed" else []:
                    click.echo(line)
        click.echo(f"{old} -> {new}: {len(d['added'])} added, {len(d['removed'])} removed, "
                   f"{len(d['changed'])} changed, {len(d['unchanged'])} unchanged")
    if html_path:
        from pathlib import Path

        from zpipe.report.contact_sheet import render_diff

        page = Path(html_path)
        prefix = {v: _relative_url(store.root / v, page.parent) for v in (old, new)}
        try:
            page.write_text(render_diff(a, b, prefix[old], prefix[new]), encoding="utf-8")
        except OSError as exc:
            _fail_invalid(f"error: cannot write {html_path}: {exc.strerror or exc}")
        click.echo(f"wrote {html_path}", err=True)


def _relative_url(folder, page_dir) -> str:
    """The URL of ``folder`` as seen from a page in ``page_dir``, ending with ``/`` (relative when it can be)."""
    from pathlib import Path
    from urllib.parse import quote

    folder, page_dir = Path(folder).resolve(), Path(page_dir or ".").resolve()
    try:
        rel = os.path.relpath(folder, page_dir)
    except ValueError:  # another drive (Windows): an absolute file URL
        return folder.as_uri() + "/"
    return quote(Path(rel).as_posix()) + "/"


@main.command()
@click.argument("target", type=click.Path(file_okay=False))
@click.option("--keep", type=click.IntRange(min=1), default=5, show_default=True, help="Versions to keep.")
def gc(target, keep):
    """Delete old versions of OUT/RECIPE, keeping the newest KEEP (and always the latest), and what is staged.

    Files that a kept version still links (assets it reused) stay on disk; gc says what it freed.
    """
    store = _store_at(target)
    with store.lock(wait=True):
        freed = store.gc(keep)
    names = ": " + ", ".join(freed.versions) if freed.versions else ""
    versions = f"{len(freed.versions)} version{'s' if len(freed.versions) != 1 else ''}"
    staged = f"{freed.staged} staged asset{'s' if freed.staged != 1 else ''}"
    click.echo(f"removed {versions}{names}; {staged}; freed {_size(freed.bytes)}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


@main.command()
@click.argument("target", type=click.Path(file_okay=False))
@click.option("--repair", is_flag=True, help="Re-link damaged files from intact copies; rebuild the rest from the "
                                             "recipe the latest version was built from.")
def verify(target, repair):
    """Check every file of every version in OUT/RECIPE against its manifest (sha256). Exit 0 if intact, else 1."""
    from zpipe import verify as v

    store = _store_at(target)
    if not repair:
        report = v.check(store)
    else:
        def rebuild(recipe_path: str) -> None:
            from zpipe.build import build
            from zpipe.recipe import load_recipe

            click.echo(f"rebuilding from {recipe_path} …", err=True)
            build(load_recipe(recipe_path), store.root.parent)

        before, report = v.repair(store, rebuild)
        for d in before.damage:
            click.echo(f"{'damaged' if d in report.damage else 'repaired'}: {d}")
    for d in [] if repair else report.damage:
        click.echo(f"damaged: {d}")
    for problem in report.unreadable:
        click.echo(f"damaged: {problem}")
    click.echo(f"{target}: {report.versions} version(s), {report.files} file(s): "
               + ("all intact" if report.ok else f"{len(report.damage) + len(report.unreadable)} damaged"
                  + ("" if repair else "; `zpipe verify --repair` re-links or rebuilds them")))
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


@main.command("glyph-check")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--expect", "expected", multiple=True, metavar="LINE",
              help="A line of text every IMAGE must show (repeatable, one per line).")
@click.option("--list", "list_file", type=click.Path(dir_okay=False), default=None,
              help="YAML/JSON file of images and their lines: {image: [line, …]} or [{image, expect}].")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"pass", "verdict", "lines": [...], ...}; for several images {"images": [...], "summary"}.')
@click.option("--rule", type=click.Choice(["exact", "ned"]), default="exact", show_default=True,
              help="exact: equal after normalisation; ned: NED ≥ --min-ned.")
@click.option("--min-ned", type=click.FloatRange(0.0, 1.0), default=0.9, show_default=True)
@click.option("--ignore-punct/--keep-punct", default=True, show_default=True,
              help="Ignore soft punctuation (，。“” etc.; OCR often drops it); meaningful marks always count.")
@click.option("--max-extra-chars", type=click.IntRange(min=-1), default=1, show_default=True,
              help="Fail when a confident box of other text has more characters than this (-1: only report it).")
@click.option("--unverified", type=click.Choice(["fail", "warn"]), default="fail", show_default=True,
              help="A line with characters the OCR cannot read (kana, €, …), or whose glyphs read l and 1 are "
                   "one shape, fails, or passes with a warning.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="OCR threads (default $ZPIPE_OCR_THREADS, else up to 4).")
def glyph_check(images, expected, list_file, as_json, rule, min_ned, ignore_punct, max_extra_chars, unverified,
                threads):
    """OCR each IMAGE and check it shows every --expect line (or the lines --list gives it).

    One verdict per image, then a summary. Exit 0 if every image passes, 1 if one fails, 2 if one is
    missing or unreadable (the others are still checked) or the arguments are wrong.
    """
    from zpipe.text.batch import check_many, read_list

    items = [(image, list(expected)) for image in images]
    if images and not expected:
        _fail_invalid("error: give the lines the images must show with --expect LINE (repeatable)")
    if list_file:
        try:
            items += read_list(list_file)
        except ValueError as exc:
            _fail_invalid(f"error: {exc}")
    if not items:
        _fail_invalid("error: give IMAGE… with --expect LINE, or --list FILE")
    entries, summary = check_many(items, rule=rule, min_ned=min_ned, ignore_punct=ignore_punct,
                                  max_extra_chars=max_extra_chars, unverified=unverified, threads=threads)
    if as_json:
        out = entries[0] if len(entries) == 1 else {"images": entries, "summary": summary}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        sys.exit(summary["exit"])
    for entry in entries:
        if "error" in entry:
            click.echo(f"{entry['image']}: ERROR {entry['error']}", err=True)
            continue
        for line in entry["lines"]:
            mark = "pass" if line["pass"] else line.get("status", "fail").upper()
            click.echo(f"{mark}  {line['expected']!r}  found {line['found']!r}  NED {line['ned']:.3f}")
        if entry["extra_text"]:
            click.echo(f"other text: {', '.join(repr(t) for t in entry['extra_text'])}")
        for warning in entry["warnings"]:
            click.echo(f"warning: {warning}", err=True)
        n_ok = sum(1 for line in entry["lines"] if line["pass"])
        click.echo(f"{entry['image']}: {entry['verdict'].upper()}, {n_ok}/{len(entry['lines'])} lines pass")
    if len(entries) > 1:
        click.echo(f"{summary['images']} images: {summary['pass']} pass, {summary['fail']} fail, "
                   f"{summary['unverified']} unverified, {summary['error']} unreadable")
    sys.exit(summary["exit"])


# ---- Z-Image-Turbo weights and benchmarks (engine/zimage; imported lazily) ----


@main.group(invoke_without_command=True)
@click.option("--model", default=None, metavar="PATH", help="Also check this checkpoint folder (as engine.model).")
@click.option("--size", default="1024", show_default=True, callback=lambda ctx, param, v: _check_bench_size(v),
              help="Image size (WxH or N) for the memory plan.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Images per DiT forward.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def models(ctx, model, size, batch, as_json):
    """List the Z-Image-Turbo checkpoints zpipe finds, in search order, and validate them; for each usable
    one, the peak device memory of each memory mode (engine.memory) at --size and --batch.

    \b
    Search order: engine.model (or --model), $ZPIPE_MODEL, the Hugging Face cache.
    Exit 0 when a usable checkpoint is found, 1 when none is. `zpipe models pull` downloads one.
    """
    if ctx.invoked_subcommand is not None:
        return
    from zpipe.engine.zimage.discovery import list_models

    width, height = (int(n) for n in size.split("x"))
    rows = list_models({"model": model} if model else {})
    for row in rows:
        if row["ok"]:
            row["memory"] = _memory_plans(row["path"], height, width, batch)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("no Z-Image-Turbo checkpoint found: set $ZPIPE_MODEL or engine.model, or run `zpipe models pull`")
    for row in [] if as_json else rows:
        size = f"{row['bytes'] / 2**30:.2f} GiB" if row["bytes"] else ""
        status = f"ok ({row['layout']}, {size})" if row["ok"] else f"BROKEN: {row['problem']}"
        click.echo(f"{row['source']:<9} {row['path']}\n          {status}")
        if row.get("memory"):
            click.echo("          " + row["memory"]["text"].replace("\n", "\n          "))
    # a folder of another model is invalid input (2); a broken or missing download, a failure (1)
    sys.exit(EXIT_OK if any(r["ok"] for r in rows) else
             EXIT_INVALID if rows and all(r.get("foreign") for r in rows) else EXIT_FAILED)


def _memory_plans(path: str, height: int, width: int, batch: int) -> dict:
    from zpipe.engine.zimage.discovery import spec_at
    from zpipe.engine.zimage.memory import format_plans, plan_all

    plans = plan_all(*spec_at(path).networks.configs, height=height, width=width, batch=batch)
    return {"size": [width, height], "batch": batch, "peak_bytes": {p.mode: p.peak for p in plans},
            "text": format_plans(plans, height, width, batch)}


@models.command("pull")
@click.option("--local-dir", default=None, type=click.Path(file_okay=False),
              help="Download into this folder instead of the Hugging Face cache.")
@click.option("--revision", default=None, help="A branch, tag or commit of the Hub repository.")
def models_pull(local_dir, revision):
    """Download Tongyi-MAI/Z-Image-Turbo (safetensors only), with progress; re-running resumes."""
    from zpipe.engine.zimage.discovery import pull

    path = pull(local_dir, revision)
    click.echo(f"downloaded to {path}")


def _check_bench_size(value: str) -> str:
    import re

    m = re.fullmatch(r"(\d{1,9})(?:x(\d{1,9}))?", value.strip().lower())
    if not m:
        raise click.BadParameter(f"{value!r}: expected WxH or N, e.g. 1024 or 1344x768", param_hint="--size")
    sides = [int(m.group(1)), int(m.group(2) or m.group(1))]
    if any(n % 16 or not 64 <= n <= 8192 for n in sides):
        raise click.BadParameter(f"{value!r}: width and height must be multiples of 16 from 64 to 8192",
                                 param_hint="--size")
    return f"{sides[0]}x{sides[1]}"


@main.command()
@click.option("--preset", type=click.Choice(["full", "medium", "tiny"]), default="full", show_default=True,
              help="Random-weight model shapes (full = the released 6B model).")
@click.option("--model", default=None, metavar="PATH", help="Time a real checkpoint folder instead.")
@click.option("--size", default="1024", show_default=True, callback=lambda ctx, param, v: _check_bench_size(v),
              help="WxH or N: multiples of 16 from 64 to 8192.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--device", default=None, help="cuda, cuda:N, mps or cpu (default: the first available).")
@click.option("--dtype", type=click.Choice(["bf16", "fp16", "fp32"]), default=None,
              help="Default bf16 on a GPU, fp32 on CPU.")
@click.option("--vae-dtype", type=click.Choice(["bf16", "fp16", "fp32"]), default="fp32", show_default=True)
@click.option("--memory", type=click.Choice(["resident", "phased", "fp8"]), default="resident", show_default=True,
              help="Memory mode (as engine.memory).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the transformer blocks.")
@click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True, help="Untimed runs first.")
@click.option("--peak", default=None, help="Device peak TFLOP/s for MFU, or 'measure' (a bf16 matmul test).")
@click.option("--plan", "plan_only", is_flag=True,
              help="Print the planned peak device memory of each memory mode and exit (loads nothing).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bench(preset, model, size, batch, steps, device, dtype, vae_dtype, memory, compile_, warmup, peak, plan_only,
          as_json):
    """Time text encoding, each DiT step and the VAE decode; print TFLOP/s, MFU and peak memory per phase."""
    from zpipe.engine.extras import MissingExtra, require

    try:
        require("zimage", "zpipe bench")
    except MissingExtra as exc:  # torch is not installed: one line naming the extra
        _fail_invalid(f"error: {exc}")
    from zpipe.engine.zimage import bench as zbench

    width, height = (int(n) for n in size.split("x"))
    if plan_only:
        from zpipe.engine.zimage.memory import format_plans

        plans = zbench.preset_plans(preset, height, width, batch, dtype or "bf16", vae_dtype, model)
        click.echo(json.dumps([{"mode": p.mode, "peak_bytes": p.peak, "phases": p.phases,
                                "weights": p.weights} for p in plans], indent=2) if as_json
                   else format_plans(plans, height, width, batch))
        return
    peak_tflops = None
    if peak == "measure":
        from zpipe.engine.zimage.engine import pick_device

        peak_tflops = zbench.measure_peak(pick_device(device), dtype or "bf16")
    elif peak:
        try:
            peak_tflops = float(peak)
        except ValueError:
            _fail_invalid(f"error: --peak {peak!r}: expected a number of TFLOP/s or 'measure'")
    r = zbench.run_bench(preset, model, height, width, batch, steps, device, dtype, compile_, warmup=warmup,
                         peak_tflops=peak_tflops, memory=memory, vae_dtype=vae_dtype)
    click.echo(json.dumps(r.as_dict(), indent=2) if as_json else zbench.format_report(r))


# ---- the server and the review (pipeline/serve; Starlette and uvicorn are imported by the command) ----


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any other than 127.0.0.1/localhost/::1 needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@out_option
@click.option("--root", "roots", multiple=True, type=click.Path(file_okay=False, exists=True), metavar="DIR",
              help="A folder of recipes and DCC projects the server may read recipes from and write hook targets "
                   "into (repeatable; default: the current folder). Nothing outside OUT and these is touched.")
@click.option("--token", default=lambda: os.environ.get("ZPIPE_TOKEN") or None, metavar="TOKEN",
              help="Required on every request (Authorization: Bearer TOKEN); default $ZPIPE_TOKEN.")
@click.option("--idle", "idle_seconds", type=click.FloatRange(min=0), default=600, show_default=True,
              help="Seconds an unused engine stays loaded.")
@click.option("--executor", type=click.Choice(["auto", "local", "ray"]), default="auto", show_default=True,
              help="As for `zpipe run`: ray keeps one engine per GPU resident.")
@click.option("--address", default=None, help="Ray cluster address (implies --executor ray).")
@click.option("--devices", default=None, help="GPUs to use, e.g. 0,1 (default: all visible).")
def serve(host, port, out, roots, token, idle_seconds, executor, address, devices):
    """Serve builds, the hook protocol and the review page, with engines kept loaded between builds.

    Open http://127.0.0.1:8765/ for the review page. The JSON API and the options' details are in
    zpipe/docs/serve.md, the hook protocol in zpipe/docs/hook-protocol.md (`zpipe hook --help` prints
    their installed folder).
    """
    from pathlib import Path

    from zpipe.executors.choose import choose_executor

    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not loopback and not token:
        _fail_invalid(f"error: --host {host} makes the server reachable from other machines; give it a --token "
                      "(or ZPIPE_TOKEN), which every request must send")
    try:
        name, options = choose_executor(executor, address, devices)
    except ValueError as exc:
        _fail_invalid(f"error: {exc}")
    try:
        import uvicorn

        from zpipe.serve.app import LOOPBACK, ServeConfig, create_app
    except ImportError as exc:
        _fail_invalid(f"error: zpipe serve needs {exc.name}: pip install starlette uvicorn")
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail_invalid(f"error: --out {out}: {exc.strerror or exc}")
    config = ServeConfig(Path(out), [Path(r) for r in roots] or [Path.cwd()], token=token,
                         idle_seconds=idle_seconds, executor=name, executor_options=options,
                         allowed_hosts=list(LOOPBACK) if loopback else None)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"zpipe serve: http://{shown}:{port}/  (out {config.out}; roots {', '.join(map(str, config.roots))})",
               err=True)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


@main.group()
def review():
    """Approvals of built assets (made on the review page of `zpipe serve`)."""


@review.command("export")
@click.argument("target", type=click.Path(file_okay=False))
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--version", "version", default=None, help="The version to export (default: the latest).")
def review_export(target, dest, version):
    """Write DEST/index.html: the review page of OUT/RECIPE's version (and its diff with the previous one)
    as one read-only file that opens without a server. Images stay in the version's folder (relative links)."""
    from pathlib import Path

    from zpipe.serve.static import export

    store = _store_at(target)
    version = version or store.latest()
    if version not in store.versions():
        _fail_invalid(f"error: no version {version!r} in {target}; versions: {', '.join(store.versions()) or 'none'}")
    click.echo(str(export(store, version, Path(dest))))


@review.command("list")
@click.argument("target", type=click.Path(file_okay=False))
@click.option("--version", "version", default=None, help="The version to list (default: the latest).")
@click.option("--status", type=click.Choice(["approved", "rejected", "pending"]), default=None,
              help="Only assets with this review status.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def review_list(target, version, status, as_json):
    """Each asset of OUT/RECIPE's version with its approval: approved, rejected or pending (no decision
    for its content key). An unchanged asset keeps its approval from version to version."""
    from zpipe.serve.review import ReviewStore

    store = _store_at(target)
    version = version or store.latest()
    if version not in store.versions():
        _fail_invalid(f"error: no version {version!r} in {target}; versions: {', '.join(store.versions()) or 'none'}")
    rows = ReviewStore(store.root.parent).for_manifest(store.root.name, store.manifest(version))
    if status:
        rows = [r for r in rows if r["review"] == status]
    if as_json:
        click.echo(json.dumps({"recipe": store.root.name, "version": version, "assets": rows}, indent=2,
                              ensure_ascii=False))
        return
    for r in rows:
        note = f"  {r['comment']}" if r["comment"] else ""
        click.echo(f"{r['review']:9} {r['id']:32} {(r['key'] or '')[:12]}{note}")
    counts = {s: sum(1 for r in rows if r["review"] == s) for s in ("approved", "rejected", "pending")}
    click.echo(f"{store.root.name} {version}: {counts['approved']} approved, {counts['rejected']} rejected, "
               f"{counts['pending']} pending", err=True)
