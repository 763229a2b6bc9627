//! A batched multilayer perceptron `f(x, t; θ)` configured at run time: layers, buffers and
//! passes over one block of rows here, the [`Dynamics`] implementation that runs large batches
//! block by block in the child module `row_blocks`.

use symplode_codegen::ir::{Graph, IrError};

use crate::interp::InterpError;
use crate::second_order::{SecondOrder, TangentCache, TangentSystem};

mod row_blocks;

use crate::dynamics::Dynamics;
use crate::linalg::dense::DenseLayer;
use crate::linalg::elementwise::ActivationKernels;
use crate::linalg::matmul::MatRef;
use crate::models::error::ModelError;
use crate::models::{Activation, Saved};
use crate::real::Real;
use crate::rng::Rng;

/// Shape of an [`Mlp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlpConfig {
    /// State dimension d: the output width, and the input width without the time column.
    pub dim: usize,
    /// Hidden layer widths, input side first; empty for a single affine layer.
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer (none after the output layer).
    pub activation: Activation,
    /// When true the network reads `[x, t]` (d + 1 features, time last); otherwise `x`.
    pub time_input: bool,
}

impl MlpConfig {
    /// A configuration (not yet validated; [`Mlp::new`] and [`Mlp::from_params`] validate).
    pub fn new(dim: usize, hidden: Vec<usize>, activation: Activation, time_input: bool) -> Self {
        MlpConfig {
            dim,
            hidden,
            activation,
            time_input,
        }
    }

    /// Width of the network's input: `dim + 1` with time input, else `dim` (saturating:
    /// [`MlpConfig::n_params`] refuses a `dim` that leaves no room for the time column).
    pub fn input_width(&self) -> usize {
        self.dim.saturating_add(usize::from(self.time_input))
    }

    /// The network as an IR graph ([`Graph::mlp`]): the same layers, parameter names and
    /// flat order, so `Interpreted::new(config.graph()?, mlp.params().to_vec())` (and the JIT
    /// over it) computes what the `Mlp` computes: bit for bit with `tanh` (the plan's
    /// `DenseTime` step folds the time into the first bias as the `Mlp` does, and both
    /// accumulate bias and time-column gradients row by row); with other activations the
    /// derivative is the AD graph's expression rather than `ActivationKernels`', equal to
    /// rounding.
    ///
    /// # Errors
    /// A configuration the IR rejects (a zero width).
    pub fn graph(&self) -> Result<Graph, IrError> {
        Graph::mlp(self.dim, &self.hidden, self.activation, self.time_input)
    }

    /// All layer widths, input first: `[input_width, hidden…, dim]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = Vec::with_capacity(self.hidden.len() + 2);
        w.push(self.input_width());
        w.extend_from_slice(&self.hidden);
        w.push(self.dim);
        w
    }

    /// Checks the configuration and returns the number of parameters.
    pub fn n_params(&self) -> Result<usize, ModelError> {
        let bad = |field: String, reason: &str| ModelError::InvalidConfig {
            model: "Mlp",
            field,
            reason: reason.to_owned(),
        };
        if self.dim == 0 {
            return Err(bad("dim".into(), "the state dimension must be at least 1"));
        }
        if self.dim.checked_add(usize::from(self.time_input)).is_none() {
            return Err(bad(
                "dim".into(),
                "the state dimension plus the time input overflows usize",
            ));
        }
        if let Some(k) = self.hidden.iter().position(|&h| h == 0) {
            return Err(bad(
                format!("hidden[{k}]"),
                "a hidden layer must have width ≥ 1",
            ));
        }
        let w = self.widths();
        let mut n = 0usize;
        for pair in w.windows(2) {
            let layer = pair[1]
                .checked_mul(pair[0])
                .and_then(|x| x.checked_add(pair[1]))
                .and_then(|x| n.checked_add(x));
            n = layer.ok_or_else(|| bad("hidden".into(), "parameter count overflows usize"))?;
        }
        Ok(n)
    }
}

