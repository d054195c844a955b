"""Build a recipe through zpipe's Python API: load and validate it, build with an event callback, read the
result and the manifest, and write the CI reports.

    python examples/api/build_textures.py recipes/stone_textures.yaml --out out --set size=256 \
        --report reports/summary.md --report reports/junit.xml

Exit code: 0 built, 1 some assets failed, 2 invalid recipe (the same as `zpipe run`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import zpipe
from zpipe.recipe import RecipeError
from zpipe.report.summary import write_reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--out", default="out")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--report", action="append", default=[], metavar="FILE", help=".md or .xml")
    args = ap.parse_args(argv)

    try:
        recipe = zpipe.load_recipe(args.recipe, overrides=args.overrides)  # every problem at once
    except RecipeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{recipe.name}: {len(recipe.jobs)} assets, engine {recipe.engine}")

    def on_event(event: dict) -> None:  # the same events as `zpipe run --json`
        if event["event"] == "asset_done":
            print(f"  {event['status']:7} {event['id']}" + (f"  ({event['error']})" if event.get("error") else ""))
        elif event["event"] == "warning":
            print(f"  warning: {event['message']}")

    result = zpipe.run(recipe, out=args.out, on_event=on_event)
    print(f"{result.version}: built {result.built}, reused {result.reused}, failed {result.failed}"
          + (" (up to date)" if result.up_to_date else "") + f" -> {result.path}")

    manifest = json.loads((Path(result.path) / "manifest.json").read_text(encoding="utf-8"))
    for asset in manifest["assets"]:
        seam = (asset["metrics"].get("tile") or {}).get("scores", {}).get("albedo")
        print(f"  {asset['id']:24} {asset['status']:7} {asset['files'].get('albedo', '-')}"
              + (f"  seam x {seam['x']:.2f} y {seam['y']:.2f}" if seam else ""))
    if args.report:
        for path in write_reports(args.report, result.path, up_to_date=result.up_to_date):
            print(f"wrote {path}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
