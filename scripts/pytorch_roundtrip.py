#!/usr/bin/env python3
"""PyTorch round trip for the `symplode` command (evidence, not CI).

Builds a neural ODE in PyTorch (nn.Sequential of nn.Linear + Tanh, the time appended to the
input as [x, t]), integrates it in float64 with hand-written fixed-step Runge-Kutta loops
(classic rk4, the 3/8 rule, dopri5 with fixed steps) and, when torchdiffeq is installed, with
torchdiffeq's `rk4` (the 3/8 rule) and adaptive `dopri5`. The loss is the mean over the batch of
||x(1)||^2; gradients come from autograd (backpropagation through the solver). The script saves
the state_dict with safetensors and x0 as .npy, writes a model spec, runs `symplode grad` with
every gradient method, reads the gradient files and prints the largest relative differences.

    pip install torch safetensors numpy [torchdiffeq]
    python3 scripts/pytorch_roundtrip.py                  # builds symplode with cargo --release
    python3 scripts/pytorch_roundtrip.py --symplode target/release/symplode --batch 256

Relative difference of a tensor: max |g_symplode - g_torch| / max |g_torch|; the table shows the
largest over dL/dx0 and all dL/dtheta tensors.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from fractions import Fraction as F

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

torch.set_default_dtype(torch.float64)

# Butcher tableaux (c, A rows, b) as exact fractions; float() rounds each to nearest like symplode.
TABLEAUX = {
    "rk4": ([0, F(1, 2), F(1, 2), 1],
            [[], [F(1, 2)], [0, F(1, 2)], [0, 0, 1]],
            [F(1, 6), F(1, 3), F(1, 3), F(1, 6)]),
    "rk38": ([0, F(1, 3), F(2, 3), 1],
             [[], [F(1, 3)], [F(-1, 3), 1], [1, -1, 1]],
             [F(1, 8), F(3, 8), F(3, 8), F(1, 8)]),
    "dopri5": ([0, F(1, 5), F(3, 10), F(4, 5), F(8, 9), 1, 1],
               [[], [F(1, 5)], [F(3, 40), F(9, 40)], [F(44, 45), F(-56, 15), F(32, 9)],
                [F(19372, 6561), F(-25360, 2187), F(64448, 6561), F(-212, 729)],
                [F(9017, 3168), F(-355, 33), F(46732, 5247), F(49, 176), F(-5103, 18656)],
                [F(35, 384), 0, F(500, 1113), F(125, 192), F(-2187, 6784), F(11, 84)]],
               [F(35, 384), 0, F(500, 1113), F(125, 192), F(-2187, 6784), F(11, 84), 0]),
}

SPEC = """dim = {dim}
time_input = true

[[layers]]
name = "net.0"
out = {hidden}
activation = "tanh"

[[layers]]
name = "net.2"
out = {hidden}
activation = "tanh"

[[layers]]
name = "net.4"
out = {dim}
"""


class ODEFunc(nn.Module):
    """f(t, x) = net([x, t]) with net = Linear, Tanh, Linear, Tanh, Linear."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, dim))
        self.nfe = 0

    def forward(self, t, x):
        self.nfe += 1
        t_col = torch.as_tensor(t, dtype=x.dtype).reshape(1, 1).expand(x.shape[0], 1)
        return self.net(torch.cat([x, t_col], dim=1))


def rk_fixed(f, x, t0, t1, steps, tableau):
    """Fixed-step explicit RK on the grid symplode uses: t_n = t0 + n h, the last step ends at t1."""
    c = [float(v) for v in tableau[0]]
    a = [[float(v) for v in row] for row in tableau[1]]
    b = [float(v) for v in tableau[2]]
    h_grid = (t1 - t0) / steps
    t = t0
    for n in range(steps):
        t_next = t1 if n + 1 == steps else t0 + (n + 1) * h_grid
        h = t_next - t
        k = []
        for i in range(len(b)):
            if i + 1 == len(b) and b[i] == 0.0:
                break  # a trailing zero-weight (FSAL) stage does not enter x_{n+1}
            xi = x
            for j, aij in enumerate(a[i]):
                if aij != 0.0:
                    xi = xi + (h * aij) * k[j]
            ti = t_next if c[i] == 1.0 else t + c[i] * h
            k.append(f(ti, xi))
        x = x + h * sum(bi * ki for bi, ki in zip(b, k) if bi != 0.0)
        t = t_next
    return x


