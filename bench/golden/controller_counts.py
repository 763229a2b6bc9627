"""Golden step-controller counts from torchdiffeq, for runtime/tests/suite/controller_golden.rs.

Runs torchdiffeq's adaptive solvers (dopri5, bosh3) on small reference problems whose right-hand
sides match symplode's test models (`HarmonicOscillator`, `ExpDecay`), with the steps clipped to
land on every output time (`options=dict(step_t=t)`, as symplode does), and prints, per case,
the accepted and rejected step counts, the number of function evaluations and the first step
size chosen by Hairer's initial-step selection, as Rust constants.

    python3 -m venv /tmp/tdq && /tmp/tdq/bin/pip install torch torchdiffeq
    /tmp/tdq/bin/python bench/golden/controller_counts.py

Produced with torch 2.15.0, torchdiffeq 0.2.5 (float64 throughout).
"""

import torch
import torchdiffeq

torch.set_default_dtype(torch.float64)


class Counted(torch.nn.Module):
    """Wraps f(t, y), counting evaluations and accepted/rejected steps (torchdiffeq callbacks)."""

    def __init__(self, f):
        super().__init__()
        self.f = f
        self.nfe = 0
        self.accepted = 0
        self.rejected = 0
        self.first_dt = None

    def forward(self, t, y):
        self.nfe += 1
        return self.f(t, y)

    def callback_step(self, t0, y0, dt):
        if self.first_dt is None:
            self.first_dt = float(dt)

    def callback_accept_step(self, t0, y0, dt):
        self.accepted += 1

    def callback_reject_step(self, t0, y0, dt):
        self.rejected += 1


def oscillator(omega):
    """q' = p, p' = -omega^2 q on rows (q, p)."""

    def f(t, y):
        return torch.stack([y[:, 1], -omega * omega * y[:, 0]], dim=1)

    return f


def decay(k):
    """x' = -k * x, one rate per feature."""
    kk = torch.tensor(k)

    def f(t, y):
        return -kk * y

    return f


CASES = [
    # (name, method, f, y0 rows, times, rtol, atol)
    ("OSC_DOPRI5", "dopri5", oscillator(2.0), [[1.0, 0.0], [0.5, -1.0]], [0.0, 5.0], 1e-6, 1e-8),
    ("OSC_DOPRI5_OUTPUTS", "dopri5", oscillator(2.0), [[1.0, 0.0], [0.5, -1.0]],
     [0.0, 0.7, 2.0, 5.0], 1e-6, 1e-8),
    ("DECAY_DOPRI5", "dopri5", decay([1.0, 10.0, 0.1]), [[1.0, 2.0, -3.0]], [0.0, 2.0], 1e-7, 1e-9),
    ("OSC_BOSH3", "bosh3", oscillator(2.0), [[1.0, 0.0], [0.5, -1.0]], [0.0, 5.0], 1e-5, 1e-7),
    ("DECAY_BOSH3", "bosh3", decay([1.0, 10.0, 0.1]), [[1.0, 2.0, -3.0]], [0.0, 2.0], 1e-6, 1e-8),
]


def main():
    print(f"// torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}")
    for name, method, f, y0, times, rtol, atol in CASES:
        func = Counted(f)
        t = torch.tensor(times)
        y = torchdiffeq.odeint(func, torch.tensor(y0), t, rtol=rtol, atol=atol, method=method,
                               options=dict(step_t=t))
        final = ", ".join(repr(float(v)) for v in y[-1].flatten())
        print(f"// {name}: {method}, times {times}, rtol {rtol}, atol {atol}; final state [{final}]")
        print(f"const {name}: Golden = Golden {{ accepted: {func.accepted}, "
              f"rejected: {func.rejected}, nfe: {func.nfe}, first_step: {func.first_dt!r} }};")


if __name__ == "__main__":
    main()
