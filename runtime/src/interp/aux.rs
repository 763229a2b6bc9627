//! Auxiliary inputs of a graph (inputs after the state, e.g. the Hutchinson noise `ε` of a
//! CNF): held by the model, set and checked here once for the interpreter and for the code
//! `neural_ode!` lowers from a plan.

use super::InterpError;
use crate::dynamics::RowWindow;
use crate::real::Real;

/// The auxiliary inputs of a model: each input's name and width, and the data set for it
/// (index 0, the state, stays empty). See the [interpreter's documentation](super) for the
/// contract (one batch size, kept until changed).
#[derive(Clone, Debug, PartialEq)]
pub struct AuxInputs<T> {
    inputs: Vec<(String, usize)>,
    data: Vec<Vec<T>>,
}

impl<T: Real> AuxInputs<T> {
    /// No data yet for the graph inputs `inputs` (name, width), the state first.
    pub fn new(inputs: Vec<(String, usize)>) -> Self {
        let data = vec![Vec::new(); inputs.len()];
        AuxInputs { inputs, data }
    }

    /// Sets auxiliary input `index` (1 ≤ index < number of inputs) to `data`, row-major
    /// `[B, width]` for the batch of the coming evaluations.
    ///
    /// # Errors
    /// `index` is the state or not an input, the length is not a positive multiple of the
    /// width, or a value is not finite.
    pub fn set(&mut self, index: usize, data: &[T]) -> Result<(), InterpError> {
        let declared = self.inputs.len();
        if index == 0 || index >= declared {
            return Err(InterpError::NotAux { index, declared });
        }
        let (name, width) = &self.inputs[index];
        if data.is_empty() || !data.len().is_multiple_of(*width) {
            return Err(InterpError::AuxLength {
                index,
                name: name.clone(),
                width: *width,
                got: data.len(),
            });
        }
        if let Some(position) = data.iter().position(|v| !v.is_finite()) {
            return Err(InterpError::AuxNonFinite {
                index,
                name: name.clone(),
                position,
                value: data[position].to_string(),
            });
        }
        let slot = &mut self.data[index];
        slot.clear();
        slot.extend_from_slice(data);
        Ok(())
    }

    /// The data of input `index` (empty if unset or not an auxiliary input).
    pub fn get(&self, index: usize) -> &[T] {
        self.data.get(index).map_or(&[], Vec::as_slice)
    }

    /// The data of every input, by index.
    pub fn all(&self) -> &[Vec<T>] {
        &self.data
    }

    /// Checks that input `index` is set for batch size `batch`.
    ///
    /// # Errors
    /// It is missing or set for another batch size.
    pub fn check(&self, index: usize, batch: usize) -> Result<(), InterpError> {
        let (name, width) = &self.inputs[index];
        let data = &self.data[index];
        if data.is_empty() {
            return Err(InterpError::AuxMissing {
                index,
                name: name.clone(),
            });
        }
        let got = data.len() / width;
        if got != batch {
            return Err(InterpError::AuxBatch {
                index,
                name: name.clone(),
                batch,
                got,
            });
        }
        Ok(())
    }

    /// Whether every input in `used` is set for batch size `batch`.
    pub fn ready(&self, used: &[usize], batch: usize) -> bool {
        used.iter().all(|&i| self.check(i, batch).is_ok())
    }

    /// Whether every input in `used` is set for a run of `batch` rows: for `batch` rows
    /// without a window ([`AuxInputs::ready`]), or, with one, for `window.total` rows of
    /// which the run's rows `window.start..window.start + batch` are a part.
    pub fn ready_in(&self, used: &[usize], batch: usize, window: Option<RowWindow>) -> bool {
        let (start, total) = window.map_or((0, batch), |w| (w.start, w.total));
        start.checked_add(batch).is_some_and(|end| end <= total)
            && used.iter().all(|&i| self.check(i, total).is_ok())
    }

    /// Input `index` from row `row` on (empty if unset, not an auxiliary input, or shorter).
    pub fn from_row(&self, index: usize, row: usize) -> &[T] {
        let data = self.get(index);
        let width = self.inputs.get(index).map_or(0, |(_, w)| *w);
        data.get(row.saturating_mul(width)..).unwrap_or(&[])
    }
}
