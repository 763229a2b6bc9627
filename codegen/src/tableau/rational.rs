//! Exact rationals: construction, parsing and correctly rounded conversion to `f64`.

use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{One, Signed, Zero};

use super::TableauError;

/// The exact coefficient type of every tableau.
pub type Q = num_rational::BigRational;

/// Largest decimal exponent accepted by [`parse_q`] (`1e400`, beyond the range of `f64`);
/// larger ones are rejected instead of building enormous integers.
const MAX_DECIMAL_EXPONENT: u64 = 400;

/// Longest coefficient text accepted by [`parse_q`], in characters: three times the longest
/// exact coefficient of the built-in tableaux (tsit5's derived rationals have up to 1334
/// characters; published decimals have about 40 digits), and small enough that validating a
/// tableau stays fast. Longer text is rejected with a clear error
/// instead of taking time quadratic in its length.
pub const MAX_COEFFICIENT_CHARS: usize = 4096;

/// `text` for a message: whole when short, otherwise its start and its length; control
/// characters escaped.
pub(crate) fn shown(text: &str) -> String {
    const SHOW: usize = 40;
    let n = text.chars().count();
    let esc = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    if n <= SHOW {
        esc(text)
    } else {
        let head: String = text.chars().take(SHOW).collect();
        format!("{}… ({n} characters)", esc(&head))
    }
}

/// Shorthand for the rational `num/den`, reduced to lowest terms.
///
/// This is a constant-like helper for literal coefficients written in code.
///
/// # Panics
/// Panics if `den == 0`; passing a non-zero denominator is the caller's duty. Use
/// [`parse_q`] for untrusted input.
pub fn q(num: i64, den: i64) -> Q {
    Q::new(BigInt::from(num), BigInt::from(den))
}

/// Parses an exact rational.
///
/// Accepted forms (surrounding whitespace ignored; the sign may be `+`, `-` or the Unicode
/// minus `−`):
/// - integers: `3`, `-12`;
/// - fractions of integers: `-56/15`, `−56/15` (the denominator takes no sign);
/// - decimals, read exactly: `0.25`, `.5`, `-1.`, `2.5e-3`, `1E4`.
///
/// # Errors
/// [`TableauError::Parse`] naming the text and the reason (empty, bad digit, zero
/// denominator, exponent too large).
pub fn parse_q(s: &str) -> Result<Q, TableauError> {
    let err = |reason: &str| TableauError::Parse {
        text: shown(s),
        reason: reason.to_string(),
    };
    if s.chars().count() > MAX_COEFFICIENT_CHARS {
        return Err(err(&format!(
            "longer than {MAX_COEFFICIENT_CHARS} characters (write a fraction n/d, or round the \
             decimal)"
        )));
    }
    let t = s.trim();
    if t.is_empty() {
        return Err(err("empty text"));
    }
    let (negative, body) = if let Some(r) = t.strip_prefix('-') {
        (true, r)
    } else if let Some(r) = t.strip_prefix('\u{2212}') {
        (true, r)
    } else if let Some(r) = t.strip_prefix('+') {
        (false, r)
    } else {
        (false, t)
    };
    let value = if let Some((num, den)) = body.split_once('/') {
        let n =
            parse_digits(num.trim()).ok_or_else(|| err("numerator is not an unsigned integer"))?;
        let d = parse_digits(den.trim())
            .ok_or_else(|| err("denominator is not an unsigned integer"))?;
        if d.is_zero() {
            return Err(err("zero denominator"));
        }
        Q::new(n, d)
    } else {
        parse_decimal(body).map_err(|r| err(&r))?
    };
    Ok(if negative { -value } else { value })
}

/// Unsigned decimal digits (at least one) to an integer.
fn parse_digits(s: &str) -> Option<BigInt> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    BigInt::parse_bytes(s.as_bytes(), 10)
}

/// `123`, `1.25`, `.5`, `2.`, with an optional exponent `e±k`.
fn parse_decimal(s: &str) -> Result<Q, String> {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err("no digits".to_string());
    }
    let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(int_part) || !all_digits(frac_part) {
        return Err("expected an integer, a fraction n/d or a decimal number".to_string());
    }
    let digits = format!("{int_part}{frac_part}");
    let mut num = BigInt::parse_bytes(digits.as_bytes(), 10)
        .ok_or_else(|| "expected an integer, a fraction n/d or a decimal number".to_string())?;
    let mut exp10: i64 = -(frac_part.len() as i64);
    if let Some(e) = exponent {
        let (eneg, edigits) = if let Some(r) = e.strip_prefix('-') {
            (true, r)
        } else if let Some(r) = e.strip_prefix('+') {
            (false, r)
        } else {
            (false, e)
        };
        if edigits.is_empty() || !all_digits(edigits) {
            return Err("exponent is not an integer".to_string());
        }
        let k: u64 = edigits
            .parse()
            .ok()
            .filter(|k| *k <= MAX_DECIMAL_EXPONENT)
            .ok_or_else(|| format!("exponent larger than {MAX_DECIMAL_EXPONENT} in magnitude"))?;
        exp10 += if eneg { -(k as i64) } else { k as i64 };
    }
    if exp10.unsigned_abs() > MAX_DECIMAL_EXPONENT + MAX_COEFFICIENT_CHARS as u64 {
        return Err("too many digits".to_string());
    }
    let mut den = BigInt::one();
    let pow = num_traits::pow(BigInt::from(10u32), exp10.unsigned_abs() as usize);
    if exp10 >= 0 {
        num *= pow;
    } else {
        den = pow;
    }
    Ok(Q::new(num, den))
}

