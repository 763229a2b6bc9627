//! Entity ids and value types: what every node of a [`Graph`](super::Graph) refers to and
//! produces.

use std::fmt;

/// An SSA value: the result of node number `self.0` of a graph (nodes are numbered in
/// topological order, so a node only refers to values with smaller numbers). Printed `v{n}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value(pub u32);

impl Value {
    /// The node index as a `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// The type of a value.
///
/// - [`Type::Batched`]: a `[B, width]` row-major matrix, one row per sample; the batch size
///   `B` is known only at run time (`B ≥ 1`).
/// - [`Type::Global`]: an unbatched row-major tensor of the given shape (parameters,
///   parameter gradients). An empty shape is a scalar.
///
/// Every width and every dimension is at least 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A `[B, width]` matrix, rows = samples.
    Batched {
        /// Number of features (columns).
        width: usize,
    },
    /// An unbatched tensor.
    Global {
        /// Dimensions, outermost first.
        shape: Vec<usize>,
    },
}

impl Type {
    /// `Batched { width }`.
    pub fn batched(width: usize) -> Type {
        Type::Batched { width }
    }

    /// `Global { shape }`.
    pub fn global(shape: &[usize]) -> Type {
        Type::Global {
            shape: shape.to_vec(),
        }
    }

    /// The width of a batched value, `None` for a global one.
    pub fn width(&self) -> Option<usize> {
        match self {
            Type::Batched { width } => Some(*width),
            Type::Global { .. } => None,
        }
    }

    /// The shape of a global value, `None` for a batched one.
    pub fn shape(&self) -> Option<&[usize]> {
        match self {
            Type::Batched { .. } => None,
            Type::Global { shape } => Some(shape),
        }
    }

    /// True for [`Type::Batched`].
    pub fn is_batched(&self) -> bool {
        matches!(self, Type::Batched { .. })
    }

    /// Elements per sample for a batched value (its width), or the element count of a global
    /// one (the product of its shape, 1 for a scalar).
    pub fn numel(&self) -> usize {
        match self {
            Type::Batched { width } => *width,
            Type::Global { shape } => shape.iter().product(),
        }
    }

    /// Elements of a value of this type for batch size `batch`.
    pub fn len_for_batch(&self, batch: usize) -> usize {
        match self {
            Type::Batched { width } => width * batch,
            Type::Global { .. } => self.numel(),
        }
    }
}

impl fmt::Display for Type {
    /// `[B,64]` for a batched value, `[64,3]` for a global one, `[]` for a global scalar.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Batched { width } => write!(f, "[B,{width}]"),
            Type::Global { shape } => {
                f.write_str("[")?;
                for (i, d) in shape.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{d}")?;
                }
                f.write_str("]")
            }
        }
    }
}
