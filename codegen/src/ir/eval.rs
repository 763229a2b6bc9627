//! The reference evaluator: naive `f64` loops over every node, written to be obviously
//! correct rather than fast. It defines the semantics the runtime interpreter, the generated
//! Rust and the JIT are checked against.

use super::conv2d;
use super::entities::Type;
use super::error::EvalError;
use super::graph::Graph;
use super::ops::{ConvShape, Op};

/// Evaluates `graph` on a batch of `batch` samples at time `t` (the same for every sample).
///
/// `inputs[i]` is input `i`, row-major `[batch, width]`; `params` is the flat parameter
/// vector (tensors in declaration order, each row-major). Returns each output flattened
/// row-major (`[batch, width]` or the global's shape).
pub fn evaluate_f64(
    graph: &Graph,
    batch: usize,
    inputs: &[&[f64]],
    t: f64,
    params: &[f64],
) -> Result<Vec<Vec<f64>>, EvalError> {
    check_batch(graph, batch)?;
    evaluate_f64_times(graph, batch, inputs, &vec![t; batch], params)
}

/// [`evaluate_f64`] with one time per sample (`times.len() == batch`).
pub fn evaluate_f64_times(
    graph: &Graph,
    batch: usize,
    inputs: &[&[f64]],
    times: &[f64],
    params: &[f64],
) -> Result<Vec<Vec<f64>>, EvalError> {
    let values = evaluate_nodes_f64(graph, batch, inputs, times, params)?;
    Ok(graph
        .outputs
        .iter()
        .map(|v| values[v.index()].clone())
        .collect())
}