/// One dense layer: its place in the flat parameters, and the offset of its `[k, out]`
/// block in the transposed weights ([`WeightCache`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layer {
    /// Sizes and parameter offsets (the time column of layer 0 folded into its bias).
    dense: DenseLayer,
    /// Offset of the `[k, out]` block of this layer in the transposed weights.
    wt: usize,
}

/// A batched MLP `dx/dt = f(x, t; θ)`: dense layers `Y = X Wᵀ + b` with an activation between
/// layers and none after the last.
///
/// Parameters are one flat vector in PyTorch `nn.Linear` layout, layer by layer: weight
/// `[out, in]` row-major, then bias `[out]`, named `layers.{k}.weight` / `layers.{k}.bias`.
/// With [`MlpConfig::time_input`] the first layer's input is `[x, t]` (time last), so
/// `layers.0.weight` is `[h₀, d + 1]`.
///
/// Batches of more than [`Mlp::row_block`] rows (by default the rows whose widest activation
/// fills half the L2) run block by block, each block through every layer.
///
/// Memory (elements, batch B, block R' = min(B, row block), hidden widths hₖ, H = max hₖ, L =
/// number of hidden layers):
/// - tape (`eval_taped`): `B·Σhₖ` (each hidden layer's output, or its pre-activation for
///   `silu`, which also keeps one `B·H` work buffer on the tape because `eval_taped` has no
///   scratch argument);
/// - scratch: one block's tape plus the backward's buffers (`R'·Σhₖ + min(L, 2)·R'·H`, another
///   `R'·H` for `silu`; bias and time-column gradients accumulate into `gp` row by row). `eval`
///   alone needs only `min(L, 2)·R'·H` of it.
///
/// `eval`, `vjp`, `eval_taped` and `backward_taped` never allocate: every layer is a
/// [`DenseLayer`] of [`crate::linalg::dense`] (the functions `neural_ode!`'s code and the
/// interpreter call), and the `[x, t]` input is never materialised (the time column is folded
/// into the first layer's bias, `b + t·W[:, d]`). The same network as an IR graph, for the
/// interpreter and the JIT: [`MlpConfig::graph`].
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<T: Real> {
    config: MlpConfig,
    layers: Vec<Layer>,
    params: Vec<T>,
    max_hidden: usize,
    sum_hidden: usize,
    wt: WeightCache<T>,
    /// The compiled tangent system of [`MlpConfig::graph`], built on first use.
    tangent: TangentCache<T>,
    /// Rows per block of a large batch ([`Mlp::with_row_block`]).
    rows: usize,
}

/// Transposed copies of the weights, `W[:, :k]ᵀ` row-major `[k, out]` for every layer (k: the
/// columns that multiply a matrix), made on the first evaluation after the parameters change
/// ([`Dynamics::params_mut`] drops them). With them the products `X·Wᵀ` read `B` row by row,
/// so the GEMM packs it with plain copies, or reads it in place at small batch, instead of
/// transposing the weights on every evaluation (at batch 16, hidden 32 the transposing pack
/// took half of the 16 × 32 × 32 product). One cache per model; it never changes a result.
#[derive(Clone, Default)]
struct WeightCache<T>(std::sync::OnceLock<Vec<T>>);

impl<T> PartialEq for WeightCache<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for WeightCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeightCache")
    }
}

