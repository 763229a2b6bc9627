//! [`FlowSpec`]: a continuous normalizing flow described in a TOML model file (feature
//! `model-files`), the counterpart of [`crate::io::ModelSpec`] for `symplode train` on
//! samples. The layers are those of the `neural_ode!` DSL (`concat_squash`, `dense`), built
//! by [`symplode_codegen::dsl::build_graph`]; tensors are named `layers.{k}.…`.
//! (One file over 600 lines with its unit tests, about 100 of them: one parser for both flow
//! forms, whose field checks share the raw TOML record and the error builder.)
//!
//! ```toml
//! form = "cnf"             # marks a flow model file
//! dim = 2                  # sample dimension d
//! time_length = 0.5        # integrate over [0, T] (FFJORD's time_length)
//! trace = "hutchinson"     # training divergence: "hutchinson" (default) or "exact"
//! noise = "gaussian"       # Hutchinson's ε: "gaussian" (default) or "rademacher"
//! tableau = "dopri5"
//!
//! [[layers]]
//! kind = "concat_squash"   # or "dense" (then [z, t] is its input)
//! out = 64
//! activation = "tanh"
//! [[layers]]
//! kind = "concat_squash"
//! out = 2                  # the last layer gives dz/dt: out = dim, no activation
//!
//! [solver]
//! rtol = 1e-5
//! atol = 1e-5
//! ```
//!
//! `blocks = M` (default 1, at most 64) stacks `M` CNF blocks of these layers, each with its
//! own parameters, FFJORD's tabular flow (`train_tabular.py --num_blocks M`; BSDS300: M = 2):
//! the library's [`TabularFlow`](symplode_runtime::models::tabular_flow::TabularFlow) as a
//! [`FlowChain`] ([`FlowSpec::build_chain`]), block `b` over `[b·T, (b+1)·T]`, tensors
//! `blocks.{b}.layers.{k}.…` (FFJORD's `chain.{b}.odefunc.odefunc.diffeq.layers.{k}.…`), one
//! Hutchinson probe per block in the batch rows (or the exact trace), evaluated with the exact
//! trace. With `blocks = 1` the file is one vector field as before (`layers.{k}.…`).
//!
//! An image flow (`form = "image_flow"`, for `[data] builtin = "fashion-mnist"`) is FFJORD's
//! multiscale flow (`ODENVP`) of the library's
//! [`ImageFlow`](symplode_runtime::models::image_flow::ImageFlow): `scales`, `blocks` CNF
//! blocks on each side of a squeeze, each block FFJORD's `ODEnet` of `ConcatConv2d` 3×3 layers
//! with softplus ([`symplode_runtime::models::image_flow::block_net`]). With `scales = blocks
//! = 1` (the defaults) it is one CNF block on the whole image, tensors
//! `layers.{i}._layer.weight`/`.bias`, trained like a dense flow (noise in the state, default
//! `time_length` 0.5); with more it is a chain ([`FlowSpec::chain`],
//! [`FlowSpec::build_chain`] → [`FlowChain`]): tensors `blocks.{b}.layers.{i}._layer.…`, one
//! Hutchinson probe per block, Hutchinson only, default `time_length` 1.0 per block (FFJORD's
//! `train_cnf.py`). A zero `scales`/`blocks`, or image sides not divisible by
//! `2^(scales − 1)`, is an error naming the field.
//!
//! ```toml
//! form = "image_flow"
//! image = [1, 28, 28]      # [channels, height, width]; dim = c·h·w
//! hidden = [64, 64, 64]    # hidden channels (default FFJORD's 64-64-64)
//! scales = 3               # FFJORD's MNIST model: 3 scales, 2 blocks (10 CNF blocks)
//! blocks = 2
//! noise = "rademacher"
//! tableau = "dopri5"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use symplode_codegen::dsl::{FormSpec, LayerKind, LayerSpec, build_graph};
use symplode_codegen::ir::{Activation, Graph};
use symplode_codegen::tableau::Tableau;
use symplode_runtime::Real;
use symplode_runtime::interp::Interpreted;

