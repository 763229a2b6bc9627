//! The memory budget of a run: every gradient computation and solve is checked against it
//! *before* it starts, from the methods' own memory prediction
//! ([`GradientMethod::predict`] with [`ProblemSizes::of`]), and refused with the prediction in
//! the message, so a run cannot grow until the allocator aborts.
//!
//! Fixed steps are checked with their exact step count. Adaptive steps are checked with the
//! step budget `max_steps` (every accepted step is within it); when that does not fit, the
//! step budget is **capped** to the largest count that fits ([`Fit::capped_from`]) and a run
//! that needs more steps fails with a message saying that the memory budget set the cap.
//!
//! The default budget is three quarters of the machine's physical memory (`/proc/meminfo`
//! `MemTotal`; 8 GiB when that cannot be read).
//!
//! ```
//! use symplode::io::budget::MemoryBudget;
//!
//! let b = MemoryBudget::parse("512M", "--memory-budget")?;
//! assert_eq!(b.bytes, 512 << 20);
//! assert_eq!(MemoryBudget::parse("2.5GiB", "x")?.bytes, 5 << 29);
//! assert!(MemoryBudget::parse("-1", "x").is_err());
//! # Ok::<(), symplode::io::IoError>(())
//! ```

use symplode_runtime::grad::{GradientMethod, Problem, ProblemSizes};
use symplode_runtime::{Real, Stepping};
use thiserror::Error;

use super::IoError;

/// Largest step count any prediction is made for (2^40): more is refused outright.
pub const MAX_STEPS: usize = 1 << 40;

/// A limit on the bytes a run may hold, with where it came from (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The limit in bytes.
    pub bytes: u64,
    /// Where it came from, e.g. `"--memory-budget 2G"` or `"default: 3/4 of 23.4 GiB"`.
    pub origin: String,
}

/// Why a run was refused before it started.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BudgetError {
    /// The predicted peak exceeds the budget.
    #[error(
        "{what}: predicted peak memory {} exceeds the memory budget of {} ({origin}); {hint}",
        bytes_text(*predicted),
        bytes_text(*budget)
    )]
    Exceeded {
        /// The run, e.g. `"symplectic gradient with 1000000000 steps"`.
        what: String,
        /// Predicted peak bytes.
        predicted: u64,
        /// The budget in bytes.
        budget: u64,
        /// Where the budget came from.
        origin: String,
        /// What to change.
        hint: String,
    },
    /// More steps than any prediction covers.
    #[error("{what}: {steps} steps are more than the {max} supported")]
    TooManySteps {
        /// The run.
        what: String,
        /// The steps asked for.
        steps: String,
        /// [`MAX_STEPS`].
        max: usize,
    },
}

