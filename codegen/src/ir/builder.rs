//! [`GraphBuilder`]: declares inputs and parameters and appends checked nodes, one method
//! per op.

use super::entities::{Type, Value};
use super::error::IrError;
use super::graph::{Graph, InputDecl, Node, ParamDecl};
use super::infer::infer;
use super::ops::{BinaryOp, ConvShape, Op, UnaryOp};

/// Builds a [`Graph`]: every method checks its operands' types and returns the new value,
/// or an [`IrError`] naming the node, the op and the shapes.
///
/// Leaves are shared: asking twice for the same input, parameter or the time returns the
/// same value, so a finished graph has at most one node of each.
///
/// ```
/// use symplode_codegen::ir::{GraphBuilder, IrError, UnaryOp};
///
/// let mut b = GraphBuilder::new();
/// let x = b.input("x", 3)?;
/// let w = b.param("w", &[4, 3])?;
/// let y = b.dense(x, w, None)?;
/// let y = b.unary(UnaryOp::Tanh, y)?;
/// let g = b.finish(&[y])?;
/// assert_eq!(g.to_string().lines().nth(5), Some("v3 = tanh v2  ; [B,4]"));
/// # Ok::<(), IrError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    pub(crate) inputs: Vec<InputDecl>,
    pub(crate) params: Vec<ParamDecl>,
    pub(crate) nodes: Vec<Node>,
    input_nodes: Vec<Option<Value>>,
    param_nodes: Vec<Option<Value>>,
    time_node: Option<Value>,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a batched input `[B, width]` (index = number of inputs declared before) and
    /// returns its index, without adding a node.
    pub fn declare_input(&mut self, name: &str, width: usize) -> Result<u32, IrError> {
        if width == 0 {
            return Err(IrError::InvalidDeclaration {
                what: "input",
                name: name.to_owned(),
                detail: "the width must be at least 1".into(),
            });
        }
        self.inputs.push(InputDecl {
            name: name.to_owned(),
            width,
        });
        self.input_nodes.push(None);
        Ok((self.inputs.len() - 1) as u32)
    }

    /// Declares a batched input and returns its node.
    pub fn input(&mut self, name: &str, width: usize) -> Result<Value, IrError> {
        let index = self.declare_input(name, width)?;
        self.push(Op::Input { index })
    }

    /// Declares a parameter tensor (the name must be new; no dimension may be zero) and
    /// returns its node.
    pub fn param(&mut self, name: &str, shape: &[usize]) -> Result<Value, IrError> {
        let bad = |detail: &str| IrError::InvalidDeclaration {
            what: "parameter",
            name: name.to_owned(),
            detail: detail.to_owned(),
        };
        if self.params.iter().any(|p| p.name == name) {
            return Err(bad("a parameter with this name is already declared"));
        }
        if shape.contains(&0) {
            return Err(bad(&format!(
                "the shape {} has a zero dimension",
                Type::global(shape)
            )));
        }
        if shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none()
        {
            return Err(bad("the element count overflows usize"));
        }
        self.params.push(ParamDecl {
            name: name.to_owned(),
            shape: shape.to_vec(),
        });
        self.param_nodes.push(None);
        let index = (self.params.len() - 1) as u32;
        self.push(Op::Param { index })
    }

    /// Declares every parameter of `g` here (same names, shapes and order, after the ones
    /// already declared) and returns their nodes, ready for [`GraphBuilder::inline`].
    pub fn import_params(&mut self, g: &Graph) -> Result<Vec<Value>, IrError> {
        g.params
            .iter()
            .map(|p| self.param(&p.name, &p.shape))
            .collect()
    }

    /// The declared inputs so far.
    pub fn inputs(&self) -> &[InputDecl] {
        &self.inputs
    }

    /// The declared parameters so far.
    pub fn params(&self) -> &[ParamDecl] {
        &self.params
    }

    /// Number of nodes so far (the next node will be `Value(len)`).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True before the first node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node defining `v`, if it exists.
    pub fn node(&self, v: Value) -> Option<&Node> {
        self.nodes.get(v.index())
    }

    /// The type of `v`, if it exists.
    pub fn ty(&self, v: Value) -> Option<&Type> {
        self.node(v).map(|n| &n.ty)
    }

    /// Appends `op` after checking it, and returns its value. Leaves (`input`, `param`,
    /// `time`) are shared: an existing node is returned.
    pub fn push(&mut self, op: Op) -> Result<Value, IrError> {
        let cached = match op {
            Op::Input { index } => self.input_nodes.get(index as usize).copied().flatten(),
            Op::Param { index } => self.param_nodes.get(index as usize).copied().flatten(),
            Op::Time => self.time_node,
            _ => None,
        };
        if let Some(v) = cached {
            return Ok(v);
        }
        let ty = infer(self, &op)?;
        let v = Value(u32::try_from(self.nodes.len()).map_err(|_| IrError::TooManyNodes)?);
        match op {
            Op::Input { index } => self.input_nodes[index as usize] = Some(v),
            Op::Param { index } => self.param_nodes[index as usize] = Some(v),
            Op::Time => self.time_node = Some(v),
            _ => {}
        }
        self.nodes.push(Node { op, ty });
        Ok(v)
    }

    /// The node of declared input `index`.
    pub fn input_value(&mut self, index: u32) -> Result<Value, IrError> {
        self.push(Op::Input { index })
    }

    /// The node of declared parameter `index`.
    pub fn param_value(&mut self, index: u32) -> Result<Value, IrError> {
        self.push(Op::Param { index })
    }

    /// The time `t` as `[B,1]`.
    pub fn time(&mut self) -> Result<Value, IrError> {
        self.push(Op::Time)
    }

    /// A tensor of type `ty` filled with `value`.
    pub fn constant(&mut self, value: f64, ty: Type) -> Result<Value, IrError> {
        self.push(Op::Const { value, ty })
    }

    /// A constant with the type of `v`.
    pub fn constant_like(&mut self, v: Value, value: f64) -> Result<Value, IrError> {
        let ty = self.ty_or_err(v, "const")?.clone();
        self.constant(value, ty)
    }

    /// `x Wᵀ + b`.
    pub fn dense(&mut self, x: Value, w: Value, b: Option<Value>) -> Result<Value, IrError> {
        self.push(Op::Dense { x, w, b })
    }

    /// `x W`.
    pub fn dense_nt(&mut self, x: Value, w: Value) -> Result<Value, IrError> {
        self.push(Op::DenseNT { x, w })
    }

    /// `Σ_batch aᵀ b`.
    pub fn batch_outer(&mut self, a: Value, b: Value) -> Result<Value, IrError> {
        self.push(Op::BatchOuter { a, b })
    }

    /// Column sums over the batch.
    pub fn batch_sum(&mut self, x: Value) -> Result<Value, IrError> {
        self.push(Op::BatchSum { x })
    }

    /// A global `[w]` copied to every row.
    pub fn broadcast_rows(&mut self, x: Value) -> Result<Value, IrError> {
        self.push(Op::BroadcastRows { x })
    }

    /// Elementwise `op(x)`.
    pub fn unary(&mut self, op: UnaryOp, x: Value) -> Result<Value, IrError> {
        self.push(Op::Unary { op, x })
    }

    /// Elementwise `op(a, b)` (broadcasting a `[B,1]` operand).
    pub fn binary(&mut self, op: BinaryOp, a: Value, b: Value) -> Result<Value, IrError> {
        self.push(Op::Binary { op, a, b })
    }

    /// `a + b`.
    pub fn add(&mut self, a: Value, b: Value) -> Result<Value, IrError> {
        self.binary(BinaryOp::Add, a, b)
    }

    /// `a − b`.
    pub fn sub(&mut self, a: Value, b: Value) -> Result<Value, IrError> {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `a · b`.
    pub fn mul(&mut self, a: Value, b: Value) -> Result<Value, IrError> {
        self.binary(BinaryOp::Mul, a, b)
    }

    /// `a / b`.
    pub fn div(&mut self, a: Value, b: Value) -> Result<Value, IrError> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `c · x`.
    pub fn scale(&mut self, x: Value, c: f64) -> Result<Value, IrError> {
        self.push(Op::Scale { x, c })
    }

    /// Concatenation along features.
    pub fn concat(&mut self, parts: &[Value]) -> Result<Value, IrError> {
        self.push(Op::Concat {
            parts: parts.to_vec(),
        })
    }

    /// Features `start..start + len`.
    pub fn slice(&mut self, x: Value, start: usize, len: usize) -> Result<Value, IrError> {
        self.push(Op::Slice { x, start, len })
    }

    /// Sums of consecutive groups of `size` features.
    pub fn sum_groups(&mut self, x: Value, size: usize) -> Result<Value, IrError> {
        self.push(Op::SumGroups { x, size })
    }

    /// The sum over all features, `[B,1]`.
    pub fn sum_features(&mut self, x: Value) -> Result<Value, IrError> {
        let w = self.batched_width(x, "sum_groups")?;
        self.sum_groups(x, w)
    }

    /// Each feature repeated `size` times.
    pub fn repeat_groups(&mut self, x: Value, size: usize) -> Result<Value, IrError> {
        self.push(Op::RepeatGroups { x, size })
    }

    /// A stencil on the periodic `n`-point grid, applied to each channel
    /// (`channels = width / n`).
    pub fn stencil(&mut self, x: Value, coeffs: &[f64], n: usize) -> Result<Value, IrError> {
        let w = self.batched_width(x, "stencil")?;
        let channels = w.checked_div(n).unwrap_or(0);
        self.push(Op::Stencil {
            x,
            coeffs: coeffs.to_vec(),
            n,
            channels,
        })
    }

    /// Periodic convolution; `cin`, `cout` and `k` are read from the kernel's shape.
    pub fn conv1d(
        &mut self,
        x: Value,
        w: Value,
        b: Option<Value>,
        n: usize,
    ) -> Result<Value, IrError> {
        let shape = self.kernel_shape(w, n, "conv1d")?;
        self.push(Op::Conv1d { x, w, b, shape })
    }

    /// Input-transpose of a periodic convolution.
    pub fn conv1d_t(&mut self, y: Value, w: Value, n: usize) -> Result<Value, IrError> {
        let shape = self.kernel_shape(w, n, "conv1d_t")?;
        self.push(Op::Conv1dT { y, w, shape })
    }

    /// Weight-gradient of a periodic convolution with kernel size `k`.
    pub fn conv1d_weight_grad(
        &mut self,
        dy: Value,
        x: Value,
        n: usize,
        k: usize,
    ) -> Result<Value, IrError> {
        let cout = self.batched_width(dy, "conv1d_wgrad")?.checked_div(n);
        let cin = self.batched_width(x, "conv1d_wgrad")?.checked_div(n);
        let shape = ConvShape {
            n,
            cin: cin.unwrap_or(0),
            cout: cout.unwrap_or(0),
            k,
        };
        self.push(Op::Conv1dWeightGrad { dy, x, shape })
    }

    /// Finishes the graph with the given outputs.
    pub fn finish(self, outputs: &[Value]) -> Result<Graph, IrError> {
        if let Some((position, &value)) = outputs
            .iter()
            .enumerate()
            .find(|(_, v)| v.index() >= self.nodes.len())
        {
            return Err(IrError::UndefinedOutput {
                position,
                value,
                len: self.nodes.len(),
            });
        }
        Ok(Graph {
            inputs: self.inputs,
            params: self.params,
            nodes: self.nodes,
            outputs: outputs.to_vec(),
        })
    }

    /// Copies every node of `g` into this builder, with `g`'s input `i` replaced by
    /// `inputs[i]` and parameter `j` by `params[j]` (same types), and `g`'s time by this
    /// builder's time. Returns the new value of each node of `g` (index = `g`'s node
    /// number); `g`'s outputs are `map[out.index()]`.
    pub fn inline(
        &mut self,
        g: &Graph,
        inputs: &[Value],
        params: &[Value],
    ) -> Result<Vec<Value>, IrError> {
        let context = "inline";
        let sig = |detail: String| IrError::Signature { context, detail };
        if inputs.len() != g.inputs.len() || params.len() != g.params.len() {
            return Err(sig(format!(
                "the graph has {} inputs and {} parameters, {} and {} were given",
                g.inputs.len(),
                g.params.len(),
                inputs.len(),
                params.len()
            )));
        }
        for (i, (&v, d)) in inputs.iter().zip(&g.inputs).enumerate() {
            let ty = self.ty_or_err(v, context)?;
            if *ty != Type::batched(d.width) {
                return Err(sig(format!(
                    "input {i} `{}` is [B,{}], but {v} is {ty}",
                    d.name, d.width
                )));
            }
        }
        for (v, d) in params.iter().zip(&g.params) {
            let ty = self.ty_or_err(*v, context)?;
            if *ty != Type::global(&d.shape) {
                return Err(sig(format!(
                    "parameter `{}` is {}, but {v} is {ty}",
                    d.name,
                    Type::global(&d.shape)
                )));
            }
        }
        let mut map: Vec<Value> = Vec::with_capacity(g.nodes.len());
        for node in &g.nodes {
            let v = match &node.op {
                Op::Input { index } => inputs[*index as usize],
                Op::Param { index } => params[*index as usize],
                op => self.push(op.map_operands(|u| map[u.index()]))?,
            };
            map.push(v);
        }
        Ok(map)
    }

    fn ty_or_err(&self, v: Value, op: &'static str) -> Result<&Type, IrError> {
        self.ty(v).ok_or(IrError::UndefinedValue {
            node: Value(self.nodes.len() as u32),
            op,
            operand: v,
            len: self.nodes.len(),
        })
    }

    fn batched_width(&self, x: Value, op: &'static str) -> Result<usize, IrError> {
        match self.ty_or_err(x, op)? {
            Type::Batched { width } => Ok(*width),
            found => Err(IrError::ExpectedBatched {
                node: Value(self.nodes.len() as u32),
                op,
                operand: "x",
                found: found.clone(),
            }),
        }
    }

    fn kernel_shape(&self, w: Value, n: usize, op: &'static str) -> Result<ConvShape, IrError> {
        match self.ty_or_err(w, op)? {
            Type::Global { shape } if shape.len() == 3 => Ok(ConvShape {
                n,
                cin: shape[1],
                cout: shape[0],
                k: shape[2],
            }),
            found => Err(IrError::ExpectedGlobal {
                node: Value(self.nodes.len() as u32),
                op,
                operand: "w",
                expected: "[cout,cin,k]".into(),
                found: found.clone(),
            }),
        }
    }
}