/// The value of every node (index = node number), flattened row-major.
pub fn evaluate_nodes_f64(
    graph: &Graph,
    batch: usize,
    inputs: &[&[f64]],
    times: &[f64],
    params: &[f64],
) -> Result<Vec<Vec<f64>>, EvalError> {
    check_args(graph, batch, inputs, times, params)?;
    let offsets = graph.param_offsets();
    let mut vals: Vec<Vec<f64>> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let v = |x: &super::Value| -> &[f64] { &vals[x.index()] };
        let w = |x: &super::Value| -> usize { width(&graph.nodes[x.index()].ty) };
        let out = match &node.op {
            Op::Input { index } => inputs[*index as usize].to_vec(),
            Op::Time => times.to_vec(),
            Op::Param { index } => {
                let i = *index as usize;
                params[offsets[i]..offsets[i] + graph.params[i].numel()].to_vec()
            }
            Op::Const { value, ty } => vec![*value; ty.len_for_batch(batch)],
            Op::Dense { x, w: wt, b } => {
                let (inp, x, wt) = (w(x), v(x), v(wt));
                let out = width(&node.ty);
                let mut y = vec![0.0; batch * out];
                for s in 0..batch {
                    for o in 0..out {
                        let mut acc = b.as_ref().map_or(0.0, |b| v(b)[o]);
                        for i in 0..inp {
                            acc += x[s * inp + i] * wt[o * inp + i];
                        }
                        y[s * out + o] = acc;
                    }
                }
                y
            }
            Op::DenseNT { x, w: wt } => {
                let (k, x, wt) = (w(x), v(x), v(wt));
                let m = width(&node.ty);
                let mut y = vec![0.0; batch * m];
                for s in 0..batch {
                    for j in 0..m {
                        y[s * m + j] = (0..k).map(|i| x[s * k + i] * wt[i * m + j]).sum();
                    }
                }
                y
            }
            Op::BatchOuter { a, b } => {
                let (p, q, a, b) = (w(a), w(b), v(a), v(b));
                let mut g = vec![0.0; p * q];
                for s in 0..batch {
                    for i in 0..p {
                        for j in 0..q {
                            g[i * q + j] += a[s * p + i] * b[s * q + j];
                        }
                    }
                }
                g
            }
            Op::BatchSum { x } => {
                let (wd, x) = (w(x), v(x));
                let mut g = vec![0.0; wd];
                for s in 0..batch {
                    for i in 0..wd {
                        g[i] += x[s * wd + i];
                    }
                }
                g
            }
            Op::BroadcastRows { x } => v(x).repeat(batch),
            Op::Unary { op, x } => v(x).iter().map(|&a| op.apply(a)).collect(),
            Op::Scale { x, c } => v(x).iter().map(|&a| c * a).collect(),
            Op::Binary { op, a, b } => {
                let (ta, tb) = (&graph.nodes[a.index()].ty, &graph.nodes[b.index()].ty);
                let (a, b) = (v(a), v(b));
                if ta.is_batched() {
                    let (p, q, out) = (width(ta), width(tb), width(&node.ty));
                    let mut y = vec![0.0; batch * out];
                    for s in 0..batch {
                        for i in 0..out {
                            let ai = a[s * p + if p == 1 { 0 } else { i }];
                            let bi = b[s * q + if q == 1 { 0 } else { i }];
                            y[s * out + i] = op.apply(ai, bi);
                        }
                    }
                    y
                } else {
                    a.iter().zip(b).map(|(&x, &y)| op.apply(x, y)).collect()
                }
            }
            Op::Concat { parts } => {
                let mut y = Vec::with_capacity(batch * width(&node.ty));
                for s in 0..batch {
                    for p in parts {
                        let pw = w(p);
                        y.extend_from_slice(&v(p)[s * pw..(s + 1) * pw]);
                    }
                }
                y
            }
            Op::Slice { x, start, len } => {
                let (wd, x) = (w(x), v(x));
                let mut y = Vec::with_capacity(batch * len);
                for s in 0..batch {
                    y.extend_from_slice(&x[s * wd + start..s * wd + start + len]);
                }
                y
            }
            Op::SumGroups { x, size } => {
                let x = v(x);
                let out = width(&node.ty);
                let mut y = vec![0.0; batch * out];
                for s in 0..batch {
                    for g in 0..out {
                        y[s * out + g] = (0..*size).map(|i| x[(s * out + g) * size + i]).sum();
                    }
                }
                y
            }
            Op::RepeatGroups { x, size } => v(x)
                .iter()
                .flat_map(|&a| std::iter::repeat_n(a, *size))
                .collect(),
            Op::Stencil {
                x,
                coeffs,
                n,
                channels,
            } => {
                let x = v(x);
                let r = coeffs.len() / 2;
                let mut y = vec![0.0; batch * n * channels];
                for s in 0..batch {
                    for c in 0..*channels {
                        let row = (s * channels + c) * n;
                        for i in 0..*n {
                            y[row + i] = coeffs
                                .iter()
                                .enumerate()
                                .map(|(j, cj)| cj * x[row + wrap(i + j, r, *n)])
                                .sum();
                        }
                    }
                }
                y
            }
            Op::Conv1d { x, w: k, b, shape } => {
                conv1d(v(x), v(k), b.as_ref().map(&v), shape, batch)
            }
            Op::Conv1dT { y, w: k, shape } => conv1d_t(v(y), v(k), shape, batch),
            Op::Conv1dWeightGrad { dy, x, shape } => conv1d_wgrad(v(dy), v(x), shape, batch),
            Op::Conv2d { x, w: k, b, shape } => {
                conv2d::conv2d(v(x), v(k), b.as_ref().map(&v), shape, batch)
            }
            Op::Conv2dT { y, w: k, shape } => conv2d::conv2d_t(v(y), v(k), shape, batch),
            Op::Conv2dWeightGrad { dy, x, shape } => {
                conv2d::conv2d_wgrad(v(dy), v(x), shape, batch)
            }
            Op::Squeeze { x, shape } => conv2d::squeeze(v(x), shape, batch, false),
            Op::Unsqueeze { x, shape } => conv2d::squeeze(v(x), shape, batch, true),
        };
        vals.push(out);
    }
    Ok(vals)
}

/// `(i + j − r) mod n` for `i + j` given as one index (`i < n`, any `j`, `r`).
fn wrap(i_plus_j: usize, r: usize, n: usize) -> usize {
    ((i_plus_j as i64 - r as i64).rem_euclid(n as i64)) as usize
}