impl<T: Real> Mlp<T> {
    /// A network with PyTorch's default `nn.Linear` initialisation: every weight and bias of a
    /// layer with `fan_in` inputs uniform in `(−1/√fan_in, 1/√fan_in)`, drawn from
    /// [`Rng::new(seed)`](Rng::new) layer by layer (weight row-major, then bias).
    pub fn new(config: MlpConfig, seed: u64) -> Result<Self, ModelError> {
        let n = config.n_params()?;
        let mut rng = Rng::new(seed);
        let mut params = Vec::with_capacity(n);
        for pair in config.widths().windows(2) {
            let (fan_in, out) = (pair[0], pair[1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            for _ in 0..out * fan_in + out {
                params.push(T::of(rng.uniform_range(-bound, bound)));
            }
        }
        Self::from_params(config, params)
    }

    /// A network with the given flat parameter vector (layout as in the type's documentation).
    /// Fails when the configuration is invalid, the count is wrong (the error gives the expected
    /// count and its make-up), or a value is NaN/infinite (the error names tensor and index).
    pub fn from_params(config: MlpConfig, params: Vec<T>) -> Result<Self, ModelError> {
        let expected = config.n_params()?;
        let widths = config.widths();
        let mut layers = Vec::with_capacity(widths.len() - 1);
        let (mut off, mut wt) = (0, 0);
        for (l, pair) in widths.windows(2).enumerate() {
            let (inp, out) = (pair[0], pair[1]);
            let k = if l == 0 && config.time_input {
                config.dim
            } else {
                inp
            };
            layers.push(Layer {
                dense: DenseLayer {
                    inp,
                    out,
                    k,
                    w: off,
                    b: off + out * inp,
                },
                wt,
            });
            off += out * inp + out;
            wt += k * out;
        }
        let max_hidden = config.hidden.iter().copied().max().unwrap_or(0);
        let mut mlp = Mlp {
            max_hidden,
            sum_hidden: config.hidden.iter().sum(),
            rows: row_blocks::default_row_block(max_hidden, size_of::<T>()),
            config,
            layers,
            params: Vec::new(),
            wt: WeightCache::default(),
            tangent: TangentCache::default(),
        };
        if params.len() != expected {
            let layout = mlp
                .param_tensors()
                .iter()
                .map(|t| format!("{} {:?}", t.name, t.shape))
                .collect::<Vec<_>>()
                .join(" + ");
            return Err(ModelError::ParamCount {
                model: "Mlp",
                expected,
                got: params.len(),
                layout,
            });
        }
        for t in mlp.param_tensors() {
            if let Some(i) = params[t.range()].iter().position(|v| !v.is_finite()) {
                return Err(ModelError::NonFinite {
                    model: "Mlp",
                    tensor: t.name,
                    index: i,
                    value: params[t.offset + i].to_string(),
                });
            }
        }
        mlp.params = params;
        Ok(mlp)
    }

    /// The configuration.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The same network in another precision (parameters converted through f64), with the
    /// default row block of that precision.
    pub fn cast<U: Real>(&self) -> Mlp<U> {
        Mlp {
            config: self.config.clone(),
            layers: self.layers.clone(),
            params: self.params.iter().map(|v| U::of(v.f64())).collect(),
            max_hidden: self.max_hidden,
            sum_hidden: self.sum_hidden,
            wt: WeightCache::default(),
            tangent: TangentCache::default(),
            rows: row_blocks::default_row_block(self.max_hidden, size_of::<U>()),
        }
    }

    /// Number of hidden layers.
    fn n_hidden(&self) -> usize {
        self.layers.len() - 1
    }

    /// True when the activation's derivative needs the pre-activation (`silu`).
    fn saves_input(&self) -> bool {
        self.config.activation.saves() == Saved::Input && self.n_hidden() > 0
    }

    /// Elements of the `silu` work buffer (0 for other activations).
    fn work_len(&self, batch: usize) -> usize {
        if self.saves_input() {
            batch.saturating_mul(self.max_hidden)
        } else {
            0
        }
    }

    /// Elements of one ping-pong buffer set: `min(L, 2)·B·H`.
    fn pingpong_len(&self, batch: usize) -> usize {
        self.n_hidden()
            .min(2)
            .saturating_mul(batch.saturating_mul(self.max_hidden))
    }

    /// Scratch elements used by the backward sweep.
    fn backward_len(&self, batch: usize) -> usize {
        if batch == 0 {
            return 0;
        }
        self.pingpong_len(batch)
            .saturating_add(self.work_len(batch))
    }

    /// The transposed weights of every layer (see [`WeightCache`]); layer `l`'s `[k, out]`
    /// block starts at `layers[l].wt`.
    fn transposed(&self) -> &[T] {
        self.wt.0.get_or_init(|| {
            let total = self.layers.iter().map(|ly| ly.dense.k * ly.dense.out).sum();
            let mut wt = Vec::with_capacity(total);
            for ly in self.layers.iter().map(|l| l.dense) {
                let w = &self.params[ly.w..ly.w + ly.out * ly.inp];
                for p in 0..ly.k {
                    wt.extend((0..ly.out).map(|j| w[j * ly.inp + p]));
                }
            }
            wt
        })
    }

    /// `out = input · W[:, :k]ᵀ + b (+ t·W[:, k] for the time column)`, `batch ≥ 1` rows,
    /// with the weights read from the transposed cache.
    fn dense(&self, l: usize, t: T, input: &[T], out: &mut [T], batch: usize) {
        let Layer { dense: ly, wt } = self.layers[l];
        let wt = MatRef::row_major(&self.transposed()[wt..wt + ly.k * ly.out], ly.k, ly.out);
        ly.forward(&self.params, wt, t, input, out, batch);
    }

    /// [`Mlp::dense`] with one time per row (only layer 0 reads the time).
    fn dense_rows(&self, l: usize, times: &[T], input: &[T], out: &mut [T], batch: usize) {
        let Layer { dense: ly, wt } = self.layers[l];
        let wt = MatRef::row_major(&self.transposed()[wt..wt + ly.k * ly.out], ly.k, ly.out);
        ly.forward_rows(&self.params, wt, times, input, out, batch);
    }

    /// `gW += δᵀ·input`, `gb += Σ_rows δ` (and the time column `gW[:, k] += t·Σ_rows δ`, or
    /// `Σ_r t_r·δ_r` with one time per row).
    #[allow(clippy::too_many_arguments)]
    fn dense_grad_params(
        &self,
        l: usize,
        t: Time<'_, T>,
        delta: &[T],
        input: &[T],
        gp: &mut [T],
        batch: usize,
    ) {
        let ly = self.layers[l].dense;
        match t {
            Time::One(t) => ly.grad_params(t, delta, input, gp, batch),
            Time::Rows(ts) => ly.grad_params_rows(ts, delta, input, gp, batch),
        }
    }

    /// `gin = δ · W[:, :k]` (the time column's gradient is not needed).
    fn dense_grad_input(&self, l: usize, delta: &[T], gin: &mut [T], batch: usize) {
        self.layers[l]
            .dense
            .grad_input(&self.params, delta, gin, batch);
    }

    /// Runs the hidden layers, keeping each layer's saved tensor on `tape` (and, for `silu`,
    /// the last hidden output in the tape's work buffer). `batch ≥ 1`.
    fn forward_hidden_taped(&self, t: Time<'_, T>, x: &[T], tape: &mut [T], batch: usize) {
        let act = self.config.activation;
        let saves_input = self.saves_input();
        let (saved, work) = tape.split_at_mut(batch * self.sum_hidden);
        let mut off = 0;
        let mut prev = 0;
        for l in 0..self.n_hidden() {
            let len = batch * self.layers[l].dense.out;
            let (done, cur) = saved.split_at_mut(off);
            let cur = &mut cur[..len];
            let input: &[T] = if l == 0 {
                x
            } else if saves_input {
                &work[..prev]
            } else {
                &done[off - prev..]
            };
            t.dense(self, l, input, cur, batch);
            if saves_input {
                act.apply_to(cur, &mut work[..len]);
            } else {
                act.apply(cur);
            }
            prev = len;
            off += len;
        }
    }

    /// The output layer's input after [`Mlp::forward_hidden_taped`].
    fn taped_last_hidden<'a>(&self, x: &'a [T], tape: &'a [T], batch: usize) -> &'a [T] {
        let nh = self.n_hidden();
        if nh == 0 {
            return x;
        }
        let len = batch * self.layers[nh - 1].dense.out;
        if self.saves_input() {
            &tape[batch * self.sum_hidden..][..len]
        } else {
            &tape[batch * self.sum_hidden - len..batch * self.sum_hidden]
        }
    }

    /// The backward sweep over a tape written by [`Mlp::forward_hidden_taped`]. `batch ≥ 1`.
    fn backward(
        &self,
        t: Time<'_, T>,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
        batch: usize,
    ) {
        let act = self.config.activation;
        let nh = self.n_hidden();
        let hb = batch * self.max_hidden;
        let (gbuf, rest) = scratch.split_at_mut(self.pingpong_len(batch));
        let (h0, h1) = gbuf.split_at_mut(hb.min(gbuf.len()));
        let (ybuf, _) = rest.split_at_mut(self.work_len(batch));
        // Offsets of the hidden layers' saved tensors on the tape.
        let saved = |l: usize| -> &[T] {
            let off: usize = self.layers[..l]
                .iter()
                .map(|ly| ly.dense.out)
                .sum::<usize>()
                * batch;
            &tape[off..off + batch * self.layers[l].dense.out]
        };
        for l in (0..=nh).rev() {
            let ly = self.layers[l].dense;
            let (src, dst) = if l % 2 == 0 {
                (&*h0, &mut *h1)
            } else {
                (&*h1, &mut *h0)
            };
            let delta: &[T] = if l == nh {
                &lam[..batch * ly.out]
            } else {
                &src[..batch * ly.out]
            };
            let input: &[T] = if l == 0 {
                x
            } else if self.saves_input() {
                let y = &mut ybuf[..batch * ly.inp];
                act.apply_to(saved(l - 1), y);
                y
            } else {
                saved(l - 1)
            };
            self.dense_grad_params(l, t, delta, input, gp, batch);
            if l > 0 {
                let g = &mut dst[..batch * ly.inp];
                self.dense_grad_input(l, delta, g, batch);
                act.mul_derivative(saved(l - 1), g);
            } else {
                self.dense_grad_input(0, delta, gx, batch);
            }
        }
    }
}

/// One time for the whole batch, or one per row.
#[derive(Clone, Copy)]
enum Time<'a, T> {
    One(T),
    Rows(&'a [T]),
}

impl<T: Real> Time<'_, T> {
    fn dense(self, net: &Mlp<T>, l: usize, input: &[T], out: &mut [T], batch: usize) {
        match self {
            Time::One(t) => net.dense(l, t, input, out, batch),
            Time::Rows(t) => net.dense_rows(l, t, input, out, batch),
        }
    }
}

impl<T: Real> Mlp<T> {
    /// [`Dynamics::eval`] at one time or one time per row.
    fn eval_with(&self, time: Time<'_, T>, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let batch = x.len() / self.config.dim;
        debug_assert!(dx.len() >= batch * self.config.dim);
        debug_assert!(scratch.len() >= self.pingpong_len(batch));
        if batch == 0 {
            return;
        }
        let act = self.config.activation;
        let nh = self.n_hidden();
        let hb = batch * self.max_hidden;
        let buf = &mut scratch[..self.pingpong_len(batch)];
        let (b0, b1) = buf.split_at_mut(hb.min(buf.len()));
        // Hidden layer l writes buffer l % 2 and reads the other one.
        for l in 0..nh {
            let (src, dst) = if l % 2 == 0 {
                (&*b1, &mut *b0)
            } else {
                (&*b0, &mut *b1)
            };
            let input = if l == 0 { x } else { src };
            let out = &mut dst[..batch * self.layers[l].dense.out];
            time.dense(self, l, input, out, batch);
            act.apply(out);
        }
        let input: &[T] = match nh {
            0 => x,
            _ if (nh - 1).is_multiple_of(2) => b0,
            _ => b1,
        };
        time.dense(self, nh, input, dx, batch);
    }
}

/// Through the IR: the tangent system of [`MlpConfig::graph`] (same parameter layout), run by
/// the interpreter.
impl<T: Real> SecondOrder<T> for Mlp<T> {
    fn tangent_system(&self, direction: &[T]) -> Result<TangentSystem<T>, InterpError> {
        self.tangent.system(
            || Ok(self.config.graph()?),
            &self.params,
            &self.param_tensors(),
            |_| &[],
            direction,
        )
    }
}
