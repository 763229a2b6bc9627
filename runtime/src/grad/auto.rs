//! [`Auto`]: the fastest exact gradient method whose own memory prediction fits a budget.
//!
//! The candidates are the methods that return the gradient of the discrete solution on the
//! accepted grid (all equal up to rounding): backprop, ACA, the symplectic adjoint with
//! stored stages, checkpoint per component, the symplectic adjoint, and the symplectic
//! adjoint over binomial checkpoints with the most slots C that fit. The continuous adjoint
//! (not exact) and the reversible scheme (exact, but for a different discrete solution) are
//! not candidates. Each is priced by the network passes its sweeps make (a VJP that
//! recomputes its activations counts 2, a taped evaluation or a taped backward 1) and
//! measured by its own [`GradientMethod::predict`].

use super::memory::{MemoryPrediction, ProblemSizes};
use super::method::{ForwardPass, GradientMethod};
use super::problem::{Outputs, Problem};
use super::revolve::Schedule;
use super::{
    Backprop, CheckpointComponent, CheckpointStep, GradResult, SymplecticAdjoint,
    SymplecticAdjointStored, SymplecticBinomial,
};
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::{Grid, Stepping, solve};

/// Picks, for each problem, the fastest exact method whose predicted peak
/// ([`MemoryPrediction::total`]) is at most `budget` bytes. With adaptive stepping the step
/// counts are measured by one plain forward solve first (counted in no method's stats).
///
/// ```
/// use symplode_runtime::grad::{Auto, GradientMethod, Problem, ProblemSizes};
/// use symplode_runtime::SymplecticAdjoint;
/// use symplode_runtime::models::{Activation, Mlp, MlpConfig};
/// use symplode_runtime::{Scheme, Stepping};
/// let cfg = MlpConfig { dim: 2, hidden: vec![8], activation: Activation::Tanh, time_input: true };
/// let net = Mlp::<f64>::new(cfg, 0).unwrap();
/// let scheme = Scheme::<f64>::builtin("rk4").unwrap();
/// let x0 = [0.5, -0.25];
/// let problem = Problem::single(&net, &[0.0, 1.0], &scheme, Stepping::fixed(1000), &x0);
/// let choice = Auto { budget: 1 << 30 }.choose(&problem).unwrap();
/// assert_eq!(choice.name, "backprop"); // plenty of memory: the fastest
/// // Less than the symplectic adjoint needs: binomial checkpoints.
/// let sizes = ProblemSizes::of(&problem, &[1000]);
/// let symplectic = GradientMethod::<f64>::predict(&SymplecticAdjoint, &sizes).total();
/// let tight = Auto { budget: symplectic - 1 }.choose(&problem).unwrap();
/// assert_eq!(tight.name, "symplectic-binomial");
/// assert!(tight.predicted.total() < symplectic);
/// println!("{}", tight.reason);
/// let e = Auto { budget: 100 }.choose(&problem).err().unwrap();
/// assert!(e.to_string().contains("smallest achievable peak"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Auto {
    /// The memory budget in bytes.
    pub budget: usize,
}

/// The method [`Auto`] picked, its prediction and why.
pub struct Choice<T: Real> {
    /// The method.
    pub method: Box<dyn GradientMethod<T>>,
    /// Its name (`symplectic-binomial` with its C in `reason`).
    pub name: &'static str,
    /// Its own prediction.
    pub predicted: MemoryPrediction,
    /// Network passes per accepted step, the price it was ranked by.
    pub passes_per_step: f64,
    /// Why it was picked, in one sentence.
    pub reason: String,
}

struct Candidate<T: Real> {
    method: Box<dyn GradientMethod<T>>,
    passes: f64,
    note: String,
}