/// `123 B`, `12.1 KiB`, `3.0 GiB`.
pub fn bytes_text(b: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b as f64;
    let mut unit = "B";
    for u in units {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{b} B")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// The machine's physical memory in bytes (`MemTotal` of `/proc/meminfo`), if known.
pub fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

impl MemoryBudget {
    /// Three quarters of the machine's memory (8 GiB when unknown).
    pub fn machine_default() -> Self {
        match machine_memory() {
            Some(total) => MemoryBudget {
                bytes: total / 4 * 3,
                origin: format!(
                    "the default, 3/4 of the machine's {}; change it with --memory-budget",
                    bytes_text(total)
                ),
            },
            None => MemoryBudget {
                bytes: 8 << 30,
                origin: "the default 8 GiB (the machine's memory is unknown); change it with \
                         --memory-budget"
                    .into(),
            },
        }
    }

    /// Parses a size: bytes (`1000000`, `1e9`) or a number with a unit `K`, `M`, `G`, `T`
    /// (powers of 1024; `KiB`, `MB`, … are read alike); `origin` names it in messages.
    ///
    /// # Errors
    /// [`IoError::Field`] for anything else, zero, or more than 2^64 bytes.
    pub fn parse(text: &str, origin: &str) -> Result<Self, IoError> {
        let bad = |reason: &str| IoError::Field {
            origin: origin.to_string(),
            field: "memory budget".into(),
            reason: format!("`{}` {reason}", super::printable(text)),
        };
        let t = text.trim();
        let split = t
            .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => 1024.0 * 1024.0,
            "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad("has an unknown unit (use K, M, G or T)")),
        };
        let v: f64 = num
            .trim()
            .parse()
            .map_err(|_| bad("is not a size such as 4G, 512M or 1000000"))?;
        let bytes = v * scale;
        if !(1.0..18_446_744_073_709_551_616.0).contains(&bytes) {
            return Err(bad("must be at least 1 byte and below 2^64"));
        }
        Ok(MemoryBudget {
            bytes: bytes as u64,
            origin: format!("{origin} {}", t),
        })
    }

    fn exceeded(&self, what: String, predicted: u64, hint: &str) -> BudgetError {
        BudgetError::Exceeded {
            what,
            predicted,
            budget: self.bytes,
            origin: self.origin.clone(),
            hint: hint.to_string(),
        }
    }

    /// Checks a gradient computation of `method` on `problem` against the budget, before it
    /// runs: fixed steps with their exact count, adaptive steps with their step budget, capped
    /// to what fits when it does not ([`Fit::capped_from`]).
    ///
    /// # Errors
    /// [`BudgetError::Exceeded`] with the prediction, [`BudgetError::TooManySteps`].
    pub fn fit_gradient<T: Real>(
        &self,
        method: &dyn GradientMethod<T>,
        problem: &Problem<'_, T>,
    ) -> Result<Fit, BudgetError> {
        let what = |n: String| format!("{} gradient with {n}", method.name());
        let guard = overflow_guard(problem);
        let predict = |n: usize| -> u64 {
            if guard(n) {
                return u64::MAX;
            }
            let steps = vec![n; problem.chain.len()];
            method.predict(&ProblemSizes::of(problem, &steps)).total() as u64
        };
        self.fit(problem, &what, &predict)
    }

    /// Checks a forward solve (`symplode_runtime::solver::solve`) of `problem` against the
    /// budget: the step buffers, the outputs and the accepted grid (8 bytes per step).
    ///
    /// # Errors
    /// As [`MemoryBudget::fit_gradient`].
    pub fn fit_solve<T: Real>(&self, problem: &Problem<'_, T>) -> Result<Fit, BudgetError> {
        let what = |n: String| format!("solve with {n}");
        let guard = overflow_guard(problem);
        let predict = |n: usize| -> u64 {
            if guard(n) {
                return u64::MAX;
            }
            let sizes = ProblemSizes::of(problem, &vec![n; problem.chain.len()]);
            let grid = 8 * (n as u64 + 1);
            (sizes.common_workspace_bytes() + sizes.max_scratch_bytes()) as u64 + grid
        };
        self.fit(problem, &what, &predict)
    }

    fn fit<T: Real>(
        &self,
        problem: &Problem<'_, T>,
        what: &dyn Fn(String) -> String,
        predict: &dyn Fn(usize) -> u64,
    ) -> Result<Fit, BudgetError> {
        let intervals = problem
            .chain
            .iter()
            .map(|c| c.times.len().saturating_sub(1))
            .max()
            .unwrap_or(1)
            .max(1);
        match &problem.stepping {
            Stepping::Fixed { steps } => {
                let n = steps
                    .checked_mul(intervals)
                    .filter(|&n| n <= MAX_STEPS)
                    .ok_or_else(|| BudgetError::TooManySteps {
                        what: what(format!("{steps} steps per interval")),
                        steps: format!("{steps} × {intervals} intervals"),
                        max: MAX_STEPS,
                    })?;
                let predicted = predict(n);
                if predicted > self.bytes {
                    return Err(self.exceeded(
                        what(format!("{n} fixed steps")),
                        predicted,
                        "use fewer steps, a smaller batch or a method that stores less \
                         (e.g. --method symplectic), or raise --memory-budget",
                    ));
                }
                Ok(Fit {
                    stepping: problem.stepping.clone(),
                    predicted,
                    capped_from: None,
                })
            }
            Stepping::Adaptive(a) => {
                let max = a.max_steps.min(MAX_STEPS);
                let predicted = predict(max);
                if predicted <= self.bytes && max == a.max_steps {
                    return Ok(Fit {
                        stepping: problem.stepping.clone(),
                        predicted,
                        capped_from: None,
                    });
                }
                // The largest step budget that fits (the prediction grows with the steps).
                let (mut lo, mut hi) = (0usize, max);
                if predicted <= self.bytes {
                    lo = max;
                }
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    if predict(mid) <= self.bytes {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                if lo == 0 {
                    return Err(self.exceeded(
                        what("a single adaptive step".into()),
                        predict(1),
                        "use a smaller batch or a method that stores less, or raise \
                         --memory-budget",
                    ));
                }
                let mut capped = a.clone();
                capped.max_steps = lo;
                Ok(Fit {
                    stepping: Stepping::Adaptive(capped),
                    predicted: predict(lo),
                    capped_from: Some(a.max_steps),
                })
            }
        }
    }
}

/// `guard(n)` is true when `n` steps could overflow the prediction's arithmetic (a generous
/// bound on the bytes per step times `n` beyond 2^60): such a run exceeds any budget anyway.
fn overflow_guard<T: Real>(problem: &Problem<'_, T>) -> impl Fn(usize) -> bool {
    let sizes = ProblemSizes::of(problem, &vec![1; problem.chain.len()]);
    let per_elem: u128 = sizes
        .components
        .iter()
        .map(|c| (sizes.state_len + c.tape_len + c.scratch_len + c.params) as u128)
        .sum();
    let per_step = (sizes.stages + sizes.effective + 4) as u128 * per_elem * sizes.elem as u128;
    move |n| (n as u128).saturating_mul(per_step.max(1)) > 1u128 << 60
}

/// What a run may use: its stepping (with the adaptive step budget capped if the memory
/// budget required it) and the predicted peak.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// The stepping to run with.
    pub stepping: Stepping,
    /// Predicted peak bytes (with the capped step budget, for adaptive steps).
    pub predicted: u64,
    /// The original `max_steps` when the memory budget lowered it.
    pub capped_from: Option<usize>,
}

impl Fit {
    /// The message for a run that hit a step budget the memory budget had capped, or `None`.
    pub fn capped_message(&self, budget: &MemoryBudget) -> Option<String> {
        let (Some(from), Stepping::Adaptive(a)) = (self.capped_from, &self.stepping) else {
            return None;
        };
        Some(format!(
            "needed more than {} adaptive steps, the most that fit in the memory budget of {} \
             ({}) instead of max_steps = {from}; loosen rtol/atol, use a method that stores \
             less, or raise --memory-budget",
            a.max_steps,
            bytes_text(budget.bytes),
            budget.origin
        ))
    }
}
