"""The resident engine pays: one-asset hook requests through `zpipe serve` against the CLI, side by side.

    python benchmarks/serve.py [--repeat 3] [--size 64] [--model DIR]

With the tiny random Z-Image checkpoint (tests/engine/zimage_kit.py, the real diffusers on-disk layout;
or a real checkpoint with --model), on CPU in fp32:

1. starts `zpipe serve` as its own process and sends a first one-asset request (it loads the engine);
2. then, ``--repeat`` times, asks for one new asset (a new seed, so it is built, not reused) through the
   server (``POST /hook``) and the same kind of request through the CLI (``zpipe hook export --json``,
   a new process that imports torch and loads the engine each time), into the same store;
3. prints the median seconds of each and their ratio. Goal: server <= 30% of the CLI.

Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_checkpoint(folder: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "engine"))
    from zimage_kit import save_diffusers_layout, tiny_reference_models

    dit, lm, vae = tiny_reference_models(0)
    save_diffusers_layout(folder, dit, lm, vae)
    return folder


def request(model: Path, size: int, seed: int) -> dict:
    return {"version": 1, "target": "textures", "name": "bench",
            "engine": {"name": "z-image-turbo", "model": str(model), "device": "cpu", "dtype": "fp32"},
            "materials": [{"name": f"Rock{seed}", "description": "granite", "size": size, "seed": seed,
                           "maps": ["albedo", "normal"]}]}


def zpipe_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("zpipe")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "zpipe"]


def via_server(url: str, req: dict) -> float:
    t = time.perf_counter()
    post = urllib.request.Request(url + "/hook", json.dumps(req).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(post, timeout=600) as r:
        answer = json.load(r)
    seconds = time.perf_counter() - t
    assert answer["ok"] and answer["summary"]["built"] == 1, answer
    return seconds


def via_cli(work: Path, out: Path, req: dict) -> float:
    path = work / "request.json"
    path.write_text(json.dumps(req), encoding="utf-8")
    t = time.perf_counter()
    proc = subprocess.run([*zpipe_cmd(), "hook", "export", "--request", str(path), "--json", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t
    answer = json.loads(proc.stdout)
    assert answer["ok"] and answer["summary"]["built"] == 1, proc.stderr[-2000:]
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--model", type=Path, default=None, help="a Z-Image checkpoint (default: the tiny random one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="zpipe-bench-serve-") as tmp:
        work, out = Path(tmp), Path(tmp) / "store"
        model = args.model or tiny_checkpoint(work / "ckpt")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([*zpipe_cmd(), "serve", "--port", str(port), "--out", str(out), "--root", str(work)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/api/health", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("zpipe serve did not start") from None
                    time.sleep(0.2)
            first = via_server(url, request(model, args.size, 1))
            served, cli = [], []
            for i in range(args.repeat):
                served.append(via_server(url, request(model, args.size, 100 + i)))
                cli.append(via_cli(work, out, request(model, args.size, 200 + i)))
        finally:
            server.terminate()
            server.wait(timeout=30)
    s, c = statistics.median(served), statistics.median(cli)
    print(f"one-asset hook request, {args.size} px, tiny Z-Image on CPU ({args.repeat} runs each, median):")
    print(f"  server, first request (loads the engine) {first:7.2f} s")
    print(f"  server, later requests                   {s:7.2f} s   {', '.join(f'{x:.2f}' for x in served)}")
    print(f"  CLI (a new process each time)            {c:7.2f} s   {', '.join(f'{x:.2f}' for x in cli)}")
    print(f"  server / CLI = {s / c:.1%} (goal <= 30%)")


if __name__ == "__main__":
    main()
