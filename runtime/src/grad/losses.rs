//! Common losses, as closures for [`super::GradientMethod::gradient`].

use super::Outputs;
use crate::real::Real;

/// L = mean over the batch of ‖x(T)‖², at the last output of the last component.
pub fn mean_sq_final<T: Real>(dim: usize) -> impl FnMut(&Outputs<T>, &mut Outputs<T>) -> f64 {
    move |out: &Outputs<T>, cot: &mut Outputs<T>| {
        let (Some(last), Some(cot_last)) = (
            out.last().and_then(|c| c.last()),
            cot.last_mut().and_then(|c| c.last_mut()),
        ) else {
            return 0.0;
        };
        let batch = (last.len() / dim.max(1)).max(1) as f64;
        let mut value = 0.0;
        for (c, &x) in cot_last.iter_mut().zip(last) {
            value += x.f64() * x.f64();
            *c = T::of(2.0 / batch) * x;
        }
        value / batch
    }
}

/// L = Σ_k ⟨c_k, x(t_k)⟩ for fixed cotangents `c` shaped like the outputs.
pub fn linear<T: Real>(c: Outputs<T>) -> impl FnMut(&Outputs<T>, &mut Outputs<T>) -> f64 {
    move |out: &Outputs<T>, cot: &mut Outputs<T>| {
        let mut value = 0.0;
        for ((o, ct), cc) in out
            .iter()
            .flatten()
            .zip(cot.iter_mut().flatten())
            .zip(c.iter().flatten())
        {
            for ((&x, g), &w) in o.iter().zip(ct.iter_mut()).zip(cc) {
                value += x.f64() * w.f64();
                *g = w;
            }
        }
        value
    }
}