use symplode_runtime::models::image_flow::{self, BlockSpec, ImageFlowConfig, block_net};

use symplode_codegen::ad::Trace;
use symplode_runtime::models::tabular_flow::TabularFlow;

use super::flow::{FlowTrace, Noise, flow_graph, init_params};
use super::{FlowChain, TrainModel};
use crate::io::{IoError, SafeTensors, SolverSpec, read_text, resolve_tableau, toml_error};

/// Largest dimension or width a flow file may give (as a model spec).
const MAX_WIDTH: usize = 1 << 24;

/// Most CNF blocks per squeeze side an image flow file may give.
const MAX_BLOCKS: usize = 64;
/// Most scales an image flow file may give.
const MAX_SCALES: usize = 16;

/// The `form` of an image flow model file.
pub const IMAGE_FORM: &str = "image_flow";

/// The `ImageFlowConfig` of a `form = "image_flow"` file: `image = [c, h, w]`, `hidden`
/// channels, `scales` (each side divisible by `2^(scales − 1)`) and `blocks` (default 1 each:
/// one CNF block on the whole image).
fn image_config(
    raw: &Raw,
    bad: &dyn Fn(String, String) -> IoError,
) -> Result<ImageFlowConfig, IoError> {
    if raw.dim.is_some() {
        return Err(bad(
            "dim".into(),
            "not for an image flow (its dimension is c·h·w of `image`)".into(),
        ));
    }
    if !raw.layers.is_empty() {
        return Err(bad(
            "layers".into(),
            "not for an image flow (give `hidden` channels)".into(),
        ));
    }
    let image = match raw.image.as_deref() {
        Some(&[c, h, w]) if c > 0 && h > 0 && w > 0 && c * h * w <= MAX_WIDTH => [c, h, w],
        Some(o) => {
            return Err(bad(
                "image".into(),
                format!("{o:?}; must be [channels, height, width], each ≥ 1"),
            ));
        }
        None => {
            return Err(bad(
                "image".into(),
                "missing, e.g. image = [1, 28, 28]".into(),
            ));
        }
    };
    let (scales, blocks) = (raw.scales.unwrap_or(1), raw.blocks.unwrap_or(1));
    if blocks == 0 || blocks > MAX_BLOCKS {
        return Err(bad(
            "blocks".into(),
            format!("{blocks}; CNF blocks per squeeze side must be in 1..={MAX_BLOCKS}"),
        ));
    }
    let [_, h, w] = image;
    let side = 1usize.checked_shl(scales.saturating_sub(1) as u32);
    match side {
        _ if scales == 0 => {
            return Err(bad(
                "scales".into(),
                "0; must be ≥ 1 (1: one scale, no squeeze)".into(),
            ));
        }
        Some(s) if scales <= MAX_SCALES && h.is_multiple_of(s) && w.is_multiple_of(s) => {}
        _ => {
            return Err(bad(
                "scales".into(),
                format!(
                    "{scales}; the image sides {h} and {w} must be divisible by \
                     2^(scales − 1) (each scale but the last squeezes 2×2), and scales ≤ \
                     {MAX_SCALES}"
                ),
            ));
        }
    }
    let hidden = raw.hidden.clone().unwrap_or_else(|| vec![64, 64, 64]);
    if let Some(&h) = hidden.iter().find(|&&h| h == 0 || h > MAX_WIDTH) {
        return Err(bad(
            "hidden".into(),
            format!("{h}; every hidden width must be in 1..={MAX_WIDTH}"),
        ));
    }
    Ok(ImageFlowConfig {
        image,
        scales,
        blocks,
        hidden,
    })
}

