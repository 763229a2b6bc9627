//! Pieces of the reports `grad`, `hvp` and `solve` print.

use serde::Serialize;
use symplode::prelude::*;
use symplode::runtime::grad::MemoryPrediction;

use super::CliError;

/// Step counters.
#[derive(Serialize)]
pub struct Steps {
    /// Accepted forward steps.
    pub accepted: usize,
    /// Rejected forward steps.
    pub rejected: usize,
    /// Accepted steps of the adjoint method's backward solve.
    pub backward_accepted: usize,
    /// Rejected steps of the adjoint method's backward solve.
    pub backward_rejected: usize,
}

impl Steps {
    /// The forward and backward step counts of a gradient's statistics.
    pub fn of(s: &Stats) -> Self {
        Steps {
            accepted: s.accepted,
            rejected: s.rejected,
            backward_accepted: s.backward_accepted,
            backward_rejected: s.backward_rejected,
        }
    }

    /// Forward steps only (a solve, or a method without a backward solve).
    pub fn forward(accepted: usize, rejected: usize) -> Self {
        Steps {
            accepted,
            rejected,
            backward_accepted: 0,
            backward_rejected: 0,
        }
    }
}

/// The norm of one named tensor of a gradient (or of H·v).
#[derive(Serialize)]
pub struct TensorNorm {
    /// The tensor's name in the weights file.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its Euclidean norm.
    pub norm: f64,
}

/// The norm of every parameter tensor of `net` in `flat` (laid out as `net.params()`).
pub fn tensor_norms<T: Real>(net: &dyn Dynamics<T>, flat: &[T]) -> Vec<TensorNorm> {
    layout_norms(net.param_tensors(), flat)
}

/// The L2 norm of each tensor of `layout` in the flat vector `flat`.
pub fn layout_norms<T: Real>(
    layout: Vec<symplode::runtime::ParamTensor>,
    flat: &[T],
) -> Vec<TensorNorm> {
    layout
        .into_iter()
        .map(|t| TensorNorm {
            norm: l2(flat.get(t.range()).unwrap_or(&[])),
            name: t.name,
            shape: t.shape,
        })
        .collect()
}

/// Writes the lines `key  norm  name [shape]` through the report's `line`, the key on the
/// first only.
pub fn tensor_lines(line: &mut dyn FnMut(&str, String), key: &str, norms: &[TensorNorm]) {
    for (k, t) in norms.iter().enumerate() {
        let key = if k == 0 { key } else { "" };
        line(key, format!("{:.6e}  {} {:?}", t.norm, t.name, t.shape));
    }
}

/// Bytes per category.
#[derive(Serialize)]
pub struct Memory {
    /// Checkpoint bytes.
    pub checkpoint: usize,
    /// Graph (tape and activation) bytes.
    pub graph: usize,
    /// Workspace bytes.
    pub workspace: usize,
    /// Total (predicted: the sum; measured: the peak of everything at once).
    pub total: usize,
}

impl Memory {
    /// A method's prediction.
    pub fn predicted(p: &MemoryPrediction) -> Self {
        Memory {
            checkpoint: p.checkpoint_bytes,
            graph: p.graph_bytes,
            workspace: p.workspace_bytes,
            total: p.total(),
        }
    }

    /// What the run counted: the peak per category and the peak of their sum.
    pub fn measured(s: &Stats) -> Self {
        Memory {
            checkpoint: s.peak_checkpoint_bytes,
            graph: s.peak_graph_bytes,
            workspace: s.peak_workspace_bytes,
            total: s.peak_total_bytes,
        }
    }

    /// `checkpoint …, graph …, workspace …, <total> …`, the text of the report's memory lines.
    pub fn text(&self, total: &str) -> String {
        format!(
            "checkpoint {}, graph {}, workspace {}, {total} {}",
            bytes(self.checkpoint),
            bytes(self.graph),
            bytes(self.workspace),
            bytes(self.total)
        )
    }
}

/// Writes the `predicted`, `measured` and `wall time` lines through the report's `line`.
pub fn cost_lines(
    line: &mut dyn FnMut(&str, String),
    predicted: &Memory,
    measured: &Memory,
    wall_seconds: f64,
) {
    line("predicted", predicted.text("total"));
    line("measured", measured.text("peak total"));
    line("wall time", format!("{wall_seconds:.6} s"));
}

/// `12345 B (12.1 KiB)`.
pub fn bytes(b: usize) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = "";
    for u in units {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if unit.is_empty() {
        format!("{b} B")
    } else {
        format!("{b} B ({v:.1} {unit})")
    }
}

/// The Euclidean (Frobenius) norm, accumulated in f64 and scaled by the largest magnitude, so
/// it is finite whenever the true norm is (entries near 1e300 do not overflow the squares).
pub fn l2<T: Real>(v: &[T]) -> f64 {
    let scale = v.iter().fold(0.0f64, |m, x| m.max(x.f64().abs()));
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    let sum: f64 = v
        .iter()
        .map(|x| {
            let r = x.f64() / scale;
            r * r
        })
        .sum();
    scale * sum.sqrt()
}

/// A number for a message or report: plain when of moderate size, otherwise in exponent
/// notation (never hundreds of digits).
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-5..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// `fixed, 20 steps per interval` or `adaptive rtol 1e-6 atol 1e-8`.
pub fn stepping_text(s: &Stepping) -> String {
    match s {
        Stepping::Fixed { steps } => format!("fixed, {steps} steps per interval"),
        Stepping::Adaptive(a) => {
            let mut t = format!("adaptive rtol {:e} atol {:e}", a.rtol, a.atol);
            if let Some(h) = a.first_step {
                t.push_str(&format!(" first_step {h:e}"));
            }
            t.push_str(&format!(" max_steps {}", a.max_steps));
            if a.per_sample {
                t.push_str(" per-sample (steps and NFE summed over the samples)");
            }
            t
        }
    }
}

/// One JSON object and a newline.
pub fn json<R: Serialize>(report: &R) -> Result<String, CliError> {
    let mut s = serde_json::to_string(report)
        .map_err(|e| CliError(format!("cannot format the report as JSON: {e}")))?;
    s.push('\n');
    Ok(s)
}
