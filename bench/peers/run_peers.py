#!/usr/bin/env python3
"""Peer comparison for symplode's speed workload (issue 6): median seconds per exact gradient.

Workload (the same as `cargo run --release --example speed`): state 2, network input [x, t],
MLP [x, t] -> H tanh -> H tanh -> 2 with biases, t in [0, 1], float64,
loss = mean over the batch of ||x(1)||^2, gradient w.r.t. all parameters and x0.

Cases (key: batch, hidden, method, stepping):
  rk4_n100      256,  64, rk4,    100 fixed steps
  rk4_n1000     256,  64, rk4,    1000 fixed steps
  dopri5_n100   256,  64, dopri5, 100 fixed steps
  dopri5_adapt  256,  64, dopri5, adaptive rtol = atol = 1e-6
  small_rk4     16,   32, rk4,    100 fixed steps
  large_rk4     4096, 256, rk4,   10 fixed steps

Peers:
  torchdiffeq   torchdiffeq.odeint, backprop through the solver. NOTE: its 'rk4' is the 3/8 rule
                (rk4_alt_step_func), not classic RK4; fixed grid via options=dict(step_size=1/N).
                Fixed-step dopri5 is not offered by torchdiffeq; it is emulated with the adaptive
                solver, a step_t grid of N+1 points, first_step=1 and rtol = atol = 1e30 (every
                step accepted, each clipped to the next grid point; NFE checked).
  authors       the authors' torch_symplectic_adjoint.odeint_symplectic_adjoint
                (tksmatsubara/symplectic-adjoint-method). Its fixed-step solvers take exactly one
                step per interval of the output grid t, so t = linspace(0, 1, N+1). Its 'rk4' is
                classic RK4. Fixed-step dopri5 is emulated as for torchdiffeq, with the output grid
                as step grid (the step is clipped to the next output time).
  diffrax       diffrax.diffeqsolve under jax.jit(jax.grad(...)), RecursiveCheckpointAdjoint with
                checkpoints = max_steps (every step stored: no recomputation, diffrax's fastest
                exact mode), Dopri5, and classic RK4 built from diffrax.ButcherTableau +
                diffrax.AbstractERK (diffrax has no classic RK4 built in). Fixed grids via
                diffrax.StepTo; adaptive via PIDController(rtol, atol). Compile time reported
                separately, excluded from the medians.
  jaxscan       plain JAX: classic RK4 / dopri5 fixed-step loop in jax.lax.scan, jax.jit(jax.grad)
                (backprop through the scan); fixed-step cases only.

Single thread: the script sets OMP/MKL/OPENBLAS_NUM_THREADS=1 and XLA_FLAGS before importing torch
or JAX (unless already set), torch.set_num_threads(1); run it under `taskset -c 0` (README).

Usage: python3 bench/peers/run_peers.py [--authors PATH] [--peers torchdiffeq,authors,diffrax,jaxscan]
       [--cases rk4_n100,...] [--reps 5] [--out results.json] [--md results.md]
       [--rust | --rust-output FILE]
The authors' package path comes from --authors or the env var SYMPLECTIC_ADJOINT_PATH (the folder
that holds the torch_symplectic_adjoint package); without it that peer is skipped with a message.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

# Single thread: must happen before torch / JAX are imported.
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402

from cpu import cpu_name  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

CASES = {
    "rk4_n100": dict(label="batch 256, rk4 N=100", batch=256, hidden=64, method="rk4", n=100),
    "rk4_n1000": dict(label="batch 256, rk4 N=1000", batch=256, hidden=64, method="rk4", n=1000),
    "dopri5_n100": dict(label="batch 256, dopri5 N=100", batch=256, hidden=64, method="dopri5", n=100),
    "dopri5_adapt": dict(
        label="batch 256, dopri5 rtol=atol=1e-6", batch=256, hidden=64, method="dopri5", n=None, tol=1e-6
    ),
    "small_rk4": dict(label="batch 16 / hidden 32, rk4 N=100", batch=16, hidden=32, method="rk4", n=100),
    "large_rk4": dict(label="batch 4096 / hidden 256, rk4 N=10", batch=4096, hidden=256, method="rk4", n=10),
}
PEERS = ["torchdiffeq", "authors", "diffrax", "jaxscan"]


# ----------------------------------------------------------------------------------------------
# shared problem data (numpy, identical for every peer)


def make_params(hidden, seed=2021):
    """PyTorch-Linear-style init U(-1/sqrt(fan_in), 1/sqrt(fan_in)); W is (out, in)."""
    rng = np.random.default_rng(seed)
    sizes = [(hidden, 3), (hidden, hidden), (2, hidden)]
    params = []
    for out_f, in_f in sizes:
        bound = 1.0 / np.sqrt(in_f)
        params.append(rng.uniform(-bound, bound, size=(out_f, in_f)))
        params.append(rng.uniform(-bound, bound, size=(out_f,)))
    return params


def make_x0(batch, seed=7):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(batch, 2))


def machine_info():
    cpu = cpu_name()
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return dict(
        cpu_model=cpu,
        logical_cpus=os.cpu_count(),
        affinity=affinity,
        python=sys.version.split()[0],
        platform=platform.platform(),
        env={
            k: os.environ.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "OPENBLAS_CORETYPE",
                "XLA_FLAGS",
            )
        },
    )


def load_now():
    try:
        up = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        up = None
    return dict(loadavg=list(os.getloadavg()), uptime=up, utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def timed(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def summarize(times):
    return dict(median_s=statistics.median(times), min_s=min(times), max_s=max(times), times_s=times)


# ----------------------------------------------------------------------------------------------
# element type (`--dtype`): every peer computes in it; parameters and x0 are drawn in f64 and cast

DTYPE = "f64"


def np_dtype():
    return np.float64 if DTYPE == "f64" else np.float32


# ----------------------------------------------------------------------------------------------
# PyTorch peers


def torch_setup():
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_default_dtype(torch.float64 if DTYPE == "f64" else torch.float32)
    return torch


class _Counter:
    n = 0


def torch_func(torch, params_np):
    import torch.nn as nn

    class MLPField(nn.Module):
        def __init__(self):
            super().__init__()
            hidden = params_np[0].shape[0]
            self.l1 = nn.Linear(3, hidden)
            self.l2 = nn.Linear(hidden, hidden)
            self.l3 = nn.Linear(hidden, 2)
            with torch.no_grad():
                for lin, (w, b) in zip(
                    (self.l1, self.l2, self.l3), zip(params_np[0::2], params_np[1::2])
                ):
                    lin.weight.copy_(torch.from_numpy(w.astype(np_dtype())))
                    lin.bias.copy_(torch.from_numpy(b.astype(np_dtype())))
            self.nfe = 0

        def forward(self, t, x):
            self.nfe += 1
            tt = torch.as_tensor(t, dtype=x.dtype).reshape(1, 1).expand(x.shape[0], 1)
            h = torch.tanh(self.l1(torch.cat([x, tt], dim=1)))
            h = torch.tanh(self.l2(h))
            return self.l3(h)

    return MLPField().to(torch.get_default_dtype())


def torch_grads(torch, f, x0):
    return [x0.grad] + [p.grad for p in (f.l1.weight, f.l1.bias, f.l2.weight, f.l2.bias, f.l3.weight, f.l3.bias)]


def run_torch_peer(peer, case, reps, authors_path):
    torch = torch_setup()
    params = make_params(case["hidden"])
    f = torch_func(torch, params)
    x0 = torch.from_numpy(make_x0(case["batch"]).astype(np_dtype())).requires_grad_(True)
    n, method = case["n"], case["method"]
    notes = []

    if peer == "torchdiffeq":
        import torchdiffeq

        odeint = torchdiffeq.odeint
        if method == "rk4":
            t = torch.tensor([0.0, 1.0])
            kw = dict(method="rk4", options=dict(step_size=1.0 / n))
            notes.append("torchdiffeq 'rk4' = 3/8-rule RK4 (rk4_alt_step_func), fixed grid step_size=1/N")
        elif n is not None:  # dopri5 fixed
            t = torch.tensor([0.0, 1.0])
            kw = dict(
                method="dopri5",
                rtol=1e30,
                atol=1e30,
                options=dict(step_t=torch.linspace(0.0, 1.0, n + 1), first_step=1.0),
            )
            notes.append("dopri5 fixed steps emulated: adaptive solver, step_t grid, rtol=atol=1e30")
        else:
            t = torch.tensor([0.0, 1.0])
            kw = dict(method="dopri5", rtol=case["tol"], atol=case["tol"])
            notes.append("adaptive dopri5, torchdiffeq defaults (rms norm, initial step selection)")
    elif peer == "authors":
        from torch_symplectic_adjoint import odeint_symplectic_adjoint as odeint

        if method == "rk4":
            t = torch.linspace(0.0, 1.0, n + 1)
            kw = dict(method="rk4")
            notes.append("classic RK4; one step per interval of t = linspace(0, 1, N+1)")
        elif n is not None:
            t = torch.linspace(0.0, 1.0, n + 1)
            kw = dict(method="dopri5", rtol=1e30, atol=1e30, options=dict(first_step=1.0))
            notes.append("dopri5 fixed steps emulated: adaptive solver clipped to t = linspace(0,1,N+1), rtol=atol=1e30")
        else:
            t = torch.tensor([0.0, 1.0])
            kw = dict(method="dopri5", rtol=case["tol"], atol=case["tol"])
            notes.append("adaptive dopri5, the package's defaults (rms norm, initial step selection)")
    else:
        raise ValueError(peer)

    out = {}

    def grad_once():
        f.zero_grad(set_to_none=True)
        x0.grad = None
        f.nfe = 0
        ys = odeint(f, x0, t, **kw)
        nfe_fwd = f.nfe
        loss = (ys[-1] ** 2).sum(dim=1).mean()
        loss.backward()
        out["loss"] = loss.item()
        out["nfe_forward"] = nfe_fwd
        out["nfe_total"] = f.nfe

    times = timed(grad_once, reps)
    g = torch_grads(torch, f, x0)
    res = summarize(times)
    res.update(
        loss=out["loss"],
        nfe_forward_calls=out["nfe_forward"],
        nfe_total_calls=out["nfe_total"],
        notes=notes,
    )
    flat = np.concatenate([gi.detach().numpy().ravel() for gi in g])
    return res, flat


# ----------------------------------------------------------------------------------------------
# JAX peers


def jax_setup():
    import jax

    # f32 runs keep JAX's default 32-bit types, so time grids and constants are f32 as well
    jax.config.update("jax_enable_x64", DTYPE == "f64")
    return jax


def jax_field(jnp):
    def field(t, y, params):
        w1, b1, w2, b2, w3, b3 = params
        tt = jnp.full((y.shape[0], 1), t, dtype=y.dtype)
        h = jnp.tanh(jnp.concatenate([y, tt], axis=1) @ w1.T + b1)
        h = jnp.tanh(h @ w2.T + b2)
        return h @ w3.T + b3

    return field


DOPRI5_A = (
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
DOPRI5_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
DOPRI5_C = (1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)


def classic_rk4_solver(diffrax):
    """Classic RK4 as a diffrax explicit RK solver (diffrax ships none)."""
    from typing import ClassVar

    rk4_tableau = diffrax.ButcherTableau(
        a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
        b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
        # embedded error weights are unused under StepTo; any zero-sum row is accepted
        b_error=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]) - np.array([0.0, 0.0, 1.0, 0.0]),
        c=np.array([0.5, 0.5, 1.0]),
    )
    from diffrax._local_interpolation import ThirdOrderHermitePolynomialInterpolation

    class ClassicRK4(diffrax.AbstractERK):
        tableau: ClassVar = rk4_tableau
        interpolation_cls: ClassVar = ThirdOrderHermitePolynomialInterpolation.from_k

        def order(self, terms):
            return 4

    return ClassicRK4()


def run_jax_peer(peer, case, reps):
    jax = jax_setup()
    import jax.numpy as jnp

    field = jax_field(jnp)
    params = tuple(jnp.asarray(p.astype(np_dtype())) for p in make_params(case["hidden"]))
    x0 = jnp.asarray(make_x0(case["batch"]).astype(np_dtype()))
    n, method = case["n"], case["method"]
    notes = []
    extra = {}

    if peer == "diffrax":
        import diffrax

        term = diffrax.ODETerm(lambda t, y, args: field(t, y, args))
        solver = classic_rk4_solver(diffrax) if method == "rk4" else diffrax.Dopri5()
        if n is not None:
            controller = diffrax.StepTo(ts=jnp.linspace(0.0, 1.0, n + 1))
            dt0 = None
            max_steps = n
            notes.append(
                ("classic RK4 (ButcherTableau + AbstractERK)" if method == "rk4" else "diffrax.Dopri5")
                + f", StepTo grid of N={n}, RecursiveCheckpointAdjoint(checkpoints={max_steps})"
            )
        else:
            controller = diffrax.PIDController(rtol=case["tol"], atol=case["tol"])
            dt0 = None
            max_steps = 1024
            notes.append(
                f"diffrax.Dopri5 + PIDController(rtol=atol={case['tol']}) (I-controller defaults, rms norm), "
                f"RecursiveCheckpointAdjoint(checkpoints={max_steps}), max_steps={max_steps}"
            )
        adjoint = diffrax.RecursiveCheckpointAdjoint(checkpoints=max_steps)

        def solve(params, y0):
            return diffrax.diffeqsolve(
                term,
                solver,
                t0=0.0,
                t1=1.0,
                dt0=dt0,
                y0=y0,
                args=params,
                stepsize_controller=controller,
                saveat=diffrax.SaveAt(t1=True),
                adjoint=adjoint,
                max_steps=max_steps,
            )

        def loss_fn(params, y0):
            sol = solve(params, y0)
            return jnp.mean(jnp.sum(sol.ys[-1] ** 2, axis=1))

        stats = jax.jit(lambda p, y: solve(p, y).stats)(params, x0)
        extra = {k: int(v) for k, v in stats.items() if np.ndim(v) == 0}
    elif peer == "jaxscan":
        if n is None:
            return None, None
        h = 1.0 / n
        if method == "rk4":
            notes.append(f"classic RK4 in jax.lax.scan, N={n}, jax.grad = backprop through the scan")

            def make_step(params):
                def step(y, i):
                    t = i * h
                    k1 = field(t, y, params)
                    k2 = field(t + h / 2, y + h / 2 * k1, params)
                    k3 = field(t + h / 2, y + h / 2 * k2, params)
                    k4 = field(t + h, y + h * k3, params)
                    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

                return step
        else:
            notes.append(f"dopri5 (6 stages, no FSAL reuse, no error estimate) in jax.lax.scan, N={n}")

            def make_step(params):
                def step(y, i):
                    t = i * h
                    ks = [field(t, y, params)]
                    for c, row in zip(DOPRI5_C, DOPRI5_A):
                        yi = y + h * sum(a * k for a, k in zip(row, ks) if a != 0.0)
                        ks.append(field(t + c * h, yi, params))
                    return y + h * sum(b * k for b, k in zip(DOPRI5_B, ks) if b != 0.0), None

                return step

        def loss_fn(params, y0):
            y, _ = jax.lax.scan(make_step(params), y0, jnp.arange(n, dtype=y0.dtype))
            return jnp.mean(jnp.sum(y**2, axis=1))
    else:
        raise ValueError(peer)

    vg = jax.value_and_grad(loss_fn, argnums=(0, 1))
    t0 = time.perf_counter()
    compiled = jax.jit(vg).lower(params, x0).compile()
    compile_s = time.perf_counter() - t0

    out = {}

    def grad_once():
        val, (gp, gx) = compiled(params, x0)
        jax.block_until_ready((val, gp, gx))
        out["val"], out["gp"], out["gx"] = val, gp, gx

    times = timed(grad_once, reps)
    res = summarize(times)
    res.update(loss=float(out["val"]), compile_s=compile_s, notes=notes)
    if extra:
        res["diffrax_stats"] = extra
    flat = np.concatenate([np.asarray(out["gx"]).ravel()] + [np.asarray(g).ravel() for g in out["gp"]])
    return res, flat


# ----------------------------------------------------------------------------------------------
# our Rust numbers


RUST_LABELS = {c["label"]: k for k, c in CASES.items()}


def parse_rust(text):
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in RUST_LABELS:
            try:
                if len(cells) >= 10:
                    # | case | symplectic | symplectic-stored | backprop | 2 ratios | 3 peaks | NFE |
                    rows[RUST_LABELS[cells[0]]] = dict(
                        symplectic_s=float(cells[1]),
                        stored_s=float(cells[2]),
                        backprop_s=float(cells[3]),
                        nfe_symplectic=cells[9],
                    )
                elif len(cells) >= 7:
                    # the older layout without the stored-stage column (the 4-column f32
                    # speed-up table of `speed --f32` repeats the labels: skipped)
                    rows[RUST_LABELS[cells[0]]] = dict(
                        symplectic_s=float(cells[1]),
                        backprop_s=float(cells[2]),
                        nfe_symplectic=cells[6] if len(cells) > 6 else None,
                    )
            except ValueError:
                pass
    return rows


def run_rust(repo, dtype):
    # `--f32` prints the f64 table, then the f32 one (parse_rust keeps the last rows per case).
    cmd = ["cargo", "run", "--release", "--example", "speed", "--", "--quick"]
    if dtype == "f32":
        cmd.append("--f32")
    load = load_now()
    p = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr[-3000:], file=sys.stderr)
        raise SystemExit("cargo run --example speed failed")
    return p.stdout, load


# ----------------------------------------------------------------------------------------------


def versions():
    v = {}
    for mod in ("numpy", "torch", "torchdiffeq", "jax", "jaxlib", "diffrax", "equinox"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001
            v[mod] = None
    return v


def authors_commit(path):
    try:
        return subprocess.run(
            ["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def fmt(x, nd=4):
    return "—" if x is None else f"{x:.{nd}f}"


def write_md(path, res):
    cases = [k for k in CASES if any(k in res["results"].get(p, {}) for p in PEERS)]
    lines = [
        f"# Peer comparison: median seconds per exact gradient (single thread, {res.get('dtype', 'f64')})",
        "",
        f"Run {res['start_load']['utc']}, CPU {res['machine']['cpu_model']}, load at start "
        f"{res['start_load']['loadavg']}, at end {res['end_load']['loadavg']} (1/5/15-min averages). "
        f"Median of {res['reps']} after one warm-up. Versions: "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items() if v)
        + (f", authors' code at {res['authors_commit']}" if res.get("authors_commit") else "")
        + ".",
        "",
        "| case | torchdiffeq backprop | authors' symplectic adjoint | diffrax (compile s) | plain JAX scan (compile s) "
        "| ours symplectic | ours symplectic-stored | ours backprop |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rust = res.get("rust", {}).get("rows", {})
    for k in cases:
        r = {p: res["results"].get(p, {}).get(k) for p in PEERS}

        def cell(p, compile_=False):
            x = r[p]
            if not x or "median_s" not in x:
                return "—"
            s = fmt(x["median_s"])
            if compile_ and "compile_s" in x:
                s += f" ({x['compile_s']:.1f})"
            return s

        ours = rust.get(k, {})
        lines.append(
            f"| {CASES[k]['label']} | {cell('torchdiffeq')} | {cell('authors')} | {cell('diffrax', True)} "
            f"| {cell('jaxscan', True)} | {fmt(ours.get('symplectic_s'))} | {fmt(ours.get('stored_s'))} "
            f"| {fmt(ours.get('backprop_s'))} |"
        )
    if rust:
        lines += [
            "",
            "Ratios (peer / ours; > 1 means ours is faster): our symplectic adjoint (stages recomputed, "
            "as in the paper) and its stored-stage variant against every peer's exact gradient.",
            "",
            "| case | authors / ours sympl. | torchdiffeq / ours sympl. | diffrax / ours sympl. "
            "| diffrax / ours stored | torchdiffeq / ours stored | JAX scan / ours backprop |",
            "|---|---|---|---|---|---|---|",
        ]
        for k in cases:
            ours = rust.get(k)
            if not ours:
                continue

            def ratio(p, key):
                x = res["results"].get(p, {}).get(k)
                if not x or "median_s" not in x or not ours.get(key):
                    return "—"
                return f"{x['median_s'] / ours[key]:.2f}"

            lines.append(
                f"| {CASES[k]['label']} | {ratio('authors', 'symplectic_s')} | {ratio('torchdiffeq', 'symplectic_s')} "
                f"| {ratio('diffrax', 'symplectic_s')} | {ratio('diffrax', 'stored_s')} "
                f"| {ratio('torchdiffeq', 'stored_s')} | {ratio('jaxscan', 'backprop_s')} |"
            )
    lines += ["", "Function evaluations / steps and gradient agreement:", ""]
    for k in cases:
        for p in PEERS:
            x = res["results"].get(p, {}).get(k)
            if not x or "median_s" not in x:
                continue
            bits = []
            if "nfe_forward_calls" in x:
                bits.append(f"forward calls {x['nfe_forward_calls']}, total calls {x['nfe_total_calls']}")
            if "diffrax_stats" in x:
                bits.append(f"steps {x['diffrax_stats'].get('num_steps')}, accepted {x['diffrax_stats'].get('num_accepted_steps')}")
            if x.get("grad_rel_diff") is not None:
                bits.append(f"grad rel. diff vs {x['grad_ref']}: {x['grad_rel_diff']:.1e}")
            lines.append(f"- {CASES[k]['label']}, {p}: loss {x['loss']:.12g}; " + "; ".join(bits))
    skipped = res.get("skipped", {})
    if skipped:
        lines += ["", "Skipped: " + "; ".join(f"{p}: {why}" for p, why in skipped.items())]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--authors", default=os.environ.get("SYMPLECTIC_ADJOINT_PATH"))
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dtype", choices=("f64", "f32"), default="f64", help="element type of every peer")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--md", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--rust", action="store_true", help="also run `cargo run --release --example speed -- --quick`")
    ap.add_argument("--rust-repo", default=REPO, help="where to run cargo for --rust")
    ap.add_argument("--rust-output", help="parse a saved output of the speed example instead of running it")
    args = ap.parse_args()
    global DTYPE
    DTYPE = args.dtype
    if args.reps < 5:
        print("note: fewer than 5 repeats", file=sys.stderr)

    peers = [p for p in args.peers.split(",") if p]
    cases = [c for c in args.cases.split(",") if c]
    skipped = {}
    if "authors" in peers:
        path = args.authors
        ok = path and os.path.isdir(os.path.join(path, "torch_symplectic_adjoint"))
        if not ok:
            msg = (
                "the authors' code was not found: pass --authors PATH or set SYMPLECTIC_ADJOINT_PATH to the folder "
                "holding torch_symplectic_adjoint/ (see bench/peers/README.md); skipping that peer"
            )
            print("SKIP authors:", msg, file=sys.stderr)
            skipped["authors"] = msg
            peers.remove("authors")
        else:
            sys.path.insert(0, os.path.abspath(path))

    res = dict(
        machine=machine_info(),
        start_load=load_now(),
        reps=args.reps,
        dtype=args.dtype,
        cases={k: CASES[k] for k in cases},
        results={p: {} for p in peers},
        skipped=skipped,
    )
    if "authors" in peers:
        res["authors_path"] = os.path.abspath(args.authors)
        res["authors_commit"] = authors_commit(args.authors)
    flats = {}
    for p in peers:
        for k in cases:
            case = CASES[k]
            load = load_now()
            print(f"[{load['utc']}] {p:12s} {k:13s} load {load['loadavg'][0]:.2f} ...", end=" ", flush=True)
            try:
                if p in ("torchdiffeq", "authors"):
                    r, flat = run_torch_peer(p, case, args.reps, args.authors)
                else:
                    r, flat = run_jax_peer(p, case, args.reps)
            except Exception as e:  # noqa: BLE001
                print(f"FAILED: {type(e).__name__}: {e}")
                res["results"][p][k] = dict(error=f"{type(e).__name__}: {e}", load=load)
                continue
            if r is None:
                print("n/a")
                continue
            r["load_before"] = load
            res["results"][p][k] = r
            flats[(p, k)] = flat
            extra = f" (compile {r['compile_s']:.2f} s)" if "compile_s" in r else ""
            print(f"median {r['median_s']:.4f} s{extra}")

    # gradient agreement: classic-RK4 / dopri5 peers against the plain-JAX (or diffrax) gradient
    for k in cases:
        ref = next((q for q in ("jaxscan", "diffrax", "authors") if (q, k) in flats), None)
        for p in peers:
            if (p, k) in flats and ref and p != ref:
                a, b = flats[(p, k)], flats[(ref, k)]
                res["results"][p][k]["grad_rel_diff"] = float(np.linalg.norm(a - b) / np.linalg.norm(b))
                res["results"][p][k]["grad_ref"] = ref

    res["versions"] = versions()
    if args.rust_output:
        with open(args.rust_output) as f:
            text = f.read()
        res["rust"] = dict(source=args.rust_output, rows=parse_rust(text), output=text)
    elif args.rust:
        text, load = run_rust(args.rust_repo, args.dtype)
        source = "cargo run --release --example speed -- --quick" + (" --f32" if args.dtype == "f32" else "")
        res["rust"] = dict(source=source, rows=parse_rust(text), output=text, load_before=load)
    res["end_load"] = load_now()
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    write_md(args.md, res)
    print(f"wrote {args.out} and {args.md}")


if __name__ == "__main__":
    main()
