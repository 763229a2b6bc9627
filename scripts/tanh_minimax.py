"""The polynomials and tables of the f64 tanh kernels (runtime/src/linalg/fastmath/).

expm1(r) = r + r^2 q(r) on the reduced interval r in [0, ln2/E), E the table size: E = 16 for
the AVX-512 kernel (tanh512.rs), E = 4 for the AVX2 one (tanh256.rs, whose table lookup
holds 4 doubles in one register). The interval is widened a little, to [-0.0005, ln2/E + ~0.0004],
for the rounding of the reduction. q is fitted in Chebyshev form with mpmath (near-minimax), its
coefficients rounded to f64, and the relative error of expm1 that the rounded polynomial gives
is checked on 20,001 points in 50-digit arithmetic. The tables: T_j = 2^(j/E) rounded to f64 and
the node offsets ln(T_j) - j ln2/E (Gal's exact nodes).

    python3 scripts/tanh_minimax.py        # needs mpmath (pip install mpmath)

E = 16: degree 5 gives 4.8e-18 relative (a twentieth of an ulp); degree 6 is what a Taylor
polynomial would need on this interval. E = 4: degree 7 gives (printed) about as much.
"""
import mpmath as mp

mp.mp.dps = 50


def q(r):
    if abs(r) < mp.mpf("1e-30"):
        return mp.mpf(1) / 2
    return (mp.expm1(r) - r) / r**2


for entries, upper, degrees in ((16, "0.0437", (5, 6)), (4, "0.1737", (6, 7, 8))):
    A, B = mp.mpf("-0.0005"), mp.mpf(upper)
    print(f"== {entries} table entries, r in [{mp.nstr(A, 4)}, {mp.nstr(B, 6)}]")
    for degree in degrees:
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
    t = [float(mp.power(2, mp.mpf(j) / entries)) for j in range(entries)]
    node = [float(mp.log(mp.mpf(tj)) - j * mp.log(2) / entries) for j, tj in enumerate(t)]
    print("  T:", ", ".join(repr(x) for x in t))
    print("  NODE:", ", ".join(repr(x) for x in node))
    step = mp.log(2) / entries
    hi = float(step)
    lo = float(step - mp.mpf(hi))
    print(f"  step ln2/E = {hi!r} + {lo!r}; E/ln2 = {float(entries / mp.log(2))!r}")
