//! Layer helpers that expand into primitive ops, and whole networks: the runtime `Mlp`
//! ([`Graph::mlp`]) and FFJORD's ConcatSquash ODE net ([`Graph::concat_squash_mlp`]).

use super::activation::Activation;
use super::builder::GraphBuilder;
use super::entities::{Type, Value};
use super::error::IrError;
use super::graph::Graph;
use super::ops::UnaryOp;

impl GraphBuilder {
    /// `activation(x)` (no node for [`Activation::Identity`]).
    pub fn activation(&mut self, x: Value, activation: Activation) -> Result<Value, IrError> {
        match activation.unary() {
            Some(op) => self.unary(op, x),
            None => Ok(x),
        }
    }

    /// `activation(x Wᵀ + b)` with new parameters `{name}.weight [out, in]` and (when `bias`)
    /// `{name}.bias [out]` (PyTorch `nn.Linear`).
    pub fn dense_layer(
        &mut self,
        x: Value,
        name: &str,
        out: usize,
        activation: Activation,
        bias: bool,
    ) -> Result<Value, IrError> {
        let inp = self.width_of(x, "dense")?;
        let w = self.param(&format!("{name}.weight"), &[out, inp])?;
        let b = if bias {
            Some(self.param(&format!("{name}.bias"), &[out])?)
        } else {
            None
        };
        let y = self.dense(x, w, b)?;
        self.activation(y, activation)
    }

    /// `[x, t]`: the time appended as the last feature.
    pub fn time_concat(&mut self, x: Value) -> Result<Value, IrError> {
        let t = self.time()?;
        self.concat(&[x, t])
    }

    /// FFJORD's `ConcatSquashLinear`: `(W x + b) ⊙ sigmoid(W_g t + b_g) + W_b t`.
    ///
    /// New parameters, in PyTorch's registration (state-dict) order:
    /// `{name}._layer.weight [out, in]`, `{name}._layer.bias [out]`,
    /// `{name}._hyper_bias.weight [out, 1]`, `{name}._hyper_gate.weight [out, 1]`,
    /// `{name}._hyper_gate.bias [out]`.
    pub fn concat_squash(&mut self, x: Value, name: &str, out: usize) -> Result<Value, IrError> {
        let inp = self.width_of(x, "dense")?;
        let w = self.param(&format!("{name}._layer.weight"), &[out, inp])?;
        let b = self.param(&format!("{name}._layer.bias"), &[out])?;
        let wb = self.param(&format!("{name}._hyper_bias.weight"), &[out, 1])?;
        let wg = self.param(&format!("{name}._hyper_gate.weight"), &[out, 1])?;
        let bg = self.param(&format!("{name}._hyper_gate.bias"), &[out])?;
        let t = self.time()?;
        let h = self.dense(x, w, Some(b))?;
        let g = self.dense(t, wg, Some(bg))?;
        let g = self.unary(UnaryOp::Sigmoid, g)?;
        let hb = self.dense(t, wb, None)?;
        let y = self.mul(h, g)?;
        self.add(y, hb)
    }

    /// `activation(conv1d(x))` on the periodic `n`-point grid with new parameters
    /// `{name}.weight [cout, cin, k]` (`cin = width / n`) and, when `bias`,
    /// `{name}.bias [cout]` (PyTorch `Conv1d` after a circular pad of `(k − 1) / 2`).
    pub fn conv1d_layer(
        &mut self,
        x: Value,
        name: &str,
        n: usize,
        cout: usize,
        k: usize,
        activation: Activation,
        bias: bool,
    ) -> Result<Value, IrError> {
        let width = self.width_of(x, "conv1d")?;
        let cin = width.checked_div(n).unwrap_or(0).max(1);
        let w = self.param(&format!("{name}.weight"), &[cout, cin, k])?;
        let b = if bias {
            Some(self.param(&format!("{name}.bias"), &[cout])?)
        } else {
            None
        };
        let y = self.conv1d(x, w, b, n)?;
        self.activation(y, activation)
    }

    fn width_of(&self, x: Value, op: &'static str) -> Result<usize, IrError> {
        match self.ty(x) {
            Some(Type::Batched { width }) => Ok(*width),
            Some(found) => Err(IrError::ExpectedBatched {
                node: Value(self.len() as u32),
                op,
                operand: "x",
                found: found.clone(),
            }),
            None => Err(IrError::UndefinedValue {
                node: Value(self.len() as u32),
                op,
                operand: x,
                len: self.len(),
            }),
        }
    }
}

impl Graph {
    /// The runtime `Mlp`'s network: input `x [B, dim]` (and, with `time_input`, the first
    /// layer reads `[x, t]`), dense layers `layers.{k}` of widths `hidden…, dim` with
    /// `activation` after every hidden layer and none after the last. Parameters
    /// `layers.{k}.weight [out, in]`, `layers.{k}.bias [out]` in the runtime's flat order.
    pub fn mlp(
        dim: usize,
        hidden: &[usize],
        activation: Activation,
        time_input: bool,
    ) -> Result<Graph, IrError> {
        let mut b = GraphBuilder::new();
        let mut h = b.input("x", dim)?;
        if time_input {
            h = b.time_concat(h)?;
        }
        for (k, &width) in hidden.iter().chain([&dim]).enumerate() {
            let act = if k < hidden.len() {
                activation
            } else {
                Activation::Identity
            };
            h = b.dense_layer(h, &format!("layers.{k}"), width, act, true)?;
        }
        b.finish(&[h])
    }

    /// FFJORD's tabular ODE net (`ODEnet` with `layer_type="concatsquash"`): input
    /// `x [B, dim]`, ConcatSquash layers `layers.{k}` of widths `hidden…, dim` with
    /// `activation` between layers (none after the last). Parameter names as in FFJORD's
    /// state dict relative to the `ODEnet` (`layers.0._layer.weight`, …).
    pub fn concat_squash_mlp(
        dim: usize,
        hidden: &[usize],
        activation: Activation,
    ) -> Result<Graph, IrError> {
        let mut b = GraphBuilder::new();
        let mut h = b.input("x", dim)?;
        for (k, &width) in hidden.iter().chain([&dim]).enumerate() {
            h = b.concat_squash(h, &format!("layers.{k}"), width)?;
            if k < hidden.len() {
                h = b.activation(h, activation)?;
            }
        }
        b.finish(&[h])
    }
}
