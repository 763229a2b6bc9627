//! [`Trajectory`]: the states of one ODE at its output times, in one contiguous buffer.

use std::ops::{Index, IndexMut};

use crate::real::Real;

/// The states of one component at its K output times, `[K, batch·dim]` row-major in one buffer.
///
/// `traj[k]` is the state at output time k (a `batch·dim` slice); [`Trajectory::iter`] walks
/// them in order; with the `ndarray` feature [`Trajectory::view`] is the `[K, batch, dim]`
/// array over the same buffer (no copy).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trajectory<T> {
    data: Vec<T>,
    state_len: usize,
}

impl<T: Real> Trajectory<T> {
    /// K zeroed states of `state_len` elements each.
    pub fn zeros(count: usize, state_len: usize) -> Self {
        Trajectory {
            data: vec![T::zero(); count * state_len],
            state_len,
        }
    }
}

impl<T> Trajectory<T> {
    /// The trajectory over `data`, `[K, state_len]` row-major; `None` when `state_len` is 0 or
    /// does not divide the length.
    pub fn from_vec(data: Vec<T>, state_len: usize) -> Option<Self> {
        (state_len > 0 && data.len().is_multiple_of(state_len))
            .then_some(Trajectory { data, state_len })
    }
    /// A trajectory of one state.
    pub fn single(state: Vec<T>) -> Self {
        let state_len = state.len();
        Trajectory {
            data: state,
            state_len,
        }
    }
    /// Number of states K.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.state_len).unwrap_or(0)
    }
    /// True when there is no state.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Elements per state (batch·dim).
    pub fn state_len(&self) -> usize {
        self.state_len
    }
    /// The states in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, T> {
        self.data.chunks_exact(self.state_len.max(1))
    }
    /// The states in order, mutable.
    pub fn iter_mut(&mut self) -> std::slice::ChunksExactMut<'_, T> {
        self.data.chunks_exact_mut(self.state_len.max(1))
    }
    /// The first state.
    pub fn first(&self) -> Option<&[T]> {
        self.iter().next()
    }
    /// The last state.
    pub fn last(&self) -> Option<&[T]> {
        self.iter().next_back()
    }
    /// The last state, mutable.
    pub fn last_mut(&mut self) -> Option<&mut [T]> {
        self.iter_mut().next_back()
    }
    /// All states, `[K, batch·dim]` row-major.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }
    /// All states, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }
    /// The buffer.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
    /// The `[K, batch, dim]` view of the states (no copy). `None` when `dim` does not divide
    /// the state length.
    #[cfg(feature = "ndarray")]
    pub fn view(&self, dim: usize) -> Option<ndarray::ArrayView3<'_, T>> {
        if dim == 0 || !self.state_len.is_multiple_of(dim) {
            return None;
        }
        ndarray::ArrayView3::from_shape((self.len(), self.state_len / dim, dim), &self.data).ok()
    }
}

impl<T> Index<usize> for Trajectory<T> {
    type Output = [T];
    fn index(&self, k: usize) -> &[T] {
        &self.data[k * self.state_len..(k + 1) * self.state_len]
    }
}

impl<T> IndexMut<usize> for Trajectory<T> {
    fn index_mut(&mut self, k: usize) -> &mut [T] {
        &mut self.data[k * self.state_len..(k + 1) * self.state_len]
    }
}

impl<'a, T> IntoIterator for &'a Trajectory<T> {
    type Item = &'a [T];
    type IntoIter = std::slice::ChunksExact<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Trajectory<T> {
    type Item = &'a mut [T];
    type IntoIter = std::slice::ChunksExactMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}
