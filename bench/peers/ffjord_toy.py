#!/usr/bin/env python3
"""FFJORD's toy training loop in PyTorch + torchdiffeq, timed per iteration (issue 17 item 4).

Written for this repository from FFJORD's published settings (rtqichen/ffjord, `train_toy.py`
with `--layer_type concatsquash --dims 64-64-64 --nonlinearity tanh --time_length 0.5
--solver dopri5 --atol 1e-5 --rtol 1e-5 --divergence_fn approximate`); no FFJORD code is used.

Model: ConcatSquash MLP 2 -> 64 -> 64 -> 64 -> 2 with tanh between layers; each layer is
`Linear(x) * sigmoid(Linear(t)) + Linear_nobias(t)`. CNF state `(z, dlogp)`,
`dz/dt = f(z, t)`, `d dlogp/dt = -eps^T (df/dz) eps` (Gaussian Hutchinson, one `eps` per
solve, a vector-Jacobian product as in FFJORD), integrated over [0, T = 0.5] with dopri5,
rtol = atol = 1e-5 (torchdiffeq's defaults otherwise: mixed RMS norm, its own initial step).
Loss `-mean log p(x)` with `log p(x) = log N(z(T); 0, I) - dlogp(T)`, Adam lr 1e-3,
weight decay 1e-5, mini-batches of 200 fresh 8gaussians samples.

Gradient modes: `adjoint` = `torchdiffeq.odeint_adjoint` (FFJORD's default; adjoint tolerances
equal to the forward ones), `backprop` = autograd through `torchdiffeq.odeint`.

Timing: `torch.set_num_threads(1)`; each iteration (sampling, solve, backward, Adam step) is
timed; the report is the mean and median over iterations 10..50 (1-based 11..50 after 10
warm-up iterations, `--warmup`, `--iters`). NFE: forward evaluations of f during the solve
(`nfe_forward`) and evaluations during the backward pass (`nfe_backward`: adjoint solve
calls; 0 for backprop), per iteration, averaged over the same window.

Output: one JSON object per (mode, dtype) on stdout (`--json FILE` also writes a list).

    OMP_NUM_THREADS=1 taskset -c 0 /work/venv-peers/bin/python bench/peers/ffjord_toy.py \
        --modes adjoint,backprop --dtypes float64,float32
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchdiffeq  # noqa: E402
from torch import nn  # noqa: E402

from cpu import cpu_name  # noqa: E402

LOG_2PI = math.log(2.0 * math.pi)


class ConcatSquash(nn.Module):
    """`layer(x) * sigmoid(gate(t)) + shift(t)`: gate and shift are affine maps of the time."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.layer = nn.Linear(n_in, n_out)
        self.gate = nn.Linear(1, n_out)
        self.shift = nn.Linear(1, n_out, bias=False)

    def forward(self, t, x):
        tt = t.reshape(1, 1).to(x)
        return self.layer(x) * torch.sigmoid(self.gate(tt)) + self.shift(tt)


class OdeNet(nn.Module):
    """ConcatSquash layers dims[0] -> ... -> dims[-1] with tanh between them."""

    def __init__(self, dims):
        super().__init__()
        self.layers = nn.ModuleList(
            ConcatSquash(a, b) for a, b in zip(dims[:-1], dims[1:])
        )

    def forward(self, t, x):
        for k, layer in enumerate(self.layers):
            x = layer(t, x)
            if k + 1 < len(self.layers):
                x = torch.tanh(x)
        return x


class CnfField(nn.Module):
    """The augmented field `(f(z, t), -eps^T df/dz eps)` with a fixed Hutchinson `eps`."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.eps = None
        self.calls = 0

    def forward(self, t, state):
        z, _ = state
        self.calls += 1
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            f = self.net(t, z)
            (vjp,) = torch.autograd.grad(f, z, self.eps, create_graph=True)
            div = (vjp * self.eps).sum(dim=1, keepdim=True)
        return f, -div


def eight_gaussians(n, rng):
    """FFJORD's 8gaussians: centres at radius 4 in 8 directions, N(0, 0.5^2) noise, / 1.414."""
    s = 1.0 / math.sqrt(2.0)
    centres = np.array(
        [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)], dtype=np.float64
    )
    pts = 0.5 * rng.standard_normal((n, 2)) + 4.0 * centres[rng.integers(0, 8, size=n)]
    return pts / 1.414


def run(mode, dtype, args):
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net = OdeNet([2] + [int(h) for h in args.dims.split("-")] + [2]).to(dtype)
    field = CnfField(net)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=1e-5)
    ts = torch.tensor([0.0, args.time], dtype=dtype)
    times, nfe_f, nfe_b, losses = [], [], [], []
    for it in range(args.iters):
        t0 = time.perf_counter()
        x = torch.from_numpy(eight_gaussians(args.batch, rng)).to(dtype)
        field.eps = torch.randn_like(x)
        zero = torch.zeros(args.batch, 1, dtype=dtype)
        opt.zero_grad()
        field.calls = 0
        if mode == "adjoint":
            zt, dlogp = torchdiffeq.odeint_adjoint(
                field, (x, zero), ts, rtol=args.rtol, atol=args.atol, method="dopri5",
                adjoint_params=tuple(net.parameters()),
            )
        else:
            zt, dlogp = torchdiffeq.odeint(
                field, (x, zero), ts, rtol=args.rtol, atol=args.atol, method="dopri5"
            )
        fwd = field.calls
        z1, d1 = zt[-1], dlogp[-1]
        logpz = -0.5 * (z1 * z1).sum(dim=1, keepdim=True) - LOG_2PI
        loss = -(logpz - d1).mean()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        nfe_f.append(fwd)
        nfe_b.append(field.calls - fwd)
        losses.append(float(loss.detach()))
    w = slice(args.warmup, args.iters)
    return {
        "peer": "torchdiffeq",
        "mode": mode,
        "dtype": str(dtype).replace("torch.", ""),
        "iterations": f"{args.warmup + 1}..{args.iters}",
        "s_per_iter_mean": statistics.fmean(times[w]),
        "s_per_iter_median": statistics.median(times[w]),
        "nfe_forward": statistics.fmean(nfe_f[w]),
        "nfe_backward": statistics.fmean(nfe_b[w]),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "batch": args.batch,
        "dims": args.dims,
        "time": args.time,
        "rtol": args.rtol,
        "atol": args.atol,
        "lr": args.lr,
        "threads": torch.get_num_threads(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", default="adjoint,backprop")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--dims", default="64-64-64")
    p.add_argument("--time", type=float, default=0.5)
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--atol", type=float, default=1e-5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the list of results to this file")
    args = p.parse_args()
    if not 0 <= args.warmup < args.iters:
        sys.exit("need 0 <= --warmup < --iters")
    torch.set_num_threads(1)
    cpu = cpu_name()
    out = []
    for dt in args.dtypes.split(","):
        for mode in args.modes.split(","):
            if mode not in ("adjoint", "backprop"):
                sys.exit(f"unknown mode {mode}: use adjoint or backprop")
            r = run(mode, getattr(torch, dt), args)
            r.update(
                cpu=cpu,
                load_avg=os.getloadavg()[0],
                torch=torch.__version__,
                torchdiffeq=torchdiffeq.__version__,
            )
            print(json.dumps(r), flush=True)
            out.append(r)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