/// The number of CNF blocks of an image flow configuration.
fn chain_len(c: &ImageFlowConfig) -> usize {
    image_flow::architecture(c.image[0], c.scales, c.blocks).len()
}

/// A flow model file, parsed and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSpec {
    /// Sample dimension d.
    pub dim: usize,
    /// Integration time T.
    pub time_length: f64,
    /// The training divergence.
    pub trace: FlowTrace,
    /// The layers of `f(z, t)`.
    pub layers: Vec<LayerSpec>,
    /// A built-in tableau name or a tableau file (relative to the model file).
    pub tableau: Option<String>,
    /// Solver options.
    pub solver: SolverSpec,
    /// For `form = "image_flow"`: the image CNF (then `layers` is empty and `dim = c·h·w`).
    pub image: Option<ImageFlowConfig>,
    /// For `form = "cnf"`: the CNF blocks `M` of the tabular flow (1: one vector field; an
    /// image flow's blocks are in [`FlowSpec::image`]).
    pub blocks: usize,
    origin: String,
    dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    form: String,
    dim: Option<usize>,
    image: Option<Vec<usize>>,
    scales: Option<usize>,
    blocks: Option<usize>,
    hidden: Option<Vec<usize>>,
    time_length: Option<f64>,
    trace: Option<String>,
    noise: Option<String>,
    tableau: Option<String>,
    #[serde(default)]
    layers: Vec<RawLayer>,
    #[serde(default)]
    solver: SolverSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    kind: Option<String>,
    out: usize,
    activation: Option<String>,
}

/// Whether a model file's text declares a flow (`form = "cnf"` or `form = "image_flow"` at
/// the top level).
pub fn is_flow_file(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| {
            t.get("form")
                .and_then(|f| f.as_str().map(|s| s == "cnf" || s == IMAGE_FORM))
        })
        .unwrap_or(false)
}

/// Whether the model file at `path` is a flow model file (read as the model readers read: a
/// regular file of bounded size, so a device or FIFO is an error naming it, never a hang).
pub fn is_flow_model_file(path: impl AsRef<Path>) -> Result<bool, IoError> {
    Ok(is_flow_file(&read_text(path.as_ref())?))
}

