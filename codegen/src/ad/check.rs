//! Finite-difference checks of derivative graphs, on the reference evaluator: for tests and
//! for user-facing gradient checks.

use thiserror::Error;

use super::transform::{Wrt, jvp, vjp};
use crate::ir::eval::evaluate_f64_times;
use crate::ir::{EvalError, Graph, IrError};

/// A check could not run: the graph could not be differentiated or evaluated.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum CheckError {
    /// Building the derivative graph failed.
    #[error(transparent)]
    Ir(#[from] IrError),
    /// Evaluating failed (arguments of the wrong size).
    #[error(transparent)]
    Eval(#[from] EvalError),
}

/// Where to evaluate a graph: every input (row-major `[batch, width]`), one time per
/// sample, the flat parameters. Flattened in that order ([`Point::flat`]) it is the vector
/// of variables that finite differences perturb, and the order of the gradients of
/// [`vjp`] with [`Wrt::all`].
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Batch size.
    pub batch: usize,
    /// Input values, one vector per input.
    pub inputs: Vec<Vec<f64>>,
    /// One time per sample.
    pub times: Vec<f64>,
    /// The flat parameter vector.
    pub params: Vec<f64>,
}

impl Point {
    /// Inputs, times and parameters, concatenated.
    pub fn flat(&self) -> Vec<f64> {
        let mut z: Vec<f64> = self.inputs.concat();
        z.extend(&self.times);
        z.extend(&self.params);
        z
    }

    /// A point of the same sizes with the values of `z` (laid out as [`Point::flat`];
    /// missing values are zeros).
    pub fn with_flat(&self, z: &[f64]) -> Point {
        let mut it = z.iter().copied().chain(std::iter::repeat(0.0));
        let mut take = |n: usize| -> Vec<f64> { it.by_ref().take(n).collect() };
        Point {
            batch: self.batch,
            inputs: self.inputs.iter().map(|x| take(x.len())).collect(),
            times: take(self.times.len()),
            params: take(self.params.len()),
        }
    }

    /// Evaluates `g` here.
    pub fn eval(&self, g: &Graph) -> Result<Vec<Vec<f64>>, EvalError> {
        let inputs: Vec<&[f64]> = self.inputs.iter().map(Vec::as_slice).collect();
        evaluate_f64_times(g, self.batch, &inputs, &self.times, &self.params)
    }
}

/// A derivative from a derivative graph next to its finite-difference reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// From the derivative graph.
    pub derived: Vec<f64>,
    /// From central differences.
    pub reference: Vec<f64>,
}

impl Comparison {
    /// [`max_rel_error`] of the two.
    pub fn error(&self) -> f64 {
        max_rel_error(&self.derived, &self.reference)
    }
}

/// The gradient of `⟨ū, g⟩` with respect to every input, the per-sample times and every
/// parameter: from `vjp(g, Wrt::all(g))` and from central differences with step `h`.
/// `cotangents[k]` is `ū` for output `k` (batched or global).
pub fn check_vjp(
    g: &Graph,
    at: &Point,
    cotangents: &[Vec<f64>],
    h: f64,
) -> Result<Comparison, CheckError> {
    let v = vjp(g, &Wrt::all(g))?;
    let mut q = at.clone();
    for (ty, c) in g.output_types().iter().zip(cotangents) {
        if ty.is_batched() {
            q.inputs.push(c.clone());
        } else {
            q.params.extend(c);
        }
    }
    let out = q.eval(&v)?;
    let derived = out.get(g.outputs().len()..).unwrap_or_default().concat();
    at.eval(g)?;
    let reference = gradient(
        |z| match at.with_flat(z).eval(g) {
            Ok(o) => o
                .iter()
                .zip(cotangents)
                .map(|(a, c)| a.iter().zip(c).map(|(x, y)| x * y).sum::<f64>())
                .sum(),
            Err(_) => f64::NAN,
        },
        &at.flat(),
        h,
    );
    Ok(Comparison { derived, reference })
}

/// The derivative of every output along `direction` (inputs, times and parameters, the
/// layout of `at`): from `jvp(g, Wrt::all(g))` and from central differences with step `h`.
pub fn check_jvp(
    g: &Graph,
    at: &Point,
    direction: &Point,
    h: f64,
) -> Result<Comparison, CheckError> {
    let j = jvp(g, &Wrt::all(g))?;
    let mut q = at.clone();
    q.inputs.extend(direction.inputs.iter().cloned());
    q.inputs.push(direction.times.clone());
    q.params.extend(&direction.params);
    let out = q.eval(&j)?;
    let derived = out.get(g.outputs().len()..).unwrap_or_default().concat();
    at.eval(g)?;
    let reference = directional_derivative(
        |z| {
            at.with_flat(z)
                .eval(g)
                .map(|o| o.concat())
                .unwrap_or_default()
        },
        &at.flat(),
        &direction.flat(),
        h,
    );
    Ok(Comparison { derived, reference })
}

/// The central difference `(f(x + h v) − f(x − h v)) / 2h` of a vector function along `v`
/// (`x` and `v` of equal length).
pub fn directional_derivative(
    mut f: impl FnMut(&[f64]) -> Vec<f64>,
    x: &[f64],
    v: &[f64],
    h: f64,
) -> Vec<f64> {
    let shifted = |s: f64| -> Vec<f64> { x.iter().zip(v).map(|(a, b)| a + s * b).collect() };
    let plus = f(&shifted(h));
    let minus = f(&shifted(-h));
    plus.iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * h))
        .collect()
}

/// The gradient of a scalar function by central differences, one coordinate at a time.
pub fn gradient(mut f: impl FnMut(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    let mut xs = x.to_vec();
    (0..x.len())
        .map(|i| {
            xs[i] = x[i] + h;
            let p = f(&xs);
            xs[i] = x[i] - h;
            let m = f(&xs);
            xs[i] = x[i];
            (p - m) / (2.0 * h)
        })
        .collect()
}

/// The largest `|a − b| / max(1, |b|)` over two equal-length slices: a mixed
/// absolute/relative error; `∞` if the lengths differ, NaN if any value is NaN.
pub fn max_rel_error(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, |m: f64, e| if e.is_nan() { e } else { m.max(e) })
}
