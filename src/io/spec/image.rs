//! Model specs with image layers: a `shape = [c, h, w]` state and `kind = "conv2d"`,
//! `"squeeze"` or `"unsqueeze"` layers (besides dense ones). They are checked with the
//! `neural_ode!` DSL's shape walk ([`image_shapes`]) and built with its graph builder
//! ([`build_shaped_graph`]), so a TOML model and a `neural_ode!` declaration of the same layers are
//! the same network; they run on the interpreter ([`SpecNet::Graph`]).

use symplode_codegen::dsl::{FormSpec, LayerKind, MisfitPart, build_shaped_graph, image_shapes};
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::interp::Interpreted;
use symplode_runtime::rng::Rng;
use symplode_runtime::{ParamTensor, Real};

use super::super::error::printable;
use super::super::named::Named;
use super::super::safetensors::SafeTensors;
use super::super::spec_net::SpecNet;
use super::{IoError, MAX_WIDTH, ModelSpec};

/// The layer kinds a spec knows.
const KINDS: [&str; 4] = ["dense", "conv2d", "squeeze", "unsqueeze"];

impl ModelSpec {
    /// Whether the spec has a `shape` or a layer other than dense (it then builds a
    /// [`SpecNet::Graph`], not an [`Mlp`](symplode_runtime::models::Mlp)).
    pub fn is_image(&self) -> bool {
        self.shape.is_some()
            || self
                .layers
                .iter()
                .any(|l| l.kind.as_deref().is_some_and(|k| k != "dense"))
    }

    /// An error for the MLP-only entry points on an image spec.
    pub(super) fn no_image(&self, what: &str) -> Result<(), IoError> {
        if self.is_image() {
            return Err(self.field(
                "layers".into(),
                format!(
                    "this spec has image layers (or a shape), which `ModelSpec::{what}` (a dense \
                     Mlp) cannot build: use `ModelSpec::{what}_net`"
                ),
            ));
        }
        Ok(())
    }