impl Auto {
    /// The step counts per component: known for fixed stepping, else measured by a plain solve.
    fn steps<T: Real>(problem: &Problem<'_, T>) -> Result<Vec<usize>, SolveError> {
        problem.validate()?;
        match problem.stepping {
            Stepping::Fixed { steps } => Ok(problem
                .chain
                .iter()
                .map(|c| steps * c.times.len().saturating_sub(1))
                .collect()),
            Stepping::Adaptive(_) => {
                let mut x = problem.x0.to_vec();
                let mut out = Vec::with_capacity(problem.chain.len());
                for c in &problem.chain {
                    let sol = solve(c.dynamics, problem.scheme, &problem.stepping, &c.times, &x)?;
                    out.push(sol.grid.steps());
                    if let Some(last) = sol.states.last() {
                        x.copy_from_slice(last);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The candidates for these sizes, binomial with the most slots that fit.
    fn candidates<T: Real>(&self, z: &ProblemSizes) -> Vec<Candidate<T>> {
        let s = z.stages_evaluated as f64;
        let eff = z.effective as f64;
        let n: usize = z.total_steps().max(1);
        let mut out: Vec<Candidate<T>> = vec![
            Candidate {
                method: Box::new(Backprop),
                passes: s + eff,
                note: "tapes every stage, one backward pass each".into(),
            },
            Candidate {
                method: Box::new(CheckpointStep),
                passes: s + 2.0 * eff,
                note: "re-tapes each step from its state".into(),
            },
            Candidate {
                method: Box::new(SymplecticAdjointStored),
                passes: s + 2.0 * eff,
                note: "stage states kept, one VJP per stage".into(),
            },
            Candidate {
                method: Box::new(CheckpointComponent),
                passes: 2.0 * s + eff,
                note: "replays each component with tapes".into(),
            },
            Candidate {
                method: Box::new(SymplecticAdjoint),
                passes: s + 3.0 * eff - 1.0,
                note: "one state per step, stages recomputed".into(),
            },
        ];
        // Binomial: the largest C (the start's included, ≥ 1) whose prediction fits
        // (prediction grows with C).
        let fits = |c: usize| {
            GradientMethod::<T>::predict(&SymplecticBinomial { checkpoints: c }, z).total()
                <= self.budget
        };
        let (mut lo, mut hi) = (1usize, n + 1);
        let c = if fits(hi) {
            hi
        } else {
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if fits(mid) { lo = mid } else { hi = mid }
            }
            lo
        };
        let replays: usize = z
            .components
            .iter()
            .enumerate()
            .map(|(m, comp)| {
                Schedule::after_forward(comp.steps, c - 1, z.known_steps(m).is_some())
                    .run(comp.steps)
                    .advances
            })
            .sum();
        out.push(Candidate {
            method: Box::new(SymplecticBinomial { checkpoints: c }),
            passes: s + 3.0 * eff - 1.0 + replays as f64 * s / n as f64,
            note: format!("C = {c} checkpoints, {replays} steps replayed"),
        });
        out
    }

    /// The fastest candidate whose predicted peak fits, or an error naming the smallest
    /// achievable peak.
    pub fn choose<T: Real>(&self, problem: &Problem<'_, T>) -> Result<Choice<T>, SolveError> {
        let steps = Self::steps(problem)?;
        self.choose_for(&ProblemSizes::of(problem, &steps))
    }

    fn choose_for<T: Real>(&self, z: &ProblemSizes) -> Result<Choice<T>, SolveError> {
        let mut smallest: Option<(usize, &'static str)> = None;
        let mut best: Option<(Candidate<T>, MemoryPrediction)> = None;
        for cand in self.candidates::<T>(z) {
            let p = cand.method.predict(z);
            if smallest.is_none_or(|(b, _)| p.total() < b) {
                smallest = Some((p.total(), cand.method.name()));
            }
            if p.total() <= self.budget
                && best
                    .as_ref()
                    .is_none_or(|(b, bp)| (cand.passes, p.total()) < (b.passes, bp.total()))
            {
                best = Some((cand, p));
            }
        }
        match best {
            Some((c, p)) => Ok(Choice {
                name: c.method.name(),
                reason: format!(
                    "{}: the fastest exact method whose predicted peak {} B fits the budget of {} B ({:.1} network passes per step; {})",
                    c.method.name(),
                    p.total(),
                    self.budget,
                    c.passes,
                    c.note
                ),
                method: c.method,
                predicted: p,
                passes_per_step: c.passes,
            }),
            None => {
                let (peak, name) = smallest.unwrap_or((0, "none"));
                Err(SolveError::BadOption {
                    name: "memory budget",
                    value: format!(
                        "{} B; the smallest achievable peak is {peak} B ({name})",
                        self.budget
                    ),
                    reason: "no exact gradient method's predicted peak fits the budget",
                })
            }
        }
    }
}

impl<T: Real> GradientMethod<T> for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }
    /// Chooses (see [`Auto::choose`]) and runs the chosen method's forward sweep; the pass
    /// carries the chosen method's name.
    fn forward<'p, 'a>(
        &self,
        problem: &'p Problem<'a, T>,
    ) -> Result<ForwardPass<'p, 'a, T>, SolveError> {
        self.choose(problem)?.method.forward(problem)
    }
    /// Runs the backward sweep of the method that made the pass (chosen again from the pass's
    /// grids: the same sizes give the same choice).
    fn backward(
        &self,
        pass: ForwardPass<'_, '_, T>,
        cotangents: &Outputs<T>,
        loss: f64,
    ) -> Result<GradResult<T>, SolveError> {
        let choice = if pass.sample_grids().is_empty() {
            let steps: Vec<usize> = pass.grids().iter().map(Grid::steps).collect();
            self.choose_for::<T>(&ProblemSizes::of(pass.problem, &steps))?
        } else {
            // Per-sample steps: the forward pass chose from the problem alone.
            self.choose(pass.problem)?
        };
        choice.method.backward(pass, cotangents, loss)
    }
    /// The prediction of the method that would be chosen for these sizes (all zero when none
    /// fits: [`Auto::choose`] then fails with the smallest achievable peak).
    fn predict(&self, sizes: &ProblemSizes) -> MemoryPrediction {
        self.choose_for::<T>(sizes)
            .map(|c| c.predicted)
            .unwrap_or_default()
    }
}

/// Parses a byte count: a number with an optional unit B, KB, MB, GB (powers of 1000) or
/// KiB, MiB, GiB (powers of 1024), e.g. `256MiB`, `1.5 GB`, `4096`.
///
/// ```
/// use symplode_runtime::grad::parse_bytes;
/// assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
/// assert_eq!(parse_bytes("2 kb"), Ok(2000));
/// assert!(parse_bytes("lots").is_err());
/// ```
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count (e.g. 256MiB, 1.5GB, 4096)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > usize::MAX as f64 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(bytes as usize)
}
