//! Type inference and validation of one op against the values defined so far.

use super::builder::GraphBuilder;
use super::conv2d::Conv2dShape;
use super::entities::{Type, Value};
use super::error::IrError;
use super::ops::{ConvShape, Op};

/// Checks `op` as the next node of `b` and returns its type.
pub(crate) fn infer(b: &GraphBuilder, op: &Op) -> Result<Type, IrError> {
    let cx = Cx {
        b,
        node: Value(b.nodes.len() as u32),
        op: op.name(),
    };
    for v in op.operands() {
        cx.ty(v)?;
    }
    match op {
        Op::Input { index } => match b.inputs.get(*index as usize) {
            Some(d) => Ok(Type::batched(d.width)),
            None => Err(cx.undeclared("input", *index, b.inputs.len())),
        },
        Op::Time => Ok(Type::batched(1)),
        Op::Param { index } => match b.params.get(*index as usize) {
            Some(d) => Ok(Type::global(&d.shape)),
            None => Err(cx.undeclared("parameter", *index, b.params.len())),
        },
        Op::Const { value, ty } => {
            if !value.is_finite() {
                return Err(cx.attr(format!("the constant {value} is not finite")));
            }
            cx.check_type(ty)?;
            Ok(ty.clone())
        }
        Op::Dense { x, w, b: bias } => {
            let inp = cx.batched(*x, "x")?;
            let ws = cx.global(*w, "w", &format!("[out,{inp}]"))?;
            if ws.len() != 2 || ws[1] != inp {
                return Err(cx.expected_global(*w, "w", format!("[out,{inp}]")));
            }
            let out = ws[0];
            if let Some(bias) = bias {
                let bs = cx.global(*bias, "b", &format!("[{out}]"))?;
                if bs != [out] {
                    return Err(cx.expected_global(*bias, "b", format!("[{out}]")));
                }
            }
            Ok(Type::batched(out))
        }
        Op::DenseNT { x, w } => {
            let k = cx.batched(*x, "x")?;
            let ws = cx.global(*w, "w", &format!("[{k},m]"))?;
            if ws.len() != 2 || ws[0] != k {
                return Err(cx.expected_global(*w, "w", format!("[{k},m]")));
            }
            Ok(Type::batched(ws[1]))
        }
        Op::BatchOuter { a, b: rhs } => {
            let p = cx.batched(*a, "a")?;
            let q = cx.batched(*rhs, "b")?;
            Ok(Type::global(&[p, q]))
        }
        Op::BatchSum { x } => Ok(Type::global(&[cx.batched(*x, "x")?])),
        Op::BroadcastRows { x } => {
            let s = cx.global(*x, "x", "[w]")?;
            if s.len() != 1 {
                return Err(cx.expected_global(*x, "x", "[w]".into()));
            }
            Ok(Type::batched(s[0]))
        }
        Op::Unary { x, .. } => cx.ty(*x).cloned(),
        Op::Scale { x, c } => {
            if !c.is_finite() {
                return Err(cx.attr(format!("the factor {c} is not finite")));
            }
            cx.ty(*x).cloned()
        }
        Op::Binary { a, b: rhs, .. } => {
            let (ta, tb) = (cx.ty(*a)?, cx.ty(*rhs)?);
            match (ta, tb) {
                (Type::Batched { width: p }, Type::Batched { width: q }) => {
                    if p == q || *p == 1 || *q == 1 {
                        Ok(Type::batched(*p.max(q)))
                    } else {
                        Err(cx.mismatch(format!(
                            "cannot combine a {ta} and b {tb}: widths must be equal or one \
                             of them 1"
                        )))
                    }
                }
                (Type::Global { shape: p }, Type::Global { shape: q }) if p == q => Ok(ta.clone()),
                _ => Err(cx.mismatch(format!(
                    "cannot combine a {ta} and b {tb}: both must be batched, or globals of \
                     the same shape"
                ))),
            }
        }
        Op::Concat { parts } => {
            if parts.is_empty() {
                return Err(cx.attr("concat needs at least one part".into()));
            }
            let mut total = 0usize;
            for p in parts {
                let w = cx.batched(*p, "parts")?;
                total = total
                    .checked_add(w)
                    .ok_or_else(|| cx.attr("the total width overflows usize".into()))?;
            }
            Ok(Type::batched(total))
        }
        Op::Slice { x, start, len } => {
            let w = cx.batched(*x, "x")?;
            if *len == 0 || start.checked_add(*len).is_none_or(|end| end > w) {
                return Err(cx.attr(format!(
                    "features {start}..{} are not a non-empty range within the width {w} of \
                     {x}",
                    start.saturating_add(*len)
                )));
            }
            Ok(Type::batched(*len))
        }
        Op::SumGroups { x, size } => {
            let w = cx.batched(*x, "x")?;
            if *size == 0 || !w.is_multiple_of(*size) {
                return Err(cx.attr(format!(
                    "group size {size} does not divide the width {w} of {x}"
                )));
            }
            Ok(Type::batched(w / size))
        }
        Op::RepeatGroups { x, size } => {
            let w = cx.batched(*x, "x")?;
            if *size == 0 {
                return Err(cx.attr("the repetition count must be at least 1".into()));
            }
            let out = w
                .checked_mul(*size)
                .ok_or_else(|| cx.attr("the width overflows usize".into()))?;
            Ok(Type::batched(out))
        }
        Op::Stencil {
            x,
            coeffs,
            n,
            channels,
        } => {
            let w = cx.batched(*x, "x")?;
            if coeffs.len() % 2 != 1 {
                return Err(cx.attr(format!(
                    "a centred stencil needs an odd number of coefficients, got {}",
                    coeffs.len()
                )));
            }
            if let Some(c) = coeffs.iter().find(|c| !c.is_finite()) {
                return Err(cx.attr(format!("the stencil coefficient {c} is not finite")));
            }
            if *n == 0 || *channels == 0 || n.checked_mul(*channels) != Some(w) {
                return Err(cx.mismatch(format!(
                    "{x} has width {w}, but n = {n} points × {channels} channels were given"
                )));
            }
            Ok(Type::batched(w))
        }
        Op::Conv1d {
            x,
            w,
            b: bias,
            shape,
        } => {
            cx.conv_shape(shape)?;
            cx.signal(*x, "x", shape.cin, shape)?;
            cx.kernel(*w, shape)?;
            if let Some(bias) = bias {
                let bs = cx.global(*bias, "b", &format!("[{}]", shape.cout))?;
                if bs != [shape.cout] {
                    return Err(cx.expected_global(*bias, "b", format!("[{}]", shape.cout)));
                }
            }
            Ok(Type::batched(shape.cout * shape.n))
        }
        Op::Conv1dT { y, w, shape } => {
            cx.conv_shape(shape)?;
            cx.signal(*y, "y", shape.cout, shape)?;
            cx.kernel(*w, shape)?;
            Ok(Type::batched(shape.cin * shape.n))
        }
        Op::Conv1dWeightGrad { dy, x, shape } => {
            cx.conv_shape(shape)?;
            cx.signal(*dy, "dy", shape.cout, shape)?;
            cx.signal(*x, "x", shape.cin, shape)?;
            Ok(Type::global(&[shape.cout, shape.cin, shape.k]))
        }
        Op::Conv2d {
            x,
            w,
            b: bias,
            shape,
        } => {
            cx.conv2d_shape(shape)?;
            cx.image(*x, "x", shape.in_width(), "cin·h·w")?;
            cx.kernel2d(*w, shape)?;
            if let Some(bias) = bias {
                let bs = cx.global(*bias, "b", &format!("[{}]", shape.cout))?;
                if bs != [shape.cout] {
                    return Err(cx.expected_global(*bias, "b", format!("[{}]", shape.cout)));
                }
            }
            Ok(Type::batched(shape.out_width()))
        }
        Op::Conv2dT { y, w, shape } => {
            cx.conv2d_shape(shape)?;
            cx.image(*y, "y", shape.out_width(), "cout·ho·wo")?;
            cx.kernel2d(*w, shape)?;
            Ok(Type::batched(shape.in_width()))
        }
        Op::Conv2dWeightGrad { dy, x, shape } => {
            cx.conv2d_shape(shape)?;
            cx.image(*dy, "dy", shape.out_width(), "cout·ho·wo")?;
            cx.image(*x, "x", shape.in_width(), "cin·h·w")?;
            Ok(Type::global(&[shape.cout, shape.cin, shape.k, shape.k]))
        }
        Op::Squeeze { x, shape } | Op::Unsqueeze { x, shape } => {
            if let Some(why) = shape.invalid() {
                return Err(cx.attr(why));
            }
            cx.image(*x, "x", shape.width(), "c·h·w")?;
            Ok(Type::batched(shape.width()))
        }
    }
}