fn width(ty: &Type) -> usize {
    ty.width().unwrap_or(0)
}

fn conv1d(x: &[f64], w: &[f64], b: Option<&[f64]>, s: &ConvShape, batch: usize) -> Vec<f64> {
    let (n, cin, cout, k) = (s.n, s.cin, s.cout, s.k);
    let r = k / 2;
    let mut y = vec![0.0; batch * cout * n];
    for bs in 0..batch {
        for o in 0..cout {
            for i in 0..n {
                let mut acc = b.map_or(0.0, |b| b[o]);
                for c in 0..cin {
                    for j in 0..k {
                        acc += w[(o * cin + c) * k + j] * x[(bs * cin + c) * n + wrap(i + j, r, n)];
                    }
                }
                y[(bs * cout + o) * n + i] = acc;
            }
        }
    }
    y
}

fn conv1d_t(y: &[f64], w: &[f64], s: &ConvShape, batch: usize) -> Vec<f64> {
    let (n, cin, cout, k) = (s.n, s.cin, s.cout, s.k);
    let r = k / 2;
    let mut x = vec![0.0; batch * cin * n];
    for bs in 0..batch {
        for c in 0..cin {
            for i in 0..n {
                let mut acc = 0.0;
                for o in 0..cout {
                    for j in 0..k {
                        // (i − j + r) mod n = wrap(i + (2r − j), r, n).
                        let src = wrap(i + 2 * r - j, r, n);
                        acc += w[(o * cin + c) * k + j] * y[(bs * cout + o) * n + src];
                    }
                }
                x[(bs * cin + c) * n + i] = acc;
            }
        }
    }
    x
}

fn conv1d_wgrad(dy: &[f64], x: &[f64], s: &ConvShape, batch: usize) -> Vec<f64> {
    let (n, cin, cout, k) = (s.n, s.cin, s.cout, s.k);
    let r = k / 2;
    let mut g = vec![0.0; cout * cin * k];
    for bs in 0..batch {
        for o in 0..cout {
            for c in 0..cin {
                for j in 0..k {
                    let mut acc = 0.0;
                    for i in 0..n {
                        acc +=
                            dy[(bs * cout + o) * n + i] * x[(bs * cin + c) * n + wrap(i + j, r, n)];
                    }
                    g[(o * cin + c) * k + j] += acc;
                }
            }
        }
    }
    g
}

fn check_args(
    graph: &Graph,
    batch: usize,
    inputs: &[&[f64]],
    times: &[f64],
    params: &[f64],
) -> Result<(), EvalError> {
    check_batch(graph, batch)?;
    if inputs.len() != graph.inputs.len() {
        return Err(EvalError::InputCount {
            expected: graph.inputs.len(),
            got: inputs.len(),
        });
    }
    for (index, (x, d)) in inputs.iter().zip(&graph.inputs).enumerate() {
        let expected = batch.saturating_mul(d.width);
        if x.len() != expected {
            return Err(EvalError::InputLength {
                index,
                name: d.name.clone(),
                expected,
                got: x.len(),
            });
        }
    }
    if times.len() != batch {
        return Err(EvalError::TimeLength {
            expected: batch,
            got: times.len(),
        });
    }
    if params.len() != graph.param_len() {
        return Err(EvalError::ParamLength {
            expected: graph.param_len(),
            got: params.len(),
            layout: graph.param_layout(),
        });
    }
    Ok(())
}

/// Every value (and every input) of `graph` fits in memory for `batch` samples.
fn check_batch(graph: &Graph, batch: usize) -> Result<(), EvalError> {
    let limit = isize::MAX as usize / std::mem::size_of::<f64>();
    for (node, n) in graph.values() {
        let len = match &n.ty {
            Type::Batched { width } => batch.checked_mul(*width),
            Type::Global { .. } => Some(n.ty.numel()),
        };
        if len.is_none_or(|l| l > limit) {
            return Err(EvalError::BatchTooLarge { batch, node });
        }
    }
    if batch > limit {
        return Err(EvalError::BatchTooLarge {
            batch,
            node: super::Value(0),
        });
    }
    Ok(())
}