impl FlowSpec {
    /// Reads a flow model file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, IoError> {
        let path = path.as_ref();
        let mut spec = Self::parse(&read_text(path)?, &path.display().to_string())?;
        spec.dir = path.parent().map(Path::to_path_buf);
        Ok(spec)
    }

    /// Parses and checks flow-file text; `origin` names it in errors, every error names the
    /// field.
    pub fn parse(text: &str, origin: &str) -> Result<Self, IoError> {
        let raw: Raw = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        let bad = |field: String, reason: String| IoError::Field {
            origin: origin.to_string(),
            field,
            reason,
        };
        if raw.form != "cnf" && raw.form != IMAGE_FORM {
            return Err(bad(
                "form".into(),
                format!(
                    "`{}`; a flow model file has form = \"cnf\" or \"{IMAGE_FORM}\"",
                    raw.form
                ),
            ));
        }
        let image = if raw.form == IMAGE_FORM {
            Some(image_config(&raw, &bad)?)
        } else {
            for (f, v) in [
                ("image", raw.image.is_some()),
                ("scales", raw.scales.is_some()),
                ("hidden", raw.hidden.is_some()),
            ] {
                if v {
                    return Err(bad(f.into(), format!("only for form = \"{IMAGE_FORM}\"")));
                }
            }
            None
        };
        let blocks = match (&image, raw.blocks) {
            (Some(_), _) | (None, None) => 1,
            (None, Some(m)) if (1..=MAX_BLOCKS).contains(&m) => m,
            (None, Some(m)) => {
                return Err(bad(
                    "blocks".into(),
                    format!(
                        "{m}; the CNF blocks of a tabular flow (FFJORD's num_blocks) must be \
                         in 1..={MAX_BLOCKS}"
                    ),
                ));
            }
        };
        let dim = match (&image, raw.dim) {
            (Some(c), _) => c.dim(),
            (None, Some(d)) => d,
            (None, None) => return Err(bad("dim".into(), "missing (the sample dimension)".into())),
        };
        if dim == 0 || dim > MAX_WIDTH {
            return Err(bad(
                "dim".into(),
                format!("{dim}; must be in 1..={MAX_WIDTH}"),
            ));
        }
        // FFJORD's defaults: 0.5 for its toy flows, 1.0 for its multiscale image flow
        // (`train_cnf.py`); a one-block image flow keeps the 0.5 it always had.
        let chain = image.as_ref().is_some_and(|c| chain_len(c) > 1);
        let time_length = raw.time_length.unwrap_or(if chain { 1.0 } else { 0.5 });
        if !(time_length.is_finite() && time_length > 0.0) {
            return Err(bad(
                "time_length".into(),
                format!("{time_length}; must be finite and > 0"),
            ));
        }
        let noise = match raw.noise.as_deref() {
            None | Some("gaussian") => Noise::Gaussian,
            Some("rademacher") => Noise::Rademacher,
            Some(o) => {
                return Err(bad(
                    "noise".into(),
                    format!("`{o}`; use \"gaussian\" or \"rademacher\""),
                ));
            }
        };
        let trace = match raw.trace.as_deref() {
            None | Some("hutchinson") => FlowTrace::Hutchinson(noise),
            Some("exact") if raw.noise.is_some() => {
                return Err(bad(
                    "noise".into(),
                    "only for trace = \"hutchinson\"".into(),
                ));
            }
            Some("exact") => FlowTrace::Exact,
            Some(o) => {
                return Err(bad(
                    "trace".into(),
                    format!("`{o}`; use \"hutchinson\" or \"exact\""),
                ));
            }
        };
        if chain && trace == FlowTrace::Exact {
            return Err(bad(
                "trace".into(),
                "\"exact\" is not available for a multiscale image flow (scales/blocks give \
                 more than one CNF block): it is trained and evaluated with Hutchinson's \
                 estimator"
                    .into(),
            ));
        }
        if image.is_some() {
            raw.solver.check(origin)?;
            let spec = FlowSpec {
                dim,
                time_length,
                trace,
                layers: Vec::new(),
                tableau: raw.tableau,
                solver: raw.solver,
                image,
                blocks,
                origin: origin.to_string(),
                dir: None,
            };
            spec.block_graphs()?;
            return Ok(spec);
        }
        let Some(last) = raw.layers.len().checked_sub(1) else {
            return Err(bad(
                "layers".into(),
                "need at least one [[layers]] entry (the output layer)".into(),
            ));
        };
        let mut layers = Vec::with_capacity(raw.layers.len());
        for (k, l) in raw.layers.iter().enumerate() {
            let at = |f: &str| format!("layers[{k}].{f}");
            let kind = match l.kind.as_deref() {
                None | Some("concat_squash") => LayerKind::ConcatSquash,
                Some("dense") => LayerKind::Dense,
                Some("conv2d") => {
                    return Err(bad(
                        at("kind"),
                        "`conv2d` is not a flow layer of model files yet (image flows need a \
                         conv model)"
                            .into(),
                    ));
                }
                Some(o) => {
                    return Err(bad(
                        at("kind"),
                        format!("`{o}`; use \"concat_squash\" or \"dense\""),
                    ));
                }
            };
            if l.out == 0 || l.out > MAX_WIDTH {
                return Err(bad(
                    at("out"),
                    format!("{}; must be in 1..={MAX_WIDTH}", l.out),
                ));
            }
            let activation = match l.activation.as_deref() {
                None => None,
                Some(_) if k == last => {
                    return Err(bad(
                        at("activation"),
                        "the last layer gives dz/dt and takes no activation".into(),
                    ));
                }
                Some(name) => {
                    let a: Activation = name.parse().map_err(|_| {
                        bad(
                            at("activation"),
                            format!(
                                "unknown activation `{name}`; valid names: {}",
                                Activation::NAMES.join(", ")
                            ),
                        )
                    })?;
                    (a != Activation::Identity).then_some(a)
                }
            };
            if k == last && l.out != dim {
                return Err(bad(
                    at("out"),
                    format!(
                        "the last layer gives dz/dt, so out must equal dim = {}, got {}",
                        dim, l.out
                    ),
                ));
            }
            layers.push(LayerSpec {
                kind,
                width: l.out,
                activation,
            });
        }
        raw.solver.check(origin)?;
        let spec = FlowSpec {
            dim,
            time_length,
            trace,
            layers,
            tableau: raw.tableau,
            solver: raw.solver,
            image: None,
            blocks,
            origin: origin.to_string(),
            dir: None,
        };
        spec.field_graph()?;
        Ok(spec)
    }

    /// The file this spec came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A one-line description, e.g. `flow 2 → 16 concat_squash tanh → 2 concat_squash, T 0.5`.
    pub fn summary(&self) -> String {
        if let Some(c) = self.chain() {
            return format!(
                "multiscale image flow {:?}, {} scale(s), {} block(s) per squeeze side ({} CNF \
                 blocks), hidden {:?}, T {} per block",
                c.image,
                c.scales,
                c.blocks,
                chain_len(c),
                c.hidden,
                self.time_length
            );
        }
        let mut s = format!("flow {}", self.dim);
        for l in &self.layers {
            let kind = match l.kind {
                LayerKind::Dense => "dense",
                _ => "concat_squash",
            };
            s.push_str(&format!(" → {} {kind}", l.width));
            if let Some(a) = l.activation {
                s.push_str(&format!(" {a}"));
            }
        }
        if self.blocks > 1 {
            s = format!("{} CNF blocks of {s}", self.blocks);
            s.push_str(&format!(", T {} per block", self.time_length));
        } else {
            s.push_str(&format!(", T {}", self.time_length));
        }
        s
    }

    /// Whether the file describes a chain of CNF blocks ([`FlowSpec::build_chain`]): a
    /// multiscale image flow ([`FlowSpec::chain`]) or a tabular flow with `blocks > 1`.
    pub fn is_chain(&self) -> bool {
        self.chain().is_some() || self.blocks > 1
    }

    /// The number of CNF blocks (1 for one vector field).
    pub fn block_count(&self) -> usize {
        match self.chain() {
            Some(c) => chain_len(c),
            None => self.blocks,
        }
    }

    /// For a multiscale image flow (more than one CNF block): its configuration; `None` for
    /// a one-block image flow or a dense flow (one vector field, [`FlowSpec::field_graph`]).
    pub fn chain(&self) -> Option<&ImageFlowConfig> {
        self.image.as_ref().filter(|c| chain_len(c) > 1)
    }

    /// The vector fields of every CNF block (one for a dense or one-block flow; a tabular
    /// chain's blocks share one).
    pub fn block_graphs(&self) -> Result<Vec<Graph>, IoError> {
        match self.chain() {
            None => Ok(vec![self.field_graph()?; self.blocks]),
            Some(c) => image_flow::architecture(c.image[0], c.scales, c.blocks)
                .into_iter()
                .map(|b| {
                    block_net(c.image, b, &c.hidden).map_err(|e| IoError::Field {
                        origin: self.origin.clone(),
                        field: "image".into(),
                        reason: e.to_string(),
                    })
                })
                .collect(),
        }
    }

    /// The chain of a [`FlowSpec::is_chain`] file with `params` (in [`TrainModel::params`]
    /// order; `None`: initialised from `seed` as
    /// [`ImageFlow::new`](symplode_runtime::models::image_flow::ImageFlow::new) /
    /// [`TabularFlow::from_field`], block `b` from `seed + b`). A tabular chain has the
    /// file's trace (Hutchinson: probes in the rows; exact: none).
    pub fn build_chain<T: Real>(
        &self,
        params: Option<&[f64]>,
        seed: u64,
    ) -> Result<FlowChain<T>, IoError> {
        let err = |field: &str, e: String| IoError::Field {
            origin: self.origin.clone(),
            field: field.into(),
            reason: e,
        };
        let mut chain = match self.chain() {
            Some(c) => FlowChain::new(c, self.time_length, seed)
                .map_err(|e| err("image", e.to_string()))?,
            None if self.blocks > 1 => {
                let trace = match self.trace {
                    FlowTrace::Exact => Trace::Exact,
                    FlowTrace::Hutchinson(_) => Trace::Hutchinson,
                };
                let flow = TabularFlow::from_field(
                    &self.field_graph()?,
                    self.blocks,
                    self.time_length,
                    trace,
                    seed,
                )
                .map_err(|e| err("layers", e.to_string()))?;
                FlowChain::from_tabular(flow)
            }
            None => {
                return Err(err(
                    "blocks",
                    "one CNF block, not a chain (scales/blocks give one block)".into(),
                ));
            }
        };
        if let Some(p) = params {
            chain
                .set_params(p)
                .map_err(|e| err("weights", e.to_string()))?;
        }
        Ok(chain)
    }

    /// The vector field `f(z, t)` as a graph (of the first block, for a multiscale flow).
    pub fn field_graph(&self) -> Result<Graph, IoError> {
        let err = |field: &str, e: String| IoError::Field {
            origin: self.origin.clone(),
            field: field.into(),
            reason: e,
        };
        match &self.image {
            Some(c) => {
                let spec = BlockSpec {
                    squeezes: 0,
                    channels: c.image[0],
                };
                block_net(c.image, spec, &c.hidden).map_err(|e| err("image", e.to_string()))
            }
            None => build_graph(self.dim, true, &self.layers, &FormSpec::Field)
                .map_err(|e| err("layers", e.to_string())),
        }
    }

    /// The flow dynamics with `trace` and the parameters `params` (in the graph's order).
    pub fn build<T: Real>(
        &self,
        trace: FlowTrace,
        params: &[f64],
    ) -> Result<Interpreted<T>, IoError> {
        let err = |e: String| IoError::Field {
            origin: self.origin.clone(),
            field: "layers".into(),
            reason: e,
        };
        if self.is_chain() {
            return Err(IoError::Field {
                origin: self.origin.clone(),
                field: if self.chain().is_some() {
                    "scales"
                } else {
                    "blocks"
                }
                .into(),
                reason: "a chain of CNF blocks (FlowSpec::build_chain), not one vector field"
                    .into(),
            });
        }
        let g = flow_graph(&self.field_graph()?, trace).map_err(|e| err(e.to_string()))?;
        Interpreted::new(g, params.iter().map(|&v| T::of(v)).collect())
            .map_err(|e| err(e.to_string()))
    }

    /// PyTorch's default initialisation of the parameters from `seed` (a multiscale flow's:
    /// all blocks', block `b` from `seed + b`).
    pub fn init_params(&self, seed: u64) -> Result<Vec<f64>, IoError> {
        if self.is_chain() {
            let chain = self.build_chain::<f64>(None, seed)?;
            return Ok(chain.params().to_vec());
        }
        let g = self.field_graph()?;
        Ok(match self.image {
            // Conv weights [out, in, k, k]: fan-in in·k·k (PyTorch's Conv2d).
            Some(_) => image_flow::init_params(&g, seed),
            None => init_params(&g, seed),
        })
    }

    /// The parameters from a safetensors file (tensors `layers.{k}.…` by name, checked for
    /// shape and finiteness).
    pub fn read_params(&self, weights: &SafeTensors) -> Result<Vec<f64>, IoError> {
        if self.is_chain() {
            let chain = self.build_chain::<f64>(None, 0)?;
            let mut params = Vec::with_capacity(chain.params().len());
            for t in chain.param_tensors() {
                let meaning = format!("`{}` of the chain of CNF blocks", t.name);
                params.extend(weights.tensor_checked(&t.name, &t.shape, &meaning)?);
            }
            return Ok(params);
        }
        let g = self.field_graph()?;
        let mut params = Vec::with_capacity(g.param_len());
        for p in g.params() {
            let meaning = format!("`{}` of the flow's vector field", p.name);
            params.extend(weights.tensor_checked(&p.name, &p.shape, &meaning)?);
        }
        Ok(params)
    }

    /// The tableau, if the file names one.
    pub fn tableau(&self) -> Result<Option<Tableau>, IoError> {
        self.tableau
            .as_deref()
            .map(|name| resolve_tableau(name, self.dir.as_deref()))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "form = \"cnf\"\ndim = 2\n[[layers]]\nout = 8\nactivation = \"tanh\"\n\
                        [[layers]]\nout = 2\n[solver]\nsteps = 4\n";

    #[test]
    fn parses_and_names_bad_fields() {
        assert!(is_flow_file(GOOD));
        assert!(!is_flow_file("dim = 2"));
        let s = FlowSpec::parse(GOOD, "f.toml").unwrap();
        assert_eq!(s.trace, FlowTrace::Hutchinson(Noise::Gaussian));
        assert_eq!(s.time_length, 0.5);
        assert_eq!(
            s.summary(),
            "flow 2 → 8 concat_squash tanh → 2 concat_squash, T 0.5"
        );
        let p = s.init_params(0).unwrap();
        let m = s.build::<f64>(s.trace, &p).unwrap();
        assert_eq!(symplode_runtime::Dynamics::dim(&m), 5);
        for (text, field) in [
            (GOOD.replace("dim = 2", "dim = 3"), "layers[1].out"),
            (GOOD.replace("\"tanh\"", "\"nope\""), "layers[0].activation"),
            (
                GOOD.replace("out = 8", "out = 8\nkind = \"lstm\""),
                "layers[0].kind",
            ),
            (GOOD.replace("dim = 2", "dim = 2\ntrace = \"x\""), "trace"),
            (
                GOOD.replace("dim = 2", "dim = 2\ntime_length = -1.0"),
                "time_length",
            ),
        ] {
            let e = FlowSpec::parse(&text, "f.toml").unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    /// `scales`/`blocks` make a chain: FFJORD's MNIST model has 10 blocks; the parameters
    /// are named `blocks.{b}.…` and read back by name.
    #[test]
    fn a_multiscale_file_is_a_chain() {
        let text = "form = \"image_flow\"\nimage = [1, 28, 28]\nscales = 3\nblocks = 2\n\
                    [solver]\nsteps = 1\n";
        let s = FlowSpec::parse(text, "m.toml").unwrap();
        let c = s.chain().unwrap();
        assert_eq!(
            (c.scales, c.blocks, c.hidden.clone()),
            (3, 2, vec![64, 64, 64])
        );
        assert_eq!(s.time_length, 1.0);
        assert_eq!(s.block_graphs().unwrap().len(), 10);
        assert!(s.build::<f64>(s.trace, &[]).is_err());
        let small = "form = \"image_flow\"\nimage = [1, 4, 4]\nhidden = [2]\nscales = 2\n\
                     [solver]\nsteps = 1\n";
        let s = FlowSpec::parse(small, "m.toml").unwrap();
        let p = s.init_params(5).unwrap();
        let chain = s.build_chain::<f64>(Some(&p), 0).unwrap();
        assert_eq!(chain.params(), &p[..]);
        let names: Vec<String> = chain.param_tensors().into_iter().map(|t| t.name).collect();
        assert_eq!(names[0], "blocks.0.layers.0._layer.weight");
        assert_eq!(names.len(), 3 * 4);
        // One block keeps the one-block form and names.
        let one = small.replace("scales = 2", "scales = 1");
        assert!(FlowSpec::parse(&one, "m.toml").unwrap().chain().is_none());
    }

    /// `blocks = M` on a dense flow makes a tabular chain of M blocks of the same field; out of
    /// range is an error naming `blocks`.
    #[test]
    fn a_cnf_file_with_blocks_is_a_tabular_chain() {
        let text = GOOD.replace("dim = 2", "dim = 2\nblocks = 3");
        let s = FlowSpec::parse(&text, "f.toml").unwrap();
        assert!(s.is_chain() && s.chain().is_none());
        assert_eq!((s.blocks, s.block_count()), (3, 3));
        assert_eq!(s.block_graphs().unwrap().len(), 3);
        assert_eq!(
            s.summary(),
            "3 CNF blocks of flow 2 → 8 concat_squash tanh → 2 concat_squash, T 0.5 per block"
        );
        let e = s.build::<f64>(s.trace, &[]).unwrap_err().to_string();
        assert!(e.contains("blocks"), "{e}");
        let p = s.init_params(1).unwrap();
        let chain = s.build_chain::<f64>(Some(&p), 0).unwrap();
        assert_eq!(chain.params(), &p[..]);
        assert_eq!(chain.probes(), 3);
        let exact = FlowSpec::parse(&text.replace("dim = 2", "dim = 2\ntrace = \"exact\""), "f")
            .unwrap()
            .build_chain::<f64>(Some(&p), 0)
            .unwrap();
        assert_eq!(exact.probes(), 0);
        assert!(!FlowSpec::parse(GOOD, "f.toml").unwrap().is_chain());
        for m in ["0", "65"] {
            let t = GOOD.replace("dim = 2", &format!("dim = 2\nblocks = {m}"));
            let e = FlowSpec::parse(&t, "f.toml").unwrap_err().to_string();
            assert!(e.contains("`blocks`"), "{m}: {e}");
        }
    }

    #[test]
    fn an_image_flow_file_is_one_conv_block() {
        let text = "form = \"image_flow\"\nimage = [1, 4, 4]\nhidden = [2]\n[solver]\nsteps = 1\n";
        assert!(is_flow_file(text));
        let s = FlowSpec::parse(text, "i.toml").unwrap();
        assert_eq!(s.dim, 16);
        let g = s.field_graph().unwrap();
        let names: Vec<&str> = g.params().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "layers.0._layer.weight",
                "layers.0._layer.bias",
                "layers.1._layer.weight",
                "layers.1._layer.bias"
            ]
        );
        // Conv fan-in: (1 image + 1 time channel)·3·3 = 18 for the first weight.
        let p = s.init_params(0).unwrap();
        let bound = 1.0 / 18f64.sqrt();
        assert!(p[..2 * 2 * 9].iter().all(|v| v.abs() <= bound));
        let m = s.build::<f64>(s.trace, &p).unwrap();
        assert_eq!(symplode_runtime::Dynamics::dim(&m), 33);
        for (t, field) in [
            (text.replace("[1, 4, 4]", "[4, 4]"), "image"),
            (text.replace("hidden", "dim = 16\nhidden"), "dim"),
            (text.replace("hidden", "scales = 0\nhidden"), "scales"),
            (text.replace("hidden", "scales = 4\nhidden"), "scales"),
            (text.replace("hidden", "blocks = 0\nhidden"), "blocks"),
            (
                text.replace("hidden", "scales = 2\ntrace = \"exact\"\nhidden"),
                "trace",
            ),
            (text.replace("[2]", "[]\n[[layers]]\nout = 16"), "layers"),
        ] {
            let e = FlowSpec::parse(&t, "i.toml").unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }
}