    /// Checks an image spec and builds its graph (parameter names `layers.{k}…` as the DSL's;
    /// [`ModelSpec::tensor_names`] renames them).
    pub(super) fn validate_image(&self) -> Result<Graph, IoError> {
        if self.dim == 0 || self.dim > MAX_WIDTH {
            return Err(self.field(
                "dim".into(),
                format!("{} is not from 1 to {MAX_WIDTH}", self.dim),
            ));
        }
        if let Some([c, h, w]) = self.shape {
            let n = c.checked_mul(h).and_then(|v| v.checked_mul(w));
            if c == 0 || h == 0 || w == 0 || n != Some(self.dim) {
                return Err(self.field(
                    "shape".into(),
                    format!(
                        "[{c}, {h}, {w}] is not an image of dim = {} values (channels·height·width, \
                         each at least 1)",
                        self.dim
                    ),
                ));
            }
        }
        let Some(last) = self.layers.len().checked_sub(1) else {
            return Err(self.field(
                "layers".into(),
                "need at least one [[layers]] entry (the output layer)".into(),
            ));
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut seen = std::collections::HashMap::new();
        for (k, l) in self.layers.iter().enumerate() {
            let at = |f: &str| format!("layers[{k}].{f}");
            let kind = l.kind.as_deref().unwrap_or("dense");
            if !KINDS.contains(&kind) {
                return Err(self.field(
                    at("kind"),
                    format!(
                        "unknown kind `{}`; expected one of: {}",
                        printable(kind),
                        KINDS.join(", ")
                    ),
                ));
            }
            let has_params = kind == "dense" || kind == "conv2d";
            if has_params && l.name.is_empty() {
                return Err(self.field(at("name"), "must not be empty".into()));
            }
            if l.name.chars().any(char::is_control) {
                return Err(self.field(
                    at("name"),
                    format!("`{}` contains control characters", printable(&l.name)),
                ));
            }
            if !l.name.is_empty()
                && let Some(j) = seen.insert(l.name.as_str(), k)
            {
                return Err(self.field(
                    at("name"),
                    format!("`{}` is also the name of layers[{j}]", printable(&l.name)),
                ));
            }
            if has_params && (l.out == 0 || l.out > MAX_WIDTH) {
                return Err(self.field(at("out"), format!("missing, or not from 1 to {MAX_WIDTH}")));
            }
            if !has_params && l.out != 0 {
                return Err(self.field(
                    at("out"),
                    format!("a {kind} layer has no `out` (it keeps the values, reshaped)"),
                ));
            }
            let conv_only = [
                ("kernel", l.kernel.is_some()),
                ("stride", l.stride.is_some()),
                ("padding", l.padding.is_some()),
                ("bias", l.bias.is_some()),
                ("concat_time", l.concat_time.is_some()),
            ];
            if kind != "conv2d"
                && let Some((f, _)) = conv_only.iter().find(|(_, given)| *given)
            {
                return Err(self.field(at(f), format!("only a conv2d layer has `{f}`")));
            }
            let activation = match &l.activation {
                None => None,
                Some(_) if k == last => {
                    return Err(self.field(
                        at("activation"),
                        "the last layer gives dx/dt and takes no activation".into(),
                    ));
                }
                Some(_) if !has_params => {
                    return Err(self.field(
                        at("activation"),
                        format!("a {kind} layer takes no activation"),
                    ));
                }
                Some(a) => match a.parse::<Activation>() {
                    Ok(Activation::Identity) => None,
                    Ok(act) => Some(act),
                    Err(_) => {
                        return Err(self.field(
                            at("activation"),
                            format!(
                                "unknown activation `{}`; valid names: {}",
                                printable(a),
                                Activation::NAMES.join(", ")
                            ),
                        ));
                    }
                },
            };
            let kind = match kind {
                "dense" => LayerKind::Dense,
                "conv2d" => LayerKind::Conv2d {
                    kernel: l.kernel.ok_or_else(|| {
                        self.field(at("kernel"), "a conv2d needs its kernel size".into())
                    })?,
                    stride: l.stride.unwrap_or(1),
                    padding: l.padding.unwrap_or(0),
                    bias: l.bias.unwrap_or(true),
                    concat_time: l.concat_time.unwrap_or(false),
                },
                "squeeze" => LayerKind::Squeeze,
                _ => LayerKind::Unsqueeze,
            };
            layers.push(symplode_codegen::dsl::LayerSpec {
                kind,
                width: l.out,
                activation,
            });
        }
        if self.time_input && layers[0].kind != LayerKind::Dense {
            return Err(self.field(
                "time_input".into(),
                "adds t to the input of a first dense layer, but the first layer is not dense: \
                 give the convolutions that read t `concat_time = true`"
                    .into(),
            ));
        }
        if let Err(m) = image_shapes(self.shape, &layers, true) {
            let f = match m.part {
                MisfitPart::Kind => "kind",
                MisfitPart::Kernel => "kernel",
                MisfitPart::Channels => "out",
            };
            return Err(self.field(format!("layers[{}].{f}", m.index), m.reason));
        }
        if layers[last].kind == LayerKind::Dense && self.layers[last].out != self.dim {
            return Err(self.field(
                format!("layers[{last}].out"),
                format!(
                    "the last layer (`{}`) gives dx/dt, so out must equal dim = {}, got {}",
                    self.layers[last].name, self.dim, self.layers[last].out
                ),
            ));
        }
        self.solver.check(&self.origin)?;
        build_shaped_graph(
            self.dim,
            self.time_input,
            self.shape,
            &layers,
            &FormSpec::Field,
        )
        .map_err(|e| self.field("layers".into(), e.to_string()))
    }

    /// The image spec's named tensors, from its graph (nothing allocated for the values).
    pub(super) fn image_tensors(&self) -> Result<Vec<ParamTensor>, IoError> {
        let g = self.validate_image()?;
        let names = self.tensor_names();
        if names.len() != g.params().len() {
            return Err(self.field(
                "layers".into(),
                format!(
                    "{} tensor names for the graph's {} tensors",
                    names.len(),
                    g.params().len()
                ),
            ));
        }
        Ok(g.params()
            .iter()
            .zip(g.param_offsets())
            .zip(names)
            .map(|((p, offset), name)| ParamTensor {
                name,
                shape: p.shape.clone(),
                offset,
            })
            .collect())
    }

    /// The image spec's network with `params`, named.
    fn image_net<T: Real>(&self, params: Vec<T>) -> Result<Named<Interpreted<T>>, IoError> {
        let g = self.validate_image()?;
        let net =
            Interpreted::new(g, params).map_err(|e| self.field("layers".into(), e.to_string()))?;
        Named::new(net, self.tensor_names())
    }

    /// Builds the network with the weights of a safetensors file (each tensor looked up by
    /// name, checked for shape and finiteness, converted to `T`; extra tensors are ignored):
    /// the [`Mlp`](symplode_runtime::models::Mlp) of [`ModelSpec::build`] for dense layers,
    /// the interpreted graph for image layers.
    ///
    /// # Errors
    /// Those of [`ModelSpec::validate`] and [`ModelSpec::build`].
    pub fn build_net<T: Real>(&self, weights: &SafeTensors) -> Result<Named<SpecNet<T>>, IoError> {
        if !self.is_image() {
            let net = self.build::<T>(weights)?;
            let names = net.names().to_vec();
            return Named::new(SpecNet::Mlp(net.into_inner()), names);
        }
        let mut params = Vec::new();
        for t in self.param_tensors()? {
            let meaning = format!("{:?}", t.shape);
            let data = weights.tensor_checked(&t.name, &t.shape, &meaning)?;
            params.extend(data.into_iter().map(T::of));
        }
        let net = self.image_net(params)?;
        let names = net.names().to_vec();
        Named::new(SpecNet::Graph(Box::new(net.into_inner())), names)
    }

    /// Builds the network with PyTorch's default initialisation from `seed`: every tensor
    /// uniform in ±1/√fan_in (a bias takes its weight's fan-in; for dense layers the values
    /// of [`ModelSpec::init`]).
    ///
    /// # Errors
    /// Those of [`ModelSpec::validate`] and [`ModelSpec::init`].
    pub fn init_net<T: Real>(&self, seed: u64) -> Result<Named<SpecNet<T>>, IoError> {
        if !self.is_image() {
            let net = self.init::<T>(seed)?;
            let names = net.names().to_vec();
            return Named::new(SpecNet::Mlp(net.into_inner()), names);
        }
        let mut rng = Rng::new(seed);
        let mut params = Vec::new();
        let mut fan_in = 1usize;
        for t in self.param_tensors()? {
            if t.shape.len() >= 2 {
                fan_in = t.shape[1..].iter().product();
            }
            let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
            params.extend((0..t.len()).map(|_| T::of(rng.uniform_range(-bound, bound))));
        }
        let net = self.image_net(params)?;
        let names = net.names().to_vec();
        Named::new(SpecNet::Graph(Box::new(net.into_inner())), names)
    }

    /// The one-line description of an image spec.
    pub(super) fn image_summary(&self) -> String {
        let mut s = match self.shape {
            Some([c, h, w]) => format!("{c}×{h}×{w}"),
            None => self.dim.to_string(),
        };
        for l in &self.layers {
            match l.kind.as_deref().unwrap_or("dense") {
                "conv2d" => {
                    let k = l.kernel.unwrap_or(0);
                    s.push_str(&format!(
                        " → conv2d {} ({k}×{k}, stride {}, padding {}{})",
                        l.out,
                        l.stride.unwrap_or(1),
                        l.padding.unwrap_or(0),
                        if l.concat_time == Some(true) {
                            ", t"
                        } else {
                            ""
                        }
                    ));
                }
                "dense" => s.push_str(&format!(" → {}", l.out)),
                other => s.push_str(&format!(" → {other}")),
            }
            if let Some(a) = &l.activation {
                s.push_str(&format!(" {a}"));
            }
        }
        let n: usize = self
            .image_tensors()
            .map_or(0, |t| t.iter().map(ParamTensor::len).sum());
        format!("{s} ({n} parameters)")
    }
}