/// The context of one check: the builder, the node being built and its op.
struct Cx<'a> {
    b: &'a GraphBuilder,
    node: Value,
    op: &'static str,
}

impl Cx<'_> {
    fn ty(&self, v: Value) -> Result<&Type, IrError> {
        self.b
            .nodes
            .get(v.index())
            .map(|n| &n.ty)
            .ok_or(IrError::UndefinedValue {
                node: self.node,
                op: self.op,
                operand: v,
                len: self.b.nodes.len(),
            })
    }

    fn batched(&self, v: Value, operand: &'static str) -> Result<usize, IrError> {
        match self.ty(v)? {
            Type::Batched { width } => Ok(*width),
            found => Err(IrError::ExpectedBatched {
                node: self.node,
                op: self.op,
                operand,
                found: found.clone(),
            }),
        }
    }

    fn global(&self, v: Value, operand: &'static str, expected: &str) -> Result<&[usize], IrError> {
        match self.ty(v)? {
            Type::Global { shape } => Ok(shape),
            Type::Batched { .. } => Err(self.expected_global(v, operand, expected.to_owned())),
        }
    }

    fn expected_global(&self, v: Value, operand: &'static str, expected: String) -> IrError {
        IrError::ExpectedGlobal {
            node: self.node,
            op: self.op,
            operand,
            expected,
            found: self.b.nodes[v.index()].ty.clone(),
        }
    }

    fn mismatch(&self, detail: String) -> IrError {
        IrError::ShapeMismatch {
            node: self.node,
            op: self.op,
            detail,
        }
    }

    fn attr(&self, detail: String) -> IrError {
        IrError::InvalidAttribute {
            node: self.node,
            op: self.op,
            detail,
        }
    }

    fn undeclared(&self, what: &'static str, index: u32, declared: usize) -> IrError {
        IrError::Undeclared {
            node: self.node,
            op: self.op,
            what,
            index,
            declared,
        }
    }

    fn check_type(&self, ty: &Type) -> Result<(), IrError> {
        let ok = match ty {
            Type::Batched { width } => *width > 0,
            Type::Global { shape } => shape.iter().all(|&d| d > 0),
        };
        if ok {
            Ok(())
        } else {
            Err(self.attr(format!("the type {ty} has a zero dimension")))
        }
    }

    fn conv_shape(&self, s: &ConvShape) -> Result<(), IrError> {
        if s.n == 0 || s.cin == 0 || s.cout == 0 {
            return Err(self.attr(format!(
                "n = {}, cin = {}, cout = {} must all be at least 1",
                s.n, s.cin, s.cout
            )));
        }
        if s.k % 2 != 1 {
            return Err(self.attr(format!(
                "the kernel size k = {} must be odd (a centred periodic kernel)",
                s.k
            )));
        }
        let fits = s.cin.checked_mul(s.n).is_some()
            && s.cout.checked_mul(s.n).is_some()
            && s.cout
                .checked_mul(s.cin)
                .and_then(|c| c.checked_mul(s.k))
                .is_some();
        if fits {
            Ok(())
        } else {
            Err(self.attr("the sizes overflow usize".into()))
        }
    }

    fn signal(
        &self,
        v: Value,
        operand: &'static str,
        channels: usize,
        s: &ConvShape,
    ) -> Result<(), IrError> {
        let w = self.batched(v, operand)?;
        if w == channels * s.n {
            Ok(())
        } else {
            Err(self.mismatch(format!(
                "operand `{operand}` {v} has width {w}, but {channels} channels × n = {} \
                 points were expected",
                s.n
            )))
        }
    }

    fn conv2d_shape(&self, s: &Conv2dShape) -> Result<(), IrError> {
        match s.invalid() {
            Some(why) => Err(self.attr(why)),
            None => Ok(()),
        }
    }

    fn image(
        &self,
        v: Value,
        operand: &'static str,
        expected: usize,
        what: &str,
    ) -> Result<(), IrError> {
        let w = self.batched(v, operand)?;
        if w == expected {
            Ok(())
        } else {
            Err(self.mismatch(format!(
                "operand `{operand}` {v} has width {w}, but {what} = {expected} was expected"
            )))
        }
    }

    fn kernel2d(&self, w: Value, s: &Conv2dShape) -> Result<(), IrError> {
        let expected = format!("[{},{},{},{}]", s.cout, s.cin, s.k, s.k);
        let shape = self.global(w, "w", &expected)?;
        if shape == [s.cout, s.cin, s.k, s.k] {
            Ok(())
        } else {
            Err(self.expected_global(w, "w", expected))
        }
    }

    fn kernel(&self, w: Value, s: &ConvShape) -> Result<(), IrError> {
        let expected = format!("[{},{},{}]", s.cout, s.cin, s.k);
        let shape = self.global(w, "w", &expected)?;
        if shape == [s.cout, s.cin, s.k] {
            Ok(())
        } else {
            Err(self.expected_global(w, "w", expected))
        }
    }
}
