//! The graph: declared inputs and parameters, a flat arena of typed nodes in topological
//! order, and the outputs; with its text form.

use std::fmt;

use super::entities::{Type, Value};
use super::ops::Op;

/// One node: an op and the type of its result (inferred and checked when it was added).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// The type of its result.
    pub ty: Type,
}

/// A declared batched input `[B, width]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputDecl {
    /// A name for messages and the text form (`x`, `eps`, `cotangent.0`, …).
    pub name: String,
    /// Features per sample.
    pub width: usize,
}

/// A declared parameter tensor (global).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamDecl {
    /// Its name, e.g. `layers.0.weight` (unique within a graph).
    pub name: String,
    /// Its shape, PyTorch layout (`[out, in]` for a dense weight).
    pub shape: Vec<usize>,
}

impl ParamDecl {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// An SSA graph over batched tensors, built by [`GraphBuilder`](super::GraphBuilder).
///
/// Invariants (established by the builder): node `k` only reads values `< k`; every node's
/// type is consistent with its op and operands; there is at most one `input` node per input,
/// one `param` node per parameter and one `time` node; outputs are defined values.
///
/// Parameters are passed to executors as one flat vector, tensor after tensor in declaration
/// order, each row-major ([`Graph::param_offsets`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub(crate) inputs: Vec<InputDecl>,
    pub(crate) params: Vec<ParamDecl>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) outputs: Vec<Value>,
}

impl Graph {
    /// The declared inputs (index = [`Op::Input::index`](Op::Input)).
    pub fn inputs(&self) -> &[InputDecl] {
        &self.inputs
    }

    /// The declared parameters (index = [`Op::Param::index`](Op::Param)).
    pub fn params(&self) -> &[ParamDecl] {
        &self.params
    }

    /// All nodes in topological order; node `k` defines `Value(k)`.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node defining `v`, if `v` belongs to this graph.
    pub fn node(&self, v: Value) -> Option<&Node> {
        self.nodes.get(v.index())
    }

    /// The type of `v`, if `v` belongs to this graph.
    pub fn ty(&self, v: Value) -> Option<&Type> {
        self.node(v).map(|n| &n.ty)
    }

    /// The outputs, in order.
    pub fn outputs(&self) -> &[Value] {
        &self.outputs
    }

    /// The types of the outputs, in order.
    pub fn output_types(&self) -> Vec<&Type> {
        self.outputs
            .iter()
            .map(|v| &self.nodes[v.index()].ty)
            .collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// `(value, node)` pairs in order.
    pub fn values(&self) -> impl Iterator<Item = (Value, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(k, n)| (Value(k as u32), n))
    }

    /// The node of input `index`, if the graph reads that input.
    pub fn input_value(&self, index: u32) -> Option<Value> {
        self.values()
            .find(|(_, n)| n.op == Op::Input { index })
            .map(|(v, _)| v)
    }

    /// The node of parameter `index`, if the graph reads that parameter.
    pub fn param_value(&self, index: u32) -> Option<Value> {
        self.values()
            .find(|(_, n)| n.op == Op::Param { index })
            .map(|(v, _)| v)
    }

    /// The `time` node, if the graph reads the time.
    pub fn time_value(&self) -> Option<Value> {
        self.values()
            .find(|(_, n)| n.op == Op::Time)
            .map(|(v, _)| v)
    }

    /// Index of the input called `name`.
    pub fn input_index(&self, name: &str) -> Option<u32> {
        self.inputs
            .iter()
            .position(|d| d.name == name)
            .map(|i| i as u32)
    }

    /// Index of the parameter called `name`.
    pub fn param_index(&self, name: &str) -> Option<u32> {
        self.params
            .iter()
            .position(|d| d.name == name)
            .map(|i| i as u32)
    }

    /// Total number of parameter values (the length of the flat parameter vector).
    pub fn param_len(&self) -> usize {
        self.params.iter().map(ParamDecl::numel).sum()
    }

    /// Offset of each parameter tensor in the flat parameter vector.
    pub fn param_offsets(&self) -> Vec<usize> {
        let mut off = 0;
        self.params
            .iter()
            .map(|p| {
                let o = off;
                off += p.numel();
                o
            })
            .collect()
    }

    /// `name [shape] + …`, for messages.
    pub fn param_layout(&self) -> String {
        self.params
            .iter()
            .map(|p| format!("{} {}", p.name, Type::global(&p.shape)))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

impl fmt::Display for Graph {
    /// The text form: the declarations, one line per node
    /// (`v5 = dense v2, v3, v4  ; [B,4]`) and the outputs.
    ///
    /// ```text
    /// inputs: x [B,2]
    /// params: layers.0.weight [4,3], layers.0.bias [4]
    /// v0 = input 0 (x)  ; [B,2]
    /// v1 = time  ; [B,1]
    /// v2 = concat v0, v1  ; [B,3]
    /// …
    /// outputs: v6
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "-".to_owned()
            } else {
                items.join(", ")
            }
        };
        let inputs = self
            .inputs
            .iter()
            .map(|d| format!("{} [B,{}]", d.name, d.width))
            .collect();
        let params = self
            .params
            .iter()
            .map(|d| format!("{} {}", d.name, Type::global(&d.shape)))
            .collect();
        writeln!(f, "inputs: {}", list(inputs))?;
        writeln!(f, "params: {}", list(params))?;
        for (v, node) in self.values() {
            write!(f, "{v} = {}", node.op)?;
            match node.op {
                Op::Input { index } => {
                    write!(f, " ({})", self.inputs[index as usize].name)?;
                }
                Op::Param { index } => {
                    write!(f, " ({})", self.params[index as usize].name)?;
                }
                _ => {}
            }
            writeln!(f, "  ; {}", node.ty)?;
        }
        let outputs = self.outputs.iter().map(|v| v.to_string()).collect();
        writeln!(f, "outputs: {}", list(outputs))
    }
}
