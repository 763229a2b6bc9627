//! Algebraically reversible Runge–Kutta (McCallum & Foster, "Efficient, accurate and stable
//! gradients for neural ODEs", arXiv 2410.11648): any explicit tableau turned into a scheme
//! whose steps can be undone exactly in exact arithmetic, so the backward sweep reconstructs
//! the states instead of storing them and backpropagates through each step.
//!
//! With Ψ_h(t, x) = h Σᵢ bᵢ kᵢ the increment of one step of the tableau, the scheme carries a
//! pair (yₙ, zₙ), z₀ = y₀, and the coupling λ ∈ (0, 1]:
//!
//! ```text
//! y_{n+1} = λ yₙ + (1 − λ) zₙ + Ψ_h(tₙ, zₙ)
//! z_{n+1} = zₙ − Ψ_{−h}(t_{n+1}, y_{n+1})
//! ```
//!
//! and backwards `zₙ = z_{n+1} + Ψ_{−h}(t_{n+1}, y_{n+1})`,
//! `yₙ = (y_{n+1} − (1 − λ) zₙ − Ψ_h(tₙ, zₙ)) / λ`. The solution is y (the outputs are y at
//! the output times); it has the order of the tableau.
//!
//! **Stability and what λ trades** (our derivation on the test equation x' = μx, w = hμ,
//! R the stability function of the tableau, so Ψ_h(x) = (R(w) − 1)x and
//! Ψ_{−h}(x) = (R(−w) − 1)x). One step maps (y, z) by a 2×2 matrix of determinant exactly λ;
//! for small h its eigenvalues are ≈ R(w) (the solution) and ≈ λ / R(w) (a parasitic y − z
//! mode, excited by the local errors). So the forward scheme is stable when |R(w)| ≤ 1 (the
//! tableau's own condition) **and** λ ≤ |R(w)| for every decaying mode: λ = 1 is unstable on
//! any dissipative problem, and λ must be small enough to damp the fastest decaying mode
//! (e.g. rk4, h = 0.01, μ = −10: R ≈ 0.905, λ = 0.999 blows up, λ = 0.5 is accurate). The
//! backward reconstruction applies the inverse map, determinant 1/λ: rounding errors are
//! amplified by up to ≈ max(1/|R(w)|, |R(w)|/λ) per step, i.e. about λ⁻ᴺ on non-dissipative
//! problems. λ close to 1 keeps the reconstruction (and so the gradient) accurate over long
//! solves; smaller λ buys stability on stiffer dynamics at the price of λ⁻ᴺ error growth.
//! [`Stats::x0_reconstruction_error`](super::Stats) reports how far the reconstructed start
//! is from the true one, so the trade is visible on every gradient.
//!
//! Memory: the final pair per component (2 states), whatever N; adaptive stepping keeps only
//! the accepted grid. Cost: 2S evaluations per step forward (s for the first increment with
//! an error estimate), 2S evaluations and 2S VJPs per step backward.

mod increment;
mod sweeps;

use super::GradResult;
use super::forward::Run;
use super::memory::{MemoryPrediction, ProblemSizes};
use super::method::{ForwardPass, GradientMethod, backward_shell};
use super::problem::{Outputs, Problem};
use crate::error::SolveError;
use crate::real::Real;
use sweeps::{Backward, Keep, RevWork, backward, forward};

/// The reversible method: the gradient of the reversible scheme (see the module docs) at
/// memory independent of N; the backward sweep reconstructs the states.
///
/// ```
/// use symplode_runtime::grad::{GradientMethod, Reversible};
/// let m = Reversible { lambda: 0.999 };
/// assert_eq!(GradientMethod::<f64>::name(&m), "reversible");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Reversible {
    /// The coupling λ ∈ (0, 1].
    pub lambda: f64,
}

/// Backpropagation through the same reversible scheme: every pair (yₙ, zₙ) kept (2(N + 1)
/// states), the same backward recursion without reconstruction. The reference the
/// reconstructing [`Reversible`] is measured against.
#[derive(Clone, Copy, Debug)]
pub struct ReversibleBackprop {
    /// The coupling λ ∈ (0, 1].
    pub lambda: f64,
}

fn check_lambda(lambda: f64) -> Result<(), SolveError> {
    if lambda > 0.0 && lambda <= 1.0 {
        Ok(())
    } else {
        Err(SolveError::BadOption {
            name: "lambda",
            value: lambda.to_string(),
            reason: "the reversible coupling must be in (0, 1]",
        })
    }
}

fn run_forward<'p, 'a, T: Real>(
    name: &'static str,
    problem: &'p Problem<'a, T>,
    lambda: f64,
    keep: Keep,
) -> Result<ForwardPass<'p, 'a, T>, SolveError> {
    problem.validate()?;
    check_lambda(lambda)?;
    if problem.stepping.is_per_sample() {
        return Err(SolveError::BadOption {
            name: "stepping",
            value: "per-sample".into(),
            reason: "the reversible methods step the whole batch together; use per-batch steps or another exact method",
        });
    }
    let mut run = Run::new(problem);
    let (outputs, grids, records) = forward(problem, &mut run, lambda, keep)?;
    Ok(ForwardPass {
        method: name,
        problem,
        run,
        outputs,
        grids,
        records,
        sample_grids: Vec::new(),
        sample_states: Vec::new(),
    })
}

fn run_backward<T: Real>(
    name: &'static str,
    pass: ForwardPass<'_, '_, T>,
    cotangents: &Outputs<T>,
    loss: f64,
    lambda: f64,
) -> Result<GradResult<T>, SolveError> {
    backward_shell(name, pass, cotangents, loss, |cx, records| {
        let b = Backward {
            problem: cx.problem,
            outputs: cx.outputs,
            grids: cx.grids,
            cot: cx.cot,
            lambda,
        };
        backward(b, cx.run, records, cx.lam, cx.dtheta, cx.stats)
    })
}

fn predict(z: &ProblemSizes, keep: Keep) -> MemoryPrediction {
    let pairs: usize = match keep {
        Keep::Final => z.components.len(),
        Keep::All => z.components.iter().map(|c| c.steps + 1).sum(),
    };
    MemoryPrediction {
        checkpoint_bytes: 2 * pairs * z.state_bytes(),
        graph_bytes: z.max_scratch_bytes(),
        workspace_bytes: z.common_workspace_bytes()
            + RevWork::<f64>::len(z.stages, z.effective, z.state_len) * z.elem,
    }
}

/// The two reversible methods differ only in what the forward sweep keeps.
macro_rules! reversible_method {
    ($ty:ident, $name:literal, $keep:expr) => {
        impl<T: Real> GradientMethod<T> for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn forward<'p, 'a>(
                &self,
                problem: &'p Problem<'a, T>,
            ) -> Result<ForwardPass<'p, 'a, T>, SolveError> {
                run_forward($name, problem, self.lambda, $keep)
            }
            fn backward(
                &self,
                pass: ForwardPass<'_, '_, T>,
                cotangents: &Outputs<T>,
                loss: f64,
            ) -> Result<GradResult<T>, SolveError> {
                run_backward($name, pass, cotangents, loss, self.lambda)
            }
            fn predict(&self, sizes: &ProblemSizes) -> MemoryPrediction {
                predict(sizes, $keep)
            }
        }
    };
}

reversible_method!(Reversible, "reversible", Keep::Final);
reversible_method!(ReversibleBackprop, "reversible-backprop", Keep::All);
