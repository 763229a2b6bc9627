"""The polynomial of the AVX-512 f64 tanh (runtime/src/linalg/fastmath/tanh512.rs, `Q`).

expm1(r) = r + r^2 q(r) on the reduced interval r in [0, ln2/16) (widened a little, to
[-0.0005, 0.0437], for the rounding of the reduction). q is fitted in Chebyshev form with mpmath
(near-minimax), its coefficients rounded to f64, and the relative error of expm1 that the rounded
polynomial gives is checked on 20,001 points in 50-digit arithmetic.

    python3 scripts/tanh_minimax.py        # needs mpmath (pip install mpmath)

Degree 5 gives 4.8e-18 relative (a twentieth of an ulp); degree 6 (printed for comparison) is
what a Taylor polynomial would need on this interval.
"""
import mpmath as mp

mp.mp.dps = 50
A, B = mp.mpf("-0.0005"), mp.mpf("0.0437")


def q(r):
    if abs(r) < mp.mpf("1e-30"):
        return mp.mpf(1) / 2
    return (mp.expm1(r) - r) / r**2


for degree in (5, 6):
    poly, err = mp.chebyfit(q, [A, B], degree + 1, error=True)
    coefs = [float(c) for c in poly]  # highest degree first, rounded to f64
    worst = mp.mpf(0)
    for i in range(20001):
        r = A + (B - A) * i / 20000
        v = mp.mpf(0)
        for c in coefs:
            v = v * r + mp.mpf(c)
        worst = max(worst, abs(v - q(r)) * abs(r))  # ~ relative error of expm1(r)
    print(f"degree {degree}: fit error {mp.nstr(err, 3)}, expm1 relative error {mp.nstr(worst, 3)}")
    print("  lowest degree first:", ", ".join(repr(c) for c in reversed(coefs)))
