"""Peak memory of one exact gradient for the PyTorch peers, measured as the process's peak
resident set (ru_maxrss) minus its resident set just before the gradient, in a fresh process
per measurement (so no earlier call's peak is counted).

Usage: python3 bench/peers/peak_memory.py [--case large_rk4] [--peers torchdiffeq,authors]
       [--authors PATH] [--dtype f64]
Prints a Markdown table (CPU model and versions first). The Rust side's peaks come from
`cargo run --release --example speed` (bytes the runtime counted) and, as the same RSS
measure, from `--rust-binary target/release/examples/speed` if given (its `--peak-rss METHOD`
mode, one fresh process per method, batch-4096 case only).
"""

import argparse
import json
import os
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(peer, case_name, authors, dtype):
    """One measurement in this (fresh) process; prints a JSON line."""
    if authors:
        sys.path.insert(0, authors)
    import run_peers as rp

    rp.DTYPE = dtype
    case = rp.CASES[case_name]
    torch = rp.torch_setup()
    f = rp.torch_func(torch, rp.make_params(case["hidden"]))
    x0 = torch.from_numpy(rp.make_x0(case["batch"]).astype(rp.np_dtype())).requires_grad_(True)
    n = case["n"]
    if peer == "torchdiffeq":
        import torchdiffeq

        odeint, t = torchdiffeq.odeint, torch.tensor([0.0, 1.0])
        kw = dict(method="rk4", options=dict(step_size=1.0 / n))
    else:
        from torch_symplectic_adjoint import odeint_symplectic_adjoint as odeint

        t = torch.linspace(0.0, 1.0, n + 1)
        kw = dict(method="rk4")
    if case["method"] != "rk4" or n is None:
        raise SystemExit("only the fixed-step rk4 cases are measured")
    before = rss_bytes()
    ys = odeint(f, x0, t, **kw)
    loss = (ys[-1] ** 2).sum(dim=1).mean()
    loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(dict(peer=peer, case=case_name, dtype=dtype, before=before, peak=peak)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="large_rk4")
    ap.add_argument("--peers", default="torchdiffeq,authors")
    ap.add_argument("--authors", default=os.environ.get("SYMPLECTIC_ADJOINT_PATH"))
    ap.add_argument("--dtype", choices=("f64", "f32"), default="f64")
    ap.add_argument("--rust-binary", help="the speed example's binary, for ours by the same measure")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.case, a.authors, a.dtype)
        return
    import run_peers as rp

    info = rp.machine_info()
    print(f"CPU: {info.get('cpu_model', 'unknown')}; case {rp.CASES[a.case]['label']}, {a.dtype}, one thread")
    print()
    mib = lambda b: b / 2**20  # noqa: E731
    print("| peer | RSS before MiB | peak RSS MiB | peak − before MiB | counted by the runtime MiB |")
    print("|---|---|---|---|---|")
    if a.rust_binary:
        if a.case != "large_rk4" or a.dtype != "f64":
            raise SystemExit("--rust-binary: only the f64 large_rk4 case")
        for m in ("symplectic", "stored", "backprop"):
            out = subprocess.run([a.rust_binary, "--peak-rss", m], capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"| ours {m} | {mib(r['before']):.1f} | {mib(r['peak']):.1f} | "
                f"{mib(r['peak'] - r['before']):.1f} | {mib(r['counted']):.1f} |"
            )
    for peer in a.peers.split(","):
        if peer == "authors" and not a.authors:
            print(f"| {peer} | skipped: no --authors | | | |")
            continue
        cmd = [sys.executable, __file__, "--child", peer, "--case", a.case, "--dtype", a.dtype]
        if a.authors:
            cmd += ["--authors", a.authors]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {peer} | {mib(r['before']):.1f} | {mib(r['peak']):.1f} | {mib(r['peak'] - r['before']):.1f} | – |")


if __name__ == "__main__":
    main()
