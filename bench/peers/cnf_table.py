#!/usr/bin/env python3
"""The CNF table of docs/performance.md (issue 17 item 4) in one command.

Runs `ffjord_toy.py` (torchdiffeq `odeint_adjoint` and backprop, f64 and f32) and
`examples/cnf --bench` (ours: symplectic and symplectic-stored, f64 and f32; build it first
with `cargo build --release --example cnf`), each pinned to one core, and prints a Markdown
table of seconds per iteration (mean over iterations 11-50), forward NFE, and the ratios
torchdiffeq / ours, with the CPU model and the load average before and after.

    /work/venv-peers/bin/python bench/peers/cnf_table.py [--core 0] [--json FILE]
"""

import argparse
import json
import os
import subprocess
import sys

from cpu import cpu_name

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def load():
    return os.getloadavg()[0]


def lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--core", default="0", help="CPU to pin every run to (taskset -c)")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--json", help="write every run's JSON line to this file")
    p.add_argument("--binary", default=os.path.join(REPO, "target/release/examples/cnf"))
    args = p.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    os.environ.update(env)
    pin = ["taskset", "-c", args.core]
    cpu = cpu_name()
    load0 = load()
    runs = lines(pin + [sys.executable, os.path.join(HERE, "ffjord_toy.py"), "--iters", str(args.iters)])
    for method in ("symplectic", "symplectic-stored"):
        for f32 in ([], ["--f32"]):
            runs += lines(
                pin
                + [args.binary, "--bench", "--iters", str(args.iters), "--lr", "1e-3",
                   "--method", method]
                + f32
            )
    load1 = load()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(runs, fh, indent=1)
            fh.write("\n")

    def find(peer, mode, dtype):
        for r in runs:
            if r["peer"] == peer and r["mode"] == mode and r["dtype"] in (dtype, "float" + dtype[1:]):
                return r
        return None

    print(f"CPU: {cpu}; one core (taskset -c {args.core}); load average {load0:.2f} before, "
          f"{load1:.2f} after; s / iteration = mean over iterations 11-{args.iters}\n")
    print("| dtype | torchdiffeq odeint_adjoint | torchdiffeq backprop | ours symplectic | "
          "ours symplectic-stored | adjoint / symplectic | backprop / symplectic | "
          "backprop / stored |")
    print("|---|---|---|---|---|---|---|---|")
    for dt in ("f64", "f32"):
        adj, bp = find("torchdiffeq", "adjoint", dt), find("torchdiffeq", "backprop", dt)
        sy, st = find("symplode", "symplectic", dt), find("symplode", "symplectic-stored", dt)

        def cell(r):
            return f"{r['s_per_iter_mean']:.4f} (NFE {r['nfe_forward']:.1f})"

        print(f"| {dt} | {cell(adj)} | {cell(bp)} | {cell(sy)} | {cell(st)} | "
              f"{adj['s_per_iter_mean'] / sy['s_per_iter_mean']:.1f}× | "
              f"{bp['s_per_iter_mean'] / sy['s_per_iter_mean']:.1f}× | "
              f"{bp['s_per_iter_mean'] / st['s_per_iter_mean']:.1f}× |")


if __name__ == "__main__":
    main()
