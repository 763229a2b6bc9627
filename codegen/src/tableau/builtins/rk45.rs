//! The classic embedded fifth-order pairs: Fehlberg 4(5), Cash–Karp 5(4), Dormand–Prince
//! 5(4).

use super::super::{Tableau, TableauError};
use super::{qs, rows};

/// Runge–Kutta–Fehlberg 4(5) (Fehlberg 1969, NASA TR R-315, Table III; also Hairer, Nørsett
/// & Wanner, *Solving ODEs I*, Table II.5.1).
///
/// **Weight choice.** As in the classic RKF45 the **fourth-order** weights `b` propagate
/// the solution and the fifth-order weights are the embedded `b̂` (order 4, embedded
/// order 5). The error estimate `b − b̂` is the same either way up to sign. The sixth stage
/// has `b_6 = 0`, so the symplectic partner drops it (`S = 5`); stage 2 (`b_2 = 0`) takes the
/// `b̃ = h` path.
///
/// ```text
/// fehlberg45 (order 4, embedded order 5)
///     0 |
///   1/4 |  1/4
///   3/8 |  3/32       9/32
/// 12/13 |  1932/2197  -7200/2197  7296/2197
///     1 |  439/216    -8          3680/513    -845/4104
///   1/2 |  -8/27      2           -3544/2565  1859/4104    -11/40
/// ------+--------------------------------------------------------------
///     b |  25/216     0           1408/2565   2197/4104    -1/5    0
///     b̂ |  16/135     0           6656/12825  28561/56430  -9/50   2/55
/// ```
///
/// # Errors
/// None in practice.
pub fn fehlberg45() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "fehlberg45",
        rows(&[
            &["1/4"],
            &["3/32", "9/32"],
            &["1932/2197", "-7200/2197", "7296/2197"],
            &["439/216", "-8", "3680/513", "-845/4104"],
            &["-8/27", "2", "-3544/2565", "1859/4104", "-11/40"],
        ])?,
        qs(&["25/216", "0", "1408/2565", "2197/4104", "-1/5", "0"])?,
        qs(&["0", "1/4", "3/8", "12/13", "1", "1/2"])?,
        Some(qs(&[
            "16/135",
            "0",
            "6656/12825",
            "28561/56430",
            "-9/50",
            "2/55",
        ])?),
        4,
        Some(5),
    )
}

/// Cash–Karp 5(4) (Cash & Karp 1990, *ACM TOMS* 16:201–222, Table 2; *Numerical Recipes*
/// §16.2).
///
/// **Weight choice.** The **fifth-order** weights `b` propagate (local extrapolation, as in
/// *Numerical Recipes*) and the fourth-order weights are the embedded `b̂` (order 5, embedded
/// order 4). `b_2 = b_5 = 0` are interior zero weights (`b̃ = h` path in the partner); nothing
/// is dropped.
///
/// ```text
/// cash_karp45 (order 5, embedded order 4)
///    0 |
///  1/5 |  1/5
/// 3/10 |  3/40        9/40
///  3/5 |  3/10        -9/10    6/5
///    1 |  -11/54      5/2      -70/27       35/27
///  7/8 |  1631/55296  175/512  575/13824    44275/110592  253/4096
/// -----+---------------------------------------------------------------------
///    b |  37/378      0        250/621      125/594       0          512/1771
///    b̂ |  2825/27648  0        18575/48384  13525/55296   277/14336  1/4
/// ```
///
/// # Errors
/// None in practice.
pub fn cash_karp45() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "cash_karp45",
        rows(&[
            &["1/5"],
            &["3/40", "9/40"],
            &["3/10", "-9/10", "6/5"],
            &["-11/54", "5/2", "-70/27", "35/27"],
            &[
                "1631/55296",
                "175/512",
                "575/13824",
                "44275/110592",
                "253/4096",
            ],
        ])?,
        qs(&["37/378", "0", "250/621", "125/594", "0", "512/1771"])?,
        qs(&["0", "1/5", "3/10", "3/5", "1", "7/8"])?,
        Some(qs(&[
            "2825/27648",
            "0",
            "18575/48384",
            "13525/55296",
            "277/14336",
            "1/4",
        ])?),
        5,
        Some(4),
    )
}

/// Dormand–Prince 5(4), FSAL (Dormand & Prince 1980, *J. Comput. Appl. Math.* 6:19–26),
/// exactly as torchdiffeq's and the symplectic-adjoint code's `dopri5` (METHOD.md §5).
/// Propagates the fifth-order solution; `b̂` has order 4. The embedded weights are those of
/// torchdiffeq (`b̂_7 = 1/60`, error weights `b − b̂` with last entry `−1/60`); Hairer's DOPRI5
/// code uses the other order-4 embedding of the same pair (`b̂_1 = 5179/57600, …, b̂_7 = 1/40`).
/// The partner drops the FSAL stage 7 (`S = 6`) and stage 2 (`b_2 = 0`) takes the `b̃ = h`
/// path.
///
/// ```text
/// dopri5 (order 5, embedded order 4, FSAL)
///    0 |
///  1/5 |  1/5
/// 3/10 |  3/40        9/40
///  4/5 |  44/45       -56/15       32/9
///  8/9 |  19372/6561  -25360/2187  64448/6561   -212/729
///    1 |  9017/3168   -355/33      46732/5247   49/176    -5103/18656
///    1 |  35/384      0            500/1113     125/192   -2187/6784    11/84
/// -----+------------------------------------------------------------------------------
///    b |  35/384      0            500/1113     125/192   -2187/6784    11/84     0
///    b̂ |  1951/21600  0            22642/50085  451/720   -12231/42400  649/6300  1/60
/// ```
///
/// # Errors
/// None in practice.
pub fn dopri5() -> Result<Tableau, TableauError> {
    Tableau::new_checked(
        "dopri5",
        rows(&[
            &["1/5"],
            &["3/40", "9/40"],
            &["44/45", "-56/15", "32/9"],
            &["19372/6561", "-25360/2187", "64448/6561", "-212/729"],
            &[
                "9017/3168",
                "-355/33",
                "46732/5247",
                "49/176",
                "-5103/18656",
            ],
            &["35/384", "0", "500/1113", "125/192", "-2187/6784", "11/84"],
        ])?,
        qs(&[
            "35/384",
            "0",
            "500/1113",
            "125/192",
            "-2187/6784",
            "11/84",
            "0",
        ])?,
        qs(&["0", "1/5", "3/10", "4/5", "8/9", "1", "1"])?,
        Some(qs(&[
            "1951/21600",
            "0",
            "22642/50085",
            "451/720",
            "-12231/42400",
            "649/6300",
            "1/60",
        ])?),
        5,
        Some(4),
    )
}
