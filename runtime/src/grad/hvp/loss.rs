//! Losses with second derivatives, for Hessian-vector products: the value, the cotangents
//! ∂L/∂x(t_k), and the Hessian of L with respect to the output states applied to tangents.

use crate::grad::Outputs;
use crate::real::Real;

/// A loss of the output states that a Hessian-vector product can differentiate twice.
pub trait SecondOrderLoss<T: Real> {
    /// The loss of the states `outputs` (`[component][output][batch·dim]`); writes
    /// ∂L/∂x(t_k) into `cot` (zeroed, the outputs' shape).
    fn value_and_cotangents(&mut self, outputs: &Outputs<T>, cot: &mut Outputs<T>) -> f64;
    /// Writes `Σ_j ∂²L/∂x(t_k)∂x(t_j) · tangents[j]` into `out[k]` (zeroed, the outputs' shape).
    fn hessian_tangent(
        &mut self,
        outputs: &Outputs<T>,
        tangents: &Outputs<T>,
        out: &mut Outputs<T>,
    );
}

/// L = mean over the batch of ‖x(T)‖² at the last output of the last component (the
/// second-order version of [`crate::grad::losses::mean_sq_final`]).
#[derive(Clone, Copy, Debug)]
pub struct MeanSqFinal {
    /// State dimension d (the batch is the output length over d).
    pub dim: usize,
}

impl<T: Real> SecondOrderLoss<T> for MeanSqFinal {
    fn value_and_cotangents(&mut self, outputs: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
        crate::grad::losses::mean_sq_final(self.dim)(outputs, cot)
    }
    fn hessian_tangent(
        &mut self,
        outputs: &Outputs<T>,
        tangents: &Outputs<T>,
        out: &mut Outputs<T>,
    ) {
        let (Some(last), Some(tan), Some(o)) = (
            outputs.last().and_then(|c| c.last()),
            tangents.last().and_then(|c| c.last()),
            out.last_mut().and_then(|c| c.last_mut()),
        ) else {
            return;
        };
        let batch = (last.len() / self.dim.max(1)).max(1) as f64;
        for (o, &v) in o.iter_mut().zip(tan) {
            *o = T::of(2.0 / batch) * v;
        }
    }
}

/// L = Σ_k Σ ‖x(t_k) − y_k‖² / (K·B): the squared error against targets `y` shaped like the
/// outputs, averaged over the K output times (all components) and the B samples.
#[derive(Clone, Debug)]
pub struct MeanSquaredError<T> {
    /// The targets, the outputs' shape.
    pub targets: Outputs<T>,
    /// State dimension d.
    pub dim: usize,
}

impl<T: Real> MeanSquaredError<T> {
    fn scale(&self) -> f64 {
        let k: usize = self.targets.iter().map(|c| c.len()).sum();
        let n = self
            .targets
            .first()
            .map_or(0, |c| c.state_len() / self.dim.max(1));
        1.0 / (k.max(1) * n.max(1)) as f64
    }
}

impl<T: Real> SecondOrderLoss<T> for MeanSquaredError<T> {
    fn value_and_cotangents(&mut self, outputs: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
        let w = self.scale();
        let mut value = 0.0;
        for ((o, c), y) in outputs
            .iter()
            .flatten()
            .zip(cot.iter_mut().flatten())
            .zip(self.targets.iter().flatten())
        {
            for ((&x, g), &y) in o.iter().zip(c.iter_mut()).zip(y) {
                let r = x - y;
                value += r.f64() * r.f64();
                *g = T::of(2.0 * w) * r;
            }
        }
        value * w
    }
    fn hessian_tangent(
        &mut self,
        _outputs: &Outputs<T>,
        tangents: &Outputs<T>,
        out: &mut Outputs<T>,
    ) {
        let w = T::of(2.0 * self.scale());
        for (t, o) in tangents.iter().flatten().zip(out.iter_mut().flatten()) {
            for (o, &v) in o.iter_mut().zip(t) {
                *o = w * v;
            }
        }
    }
}

/// L = Σ_k ⟨c_k, x(t_k)⟩ for fixed cotangents `c` shaped like the outputs (zero Hessian in
/// the outputs: all curvature comes from the solve).
#[derive(Clone, Debug)]
pub struct Linear<T> {
    /// The weights c_k, the outputs' shape.
    pub c: Outputs<T>,
}

impl<T: Real> SecondOrderLoss<T> for Linear<T> {
    fn value_and_cotangents(&mut self, outputs: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
        crate::grad::losses::linear(self.c.clone())(outputs, cot)
    }
    fn hessian_tangent(&mut self, _: &Outputs<T>, _: &Outputs<T>, _: &mut Outputs<T>) {}
}
