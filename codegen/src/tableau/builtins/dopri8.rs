//! Dormand–Prince 8(7) as shipped by torchdiffeq and the symplectic-adjoint code.

use super::super::{Tableau, TableauError, q};
use super::{qs, rows};

/// Dormand–Prince–Shampine 8(7), 13 stages plus an FSAL stage (Prince & Dormand 1981,
/// *J. Comput. Appl. Math.* 7:67–75, "RK8(7)13M"), exactly the coefficients of torchdiffeq's
/// and the symplectic-adjoint code's `dopri8` (METHOD.md §5): `b` is the last row of `A`
/// followed by `0`, so `b_2 … b_5 = 0` (interior, `b̃ = h` path) and `b_14 = 0` (dropped by
/// the partner, `S = 13`).
///
/// **Not exact.** The published coefficients are rational *approximations* (about ten digits
/// per numerator and denominator) of an irrational solution of the order conditions, so they
/// satisfy them only approximately. Exactly, in rationals:
/// - consistency `c_i = Σ_j a_ij` fails by up to `1.05e-17` (rows 7–14; e.g. row 11);
/// - `Σ b_i = 1 − 3.7e-18`, so even order 1 fails exactly ([`Tableau::satisfied_order`] is 0);
/// - the order conditions of `b` up to order 8 hold to `6.5e-18`, those of `b̂` up to order 7
///   to `6.4e-18`; order 8 of `b̂` fails by `1.1e-4` (so the embedded order is a genuine 7).
///
/// It is therefore built with [`Tableau::new_with_tolerance`] at `1e-16`:
/// `satisfied_order_within(8, 1e-16) = 8` and `satisfied_embedded_order_within(8, 1e-16) = 7`.
/// Order 9 lies beyond the enumerated trees. The pairing proof of the symplectic partner is
/// exact all the same: it is an algebraic identity in `b` and `A`, independent of the order.
///
/// Nodes `c_2 … c_14 = 1/18, 1/12, 1/8, 5/16, 3/8, 59/400, 93/200,
/// 5490023248/9719169821, 13/20, 1201146811/1299019798, 1, 1, 1`. Rows of `A` as in
/// METHOD.md §5; `b̂ = [13451932/455176623, 0, 0, 0, 0, −808719846/976000145,
/// 1757004468/5645159321, 656045339/265891186, −3867574721/1518517206,
/// 465885868/322736535, 53011238/667516719, 2/45, 0, 0]`.
///
/// # Errors
/// None in practice.
pub fn dopri8() -> Result<Tableau, TableauError> {
    let a = rows(&[
        &["1/18"],
        &["1/48", "1/16"],
        &["1/32", "0", "3/32"],
        &["5/16", "0", "-75/64", "75/64"],
        &["3/80", "0", "0", "3/16", "3/20"],
        &[
            "29443841/614563906",
            "0",
            "0",
            "77736538/692538347",
            "-28693883/1125000000",
            "23124283/1800000000",
        ],
        &[
            "16016141/946692911",
            "0",
            "0",
            "61564180/158732637",
            "22789713/633445777",
            "545815736/2771057229",
            "-180193667/1043307555",
        ],
        &[
            "39632708/573591083",
            "0",
            "0",
            "-433636366/683701615",
            "-421739975/2616292301",
            "100302831/723423059",
            "790204164/839813087",
            "800635310/3783071287",
        ],
        &[
            "246121993/1340847787",
            "0",
            "0",
            "-37695042795/15268766246",
            "-309121744/1061227803",
            "-12992083/490766935",
            "6005943493/2108947869",
            "393006217/1396673457",
            "123872331/1001029789",
        ],
        &[
            "-1028468189/846180014",
            "0",
            "0",
            "8478235783/508512852",
            "1311729495/1432422823",
            "-10304129995/1701304382",
            "-48777925059/3047939560",
            "15336726248/1032824649",
            "-45442868181/3398467696",
            "3065993473/597172653",
        ],
        &[
            "185892177/718116043",
            "0",
            "0",
            "-3185094517/667107341",
            "-477755414/1098053517",
            "-703635378/230739211",
            "5731566787/1027545527",
            "5232866602/850066563",
            "-4093664535/808688257",
            "3962137247/1805957418",
            "65686358/487910083",
        ],
        &[
            "403863854/491063109",
            "0",
            "0",
            "-5068492393/434740067",
            "-411421997/543043805",
            "652783627/914296604",
            "11173962825/925320556",
            "-13158990841/6184727034",
            "3936647629/1978049680",
            "-160528059/685178525",
            "248638103/1413531060",
            "0",
        ],
        &[
            "14005451/335480064",
            "0",
            "0",
            "0",
            "0",
            "-59238493/1068277825",
            "181606767/758867731",
            "561292985/797845732",
            "-1041891430/1371343529",
            "760417239/1151165299",
            "118820643/751138087",
            "-528747749/2220607170",
            "1/4",
        ],
    ])?;
    let mut b = a[a.len() - 1].clone();
    b.push(q(0, 1));
    let c = qs(&[
        "0",
        "1/18",
        "1/12",
        "1/8",
        "5/16",
        "3/8",
        "59/400",
        "93/200",
        "5490023248/9719169821",
        "13/20",
        "1201146811/1299019798",
        "1",
        "1",
        "1",
    ])?;
    let b_hat = qs(&[
        "13451932/455176623",
        "0",
        "0",
        "0",
        "0",
        "-808719846/976000145",
        "1757004468/5645159321",
        "656045339/265891186",
        "-3867574721/1518517206",
        "465885868/322736535",
        "53011238/667516719",
        "2/45",
        "0",
        "0",
    ])?;
    Tableau::new_with_tolerance(
        "dopri8",
        a,
        b,
        c,
        Some(b_hat),
        8,
        Some(7),
        q(1, 10_i64.pow(16)),
    )
}
