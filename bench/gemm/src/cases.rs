//! The benchmarked shapes: each product's configuration, role, `m × k × n` and operand layout
//! ([`Form`]), exactly as the MLP and the convolution layers call the GEMM.

/// Operand layout of a product, as the MLP calls it (`runtime/src/models/mlp.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Form {
    /// Forward layer `X·Wᵀ` (`Mlp::dense`): `A` = activations `X` `[m, k]` row-major
    /// (strides k, 1); `B` = the MLP's cached transposed weight copy `Wᵀ` `[k, n]` row-major
    /// (strides n, 1). Overwrites `C` (the MLP adds the bias in the store, `matmul_bias`; here
    /// plain `matmul`).
    Fwd,
    /// Forward layer with `B` a strided *view* of `W` `[n, k]` row-major: `B(p, j) = W[j·k + p]`
    /// (strides 1, k), i.e. column-major `B`. Not what the MLP does (it keeps a transposed
    /// copy), included to show what the copy buys.
    FwdView,
    /// Weight gradient `gW += δᵀ·H` (`Mlp::dense_grad_params`): `δ` is `[k = batch, m = out]`
    /// row-major, so `A = δᵀ` has strides (1, m) (column-major); `B` = layer input `H`
    /// `[k = batch, n = in]` row-major (strides n, 1). Accumulates into `C` (`+=`).
    Wgrad,
    /// Input gradient `gin = δ·W` (`Mlp::dense_grad_input`): `A = δ` `[m = batch, k = out]`
    /// row-major (strides k, 1); `B = W` `[k = out, n = in]` row-major (strides n, 1).
    /// Overwrites `C`.
    Igrad,
    /// A 2-D convolution's input gradient (`linalg::conv2d`, per sample): `cols = Wᵀ·δ`,
    /// `A = Wᵀ` with W `[k = cout, m = cin·k²]` row-major (strides 1, m); `B = δ`
    /// `[k = cout, n = pixels]` row-major. Overwrites `C`.
    ConvT,
    /// A 2-D convolution's weight gradient: `gW += δ·colsᵀ`, `A = δ` `[m = cout, k = pixels]`
    /// row-major; `B = colsᵀ` with cols `[n = cin·k², k = pixels]` row-major (strides 1, k).
    /// Accumulates.
    ConvWgrad,
}

impl Form {
    /// Row and column strides of `A` (`m × k`) and `B` (`k × n`).
    pub fn strides(self, m: usize, k: usize, n: usize) -> ((usize, usize), (usize, usize)) {
        match self {
            Form::Fwd | Form::Igrad => ((k, 1), (n, 1)),
            Form::FwdView => ((k, 1), (1, k)),
            Form::Wgrad | Form::ConvT => ((1, m), (n, 1)),
            Form::ConvWgrad => ((k, 1), (1, k)),
        }
    }

    /// Whether the MLP accumulates into `C`.
    pub fn accumulate(self) -> bool {
        matches!(self, Form::Wgrad | Form::ConvWgrad)
    }

    /// Short label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Form::Fwd => "X·Wᵀ",
            Form::FwdView => "X·Wᵀ (W view)",
            Form::Wgrad => "δᵀ·H (+=)",
            Form::Igrad => "δ·W",
            Form::ConvT => "Wᵀ·δ (conv input grad)",
            Form::ConvWgrad => "δ·colsᵀ (+=, conv weight grad)",
        }
    }
}

/// One benchmarked product.
pub struct Case {
    /// Which network configuration it comes from.
    pub group: &'static str,
    /// What the product is in that network.
    pub role: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub form: Form,
}

/// The shapes: batch 256 / hidden 64 / state 2, batch 16 / hidden 32, batch 4096 / hidden 256,
/// and the per-sample products of FFJORD's image flow's 3×3 `ConcatConv2d` 64 → 64 layers
/// (65 input channels with time: k = 585) at 28×28, 14×14 and 7×7 (`linalg::conv2d`: the
/// forward `W·cols` is the `Fwd` form), and the physics example's pointwise 1-D convolution.
pub fn cases() -> Vec<Case> {
    let c = |group, role, m, k, n, form| Case {
        group,
        role,
        m,
        k,
        n,
        form,
    };
    vec![
        c("B256 H64 d2", "hidden layer", 256, 64, 64, Form::Fwd),
        c("B256 H64 d2", "hidden layer", 256, 64, 64, Form::FwdView),
        c(
            "B256 H64 d2",
            "hidden weight grad",
            64,
            256,
            64,
            Form::Wgrad,
        ),
        c("B256 H64 d2", "hidden input grad", 256, 64, 64, Form::Igrad),
        c("B256 H64 d2", "output layer", 256, 64, 2, Form::Fwd),
        c("B256 H64 d2", "input layer", 256, 2, 64, Form::Fwd),
        c("B256 H64 d2", "output weight grad", 2, 256, 64, Form::Wgrad),
        c("B256 H64 d2", "input weight grad", 64, 256, 2, Form::Wgrad),
        c("B16 H32 d2", "hidden layer", 16, 32, 32, Form::Fwd),
        c("B16 H32 d2", "hidden weight grad", 32, 16, 32, Form::Wgrad),
        c("B16 H32 d2", "output layer", 16, 32, 2, Form::Fwd),
        c("B4096 H256", "hidden layer", 4096, 256, 256, Form::Fwd),
        c("B4096 H256", "hidden layer", 4096, 256, 256, Form::FwdView),
        c(
            "B4096 H256",
            "hidden weight grad",
            256,
            4096,
            256,
            Form::Wgrad,
        ),
        // The batch-4096 MLP in row blocks sized from the L2 (256 rows at hidden 256 on a 1 MiB
        // L2): each block's forward and its share of the weight gradient.
        c("B4096 H256 rows", "256-row block", 256, 256, 256, Form::Fwd),
        c(
            "B4096 H256 rows",
            "256-row block weight grad",
            256,
            256,
            256,
            Form::Wgrad,
        ),
        c("conv 28×28 c64", "W·cols", 64, 585, 784, Form::Fwd),
        c("conv 28×28 c64", "input grad", 585, 64, 784, Form::ConvT),
        c(
            "conv 28×28 c64",
            "weight grad",
            64,
            784,
            585,
            Form::ConvWgrad,
        ),
        c("conv 14×14 c64", "W·cols", 64, 585, 196, Form::Fwd),
        c("conv 14×14 c64", "input grad", 585, 64, 196, Form::ConvT),
        c(
            "conv 14×14 c64",
            "weight grad",
            64,
            196,
            585,
            Form::ConvWgrad,
        ),
        c("conv 7×7 c64", "W·cols", 64, 585, 49, Form::Fwd),
        // The physics example's HNN++ pointwise `conv1d` 200 → 200 on 50 grid points, per
        // sample (`interp::conv_gemm`): `W·x`, `Wᵀ·ȳ` and `G += ȳ·xᵀ`.
        c(
            "conv1d 50 pts c200",
            "pointwise W·x",
            200,
            200,
            50,
            Form::Fwd,
        ),
        c(
            "conv1d 50 pts c200",
            "input grad",
            200,
            200,
            50,
            Form::ConvT,
        ),
        c(
            "conv1d 50 pts c200",
            "weight grad",
            200,
            50,
            200,
            Form::ConvWgrad,
        ),
    ]
}