/// Converts to the nearest `f64` (round to nearest, ties to even), including subnormals;
/// values beyond the `f64` range give `±∞`.
///
/// Works for any size of numerator and denominator (dopri8's coefficients, or the deep
/// products of the order conditions).
pub fn q_to_f64(x: &Q) -> f64 {
    let n = x.numer();
    let d = x.denom();
    if n.is_zero() {
        return 0.0;
    }
    let negative = (n.sign() == Sign::Minus) != (d.sign() == Sign::Minus);
    let n = n.abs();
    let d = d.abs();
    // E = floor(log2(n/d)).
    let k = n.bits() as i64 - d.bits() as i64;
    let ge = if k >= 0 {
        n >= (&d << (k as u64))
    } else {
        (&n << ((-k) as u64)) >= d
    };
    let e = if ge { k } else { k - 1 };
    let sign_bit = if negative { 1u64 << 63 } else { 0 };
    if e > 1023 {
        return f64::from_bits(sign_bit | 0x7ff0_0000_0000_0000);
    }
    // Scale so that the integer quotient holds the 53 significant bits (52 + hidden) of a
    // normal number, or the raw mantissa of a subnormal one.
    let s = if e < -1022 { 1074 } else { 52 - e };
    let (num, den) = if s >= 0 {
        (&n << (s as u64), d)
    } else {
        (n, &d << ((-s) as u64))
    };
    let (mut qt, r) = num.div_rem(&den);
    let twice_r: BigInt = r << 1u32;
    if twice_r > den || (twice_r == den && qt.is_odd()) {
        qt += 1;
    }
    let m = u64::try_from(&qt).unwrap_or(u64::MAX);
    let bits = if e < -1022 {
        // Subnormal: the mantissa field is m; m == 2^52 after rounding is exactly the
        // smallest normal number's bit pattern.
        m
    } else {
        let (m, e) = if m == 1u64 << 53 {
            (1u64 << 52, e + 1)
        } else {
            (m, e)
        };
        if e > 1023 {
            return f64::from_bits(sign_bit | 0x7ff0_0000_0000_0000);
        }
        (((e + 1023) as u64) << 52) | (m - (1u64 << 52))
    };
    f64::from_bits(sign_bit | bits)
}

/// `true` if `|x| <= tol`.
pub(crate) fn within(x: &Q, tol: &Q) -> bool {
    x.abs() <= *tol
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        assert_eq!(parse_q("−56/15").unwrap(), q(-56, 15));
        assert_eq!(parse_q(" -56/15 ").unwrap(), q(-56, 15));
        assert_eq!(parse_q("3").unwrap(), q(3, 1));
        assert_eq!(parse_q("+3").unwrap(), q(3, 1));
        assert_eq!(parse_q("0.25").unwrap(), q(1, 4));
        assert_eq!(parse_q(".5").unwrap(), q(1, 2));
        assert_eq!(parse_q("-2.").unwrap(), q(-2, 1));
        assert_eq!(parse_q("2.5e-3").unwrap(), q(1, 400));
        assert_eq!(parse_q("1E2").unwrap(), q(100, 1));
        assert_eq!(parse_q("6/4").unwrap(), q(3, 2));
    }

    #[test]
    fn parse_errors_name_the_text() {
        for bad in [
            "", "  ", "1/0", "abc", "1/-2", "1.2.3", "1e", "1e99999", "--1", "/3", ".",
        ] {
            match parse_q(bad) {
                Err(TableauError::Parse { text, reason }) => {
                    assert_eq!(text, bad);
                    assert!(!reason.is_empty());
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let msg = parse_q("1/0").unwrap_err().to_string();
        assert!(
            msg.contains("`1/0`") && msg.contains("zero denominator"),
            "{msg}"
        );
    }

    #[test]
    fn f64_conversion_is_correctly_rounded() {
        let cases: &[(i64, i64)] = &[
            (1, 3),
            (-2, 3),
            (1, 10),
            (35, 384),
            (-2187, 6784),
            (5490023248, 9719169821),
            (9_007_199_254_740_993, 1),
            (1, 9_007_199_254_740_993),
            (i64::MAX, 7),
        ];
        for &(n, d) in cases {
            let want = n as f64 / d as f64;
            // Only compare where both parts are exact in f64.
            if n.unsigned_abs() < (1 << 53) && d.unsigned_abs() < (1 << 53) {
                assert_eq!(q_to_f64(&q(n, d)), want, "{n}/{d}");
            }
        }
        assert_eq!(
            q_to_f64(&q(9_007_199_254_740_993, 1)),
            9_007_199_254_740_992.0
        );
        assert_eq!(
            q_to_f64(&q(9_007_199_254_740_995, 1)),
            9_007_199_254_740_996.0
        );
        assert_eq!(q_to_f64(&q(0, 5)), 0.0);
        // Subnormals, the smallest normal, and overflow.
        let tiny = Q::new(BigInt::one(), BigInt::one() << 1074u32);
        assert_eq!(q_to_f64(&tiny), f64::from_bits(1));
        let half_tiny = Q::new(BigInt::one(), BigInt::one() << 1075u32);
        assert_eq!(q_to_f64(&half_tiny), 0.0);
        let min_normal = Q::new(BigInt::one(), BigInt::one() << 1022u32);
        assert_eq!(q_to_f64(&min_normal), f64::MIN_POSITIVE);
        let huge = Q::from_integer(BigInt::one() << 1024u32);
        assert_eq!(q_to_f64(&huge), f64::INFINITY);
        assert_eq!(q_to_f64(&-huge), f64::NEG_INFINITY);
        let max =
            Q::from_integer(<BigInt as num_traits::FromPrimitive>::from_f64(f64::MAX).unwrap());
        assert_eq!(q_to_f64(&max), f64::MAX);
    }
}
