"""What checking reused files costs: a no-op run trusting stat, after links moved every ctime, and hashing all.

    python benchmarks/reuse_check.py                 # 200 assets of 512x512
    python benchmarks/reuse_check.py --assets 50 --size 256

Builds once, then times no-op runs (nothing to build, every asset reused from the latest version):

* **stat**: the default; each file's size, mtime and ctime equal those recorded at publish.
* **after links**: every published file hardlinked elsewhere (as a hook export with ``link: hardlink``
  or a ``gc`` does), which moves its ctime: each file is hashed once and goes into the hash cache.
* **cached**: the next no-op run, trusting the cache.
* **--verify-reuse**: every file hashed, every run.

Prints seconds and each ratio to the stat run (the reference, measured in the same run); asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """\
name: reuse
engine: procedural
size: {size}
prompt: "stone texture, variant {{n}}"
id: "stone_{{n}}"
matrix:
  n: [{values}]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    from zpipe import load_recipe, run

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "reuse.yaml"
        path.write_text(RECIPE.format(size=args.size, values=", ".join(map(str, range(args.assets)))))
        recipe = load_recipe(path)
        out = folder / "out"
        t = time.perf_counter()
        run(recipe, out)
        print(f"build: {args.assets} assets of {args.size}px in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        files = [p for p in (out / "reuse" / "v0001").rglob("*.png") if p.parent.name.startswith("stone_")]
        size = sum(p.stat().st_size for p in files)

        def noop(**kwargs) -> float:
            t = time.perf_counter()
            result = run(recipe, out, **kwargs)
            assert result.up_to_date, "a no-op run built something"
            return time.perf_counter() - t

        stat = min(noop() for _ in range(3))
        links = folder / "links"
        links.mkdir()
        for i, p in enumerate(files):
            os.link(p, links / f"{i}.png")
        after_links = noop()
        cached = min(noop() for _ in range(3))
        verify = min(noop(verify_reuse=True) for _ in range(3))
    print(f"{len(files)} reused files, {size / 2**20:.0f} MiB")
    for name, seconds in (("stat", stat), ("after links", after_links), ("cached", cached),
                          ("--verify-reuse", verify)):
        print(f"{name:15} {seconds:7.3f} s   {seconds / stat:6.2f}x stat")


if __name__ == "__main__":
    main()