def torch_gradient(func, x0, integrate):
    """Loss mean_b ||x(1)||^2 and its gradients by autograd, as {name: array}."""
    func.zero_grad()
    x0 = x0.clone().requires_grad_(True)
    func.nfe = 0
    x1 = integrate(func, x0)
    nfe = func.nfe
    loss = (x1 ** 2).sum(dim=1).mean()
    loss.backward()
    grads = {"x0": x0.grad.numpy()}
    for name, p in func.named_parameters():
        grads[name] = p.grad.numpy().copy()
    return loss.item(), grads, nfe


def max_rel(ours, ref):
    worst = 0.0
    for name, g in ref.items():
        scale = np.abs(g).max()
        worst = max(worst, np.abs(ours[name] - g).max() / scale)
    return worst


def run_symplode(cmd, workdir, extra, out):
    args = cmd + ["grad", "--model", "m.toml", "--weights", "w.safetensors", "--x0", "x0.npy",
                  "--out", out, "--json"] + extra
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"symplode failed: {' '.join(args)}\n{proc.stderr}")
    report = json.loads(proc.stdout)
    grads = {k: v.numpy() for k, v in load_file(os.path.join(workdir, out)).items()}
    return report, grads


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symplode", help="path of the symplode binary (default: cargo run --release)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", help="working directory (default: a new temporary one)")
    args = ap.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.symplode:
        cmd = [os.path.abspath(args.symplode)]
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "--bin", "symplode"], cwd=repo, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(repo, "target"))
        cmd = [os.path.join(target, "release", "symplode")]
    workdir = args.dir or tempfile.mkdtemp(prefix="symplode-torch-")
    os.makedirs(workdir, exist_ok=True)

    torch.manual_seed(args.seed)
    dim = 2
    func = ODEFunc(dim, args.hidden)
    x0 = torch.randn(args.batch, dim)
    save_file({k: v.contiguous() for k, v in func.state_dict().items()}, os.path.join(workdir, "w.safetensors"))
    np.save(os.path.join(workdir, "x0.npy"), x0.numpy())
    with open(os.path.join(workdir, "m.toml"), "w") as f:
        f.write(SPEC.format(dim=dim, hidden=args.hidden))

    n = args.steps
    cases = []
    for name in ["rk4", "rk38", "dopri5"]:
        tab = TABLEAUX[name]
        cases.append((f"{name}, {n} fixed steps (hand-written torch loop)",
                      lambda f, x, tab=tab: rk_fixed(f, x, 0.0, 1.0, n, tab),
                      ["--tableau", name, "--steps", str(n)]))
    try:
        from torchdiffeq import odeint
        t = torch.tensor([0.0, 1.0])
        cases.append((f"torchdiffeq rk4 (3/8 rule), step_size 1/{n} vs symplode rk38",
                      lambda f, x: odeint(f, x, t, method="rk4", options=dict(step_size=1.0 / n))[-1],
                      ["--tableau", "rk38", "--steps", str(n)]))
        opts = dict(first_step=0.01, step_t=[1.0])
        cases.append(("torchdiffeq dopri5 rtol 1e-10 atol 1e-12 first_step 0.01 (adaptive)",
                      lambda f, x: odeint(f, x, t, method="dopri5", rtol=1e-10, atol=1e-12, options=opts)[-1],
                      ["--tableau", "dopri5", "--rtol", "1e-10", "--atol", "1e-12", "--first-step", "0.01"]))
    except ImportError:
        print("(torchdiffeq not installed: skipping its cases)")

    methods = ["symplectic", "backprop", "aca", "checkpoint-component", "adjoint"]
    print(f"workdir {workdir}; batch {args.batch}, MLP 2 -> [x, t] -> {args.hidden} tanh -> "
          f"{args.hidden} tanh -> 2, float64, loss mean ||x(1)||^2\n")
    print("| PyTorch integration | torch NFE | symplode NFE | loss rel. diff | "
          + " | ".join(methods) + " |")
    print("|---|---|---|---|" + "---|" * len(methods))
    for label, integrate, extra in cases:
        loss, ref, nfe = torch_gradient(func, x0, integrate)
        row, sym_nfe, loss_diff = [], None, None
        for m in methods:
            report, grads = run_symplode(cmd, workdir, extra + ["--method", m], f"g-{m}.safetensors")
            if sym_nfe is None:
                sym_nfe = report["nfe_forward"]
                loss_diff = abs(report["loss"] - loss) / abs(loss)
            row.append(f"{max_rel(grads, ref):.1e}")
        print(f"| {label} | {nfe} | {sym_nfe} | {loss_diff:.1e} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
