//! Checks of a `neural_ode!` model declaration: fields given once and well-typed, layers
//! (kinds, widths, activations), the form (field, CNF, energy), stepping and the tableau
//! reference (checked by [`super::tableau`]). The layer kinds and the graph they build are in
//! [`super::layers`].

use num_traits::Zero;
use syn::{Attribute, Ident, LitInt, Visibility};

use super::cnf_stack::CnfStack;
use super::err;
use super::layers::{LayerKind, LayerSpec, build_shaped_graph};
use super::multiscale::{build_block_graph, distinct_blocks};
use super::tableau::{CheckedTableau, check_explicit_adjoint, check_tableau, fallback_tableau};
use crate::ad::Wrt;
use crate::dsl::{Field, ModelDecl, NeuralOde, TableauRef};
use crate::ir::{Activation, Graph};
use crate::tableau::{BUILTIN_NAMES, Q, TableauError, builtin};

/// How the layers define the dynamics (`form:`).
#[derive(Clone, Debug, PartialEq)]
pub enum FormSpec {
    /// The layers are the vector field dx/dt (the default).
    Field,
    /// A continuous normalizing flow ([`crate::ad::cnf_dynamics`]): the layers are `f(z, t)`,
    /// the state is `[z, log p]`.
    Cnf {
        /// Hutchinson's estimator (noise as auxiliary input 1) instead of the exact trace.
        hutchinson: bool,
    },
    /// An energy-based model ([`crate::ad::energy_dynamics`]): the layers are `H(z)` (summed
    /// over their output), the dynamics `D ∇_z H` with the stencil `D`.
    Energy {
        /// `laplacian` instead of `central_difference`.
        laplacian: bool,
        /// Grid points of the operator.
        n: usize,
        /// Grid spacing.
        dx: f64,
    },
    /// FFJORD's multiscale image flow (`multiscale(scales: S, blocks: B)`): a chain of
    /// Hutchinson CNF blocks ([`crate::ir::image_flow::architecture`]), each the layers on its
    /// squeezed, kept channels ([`super::build_block_graph`]); needs an image state.
    Multiscale {
        /// Scales (FFJORD's MNIST: 3).
        scales: usize,
        /// CNF blocks on each side of a squeeze (FFJORD: 2).
        blocks: usize,
    },
}

/// The form of a multiscale declaration whose sizes were refused: one scale, one block (so
/// the flow type is still emitted).
const FALLBACK_MULTISCALE: FormSpec = FormSpec::Multiscale {
    scales: 1,
    blocks: 1,
};

/// Step-size control chosen in the declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum SteppingSpec {
    /// `steps: N` per output interval.
    Fixed(usize),
    /// `rtol`, `atol` (as f64) and an optional `max_steps`.
    Adaptive {
        /// Relative tolerance.
        rtol: f64,
        /// Absolute tolerance.
        atol: f64,
        /// Step budget.
        max_steps: Option<usize>,
    },
}

/// A validated (or sanitised) model, ready for lowering.
pub struct CheckedModel {
    /// Attributes forwarded to the model type.
    pub attrs: Vec<Attribute>,
    /// Visibility.
    pub vis: Visibility,
    /// The model type's name.
    pub name: Ident,
    /// `true` for f64, `false` for f32.
    pub f64: bool,
    /// State dimension.
    pub dim: usize,
    /// The state as a `[c, h, w]` image (`shape:`), for image layers.
    pub image: Option<[usize; 3]>,
    /// Whether the network reads `[x, t]`.
    pub time: bool,
    /// The layers, the last of width `dim` (any width for an energy).
    pub layers: Vec<LayerSpec>,
    /// How the layers define the dynamics.
    pub form: FormSpec,
    /// `Some` for M ≥ 2 stacked CNF blocks (`cnf(TRACE, blocks: M, time_length: T)`, form
    /// `Cnf`): each block is the model's CNF with its own parameters.
    pub stack: Option<CnfStack>,
    /// The tableau.
    pub tableau: CheckedTableau,
    /// Step control.
    pub stepping: SteppingSpec,
}

/// Always returns a model to emit; the errors are empty when everything holds.
pub fn check_model(input: &NeuralOde) -> (CheckedModel, Vec<syn::Error>) {
    let m: &ModelDecl = &input.model;
    let mut errors = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut float = None;
    let mut dim = None;
    let mut shape_decl = None;
    let mut time = true;
    let mut layers_decl = None;
    let mut tableau_ref = None;
    let mut solver = None;
    let mut adjoint = None;
    let mut form_decl = None;
    for f in &m.fields {
        let key = f.key();
        if seen.contains(&key) {
            let span = match f {
                Field::Float(i) => i.span(),
                Field::Dim(l) => l.span(),
                Field::Time(l) => l.span,
                Field::Layers(k, _)
                | Field::Shape(k, _)
                | Field::Tableau(k, _)
                | Field::Solver(k, _)
                | Field::Adjoint(k, _)
                | Field::Form(k, _) => k.span(),
            };
            errors.push(err(span, format!("field `{key}` is given twice")));
            continue;
        }
        seen.push(key);
        match f {
            Field::Float(i) => match i.to_string().as_str() {
                "f64" => float = Some(true),
                "f32" => float = Some(false),
                other => errors.push(err(
                    i.span(),
                    format!("unsupported float type `{other}`; expected `f32` or `f64`"),
                )),
            },
            Field::Dim(l) => match l.base10_parse::<usize>() {
                Ok(d) if d >= 1 => dim = Some((d, l.span())),
                _ => errors.push(err(l.span(), "the state dimension must be an integer ≥ 1")),
            },
            Field::Shape(k, s) => shape_decl = Some((k, s)),
            Field::Time(b) => time = b.value,
            Field::Layers(k, l) => layers_decl = Some((k, l)),
            Field::Tableau(k, t) => tableau_ref = Some((k, t)),
            Field::Solver(k, o) => solver = Some((k, o)),
            Field::Adjoint(k, a) => adjoint = Some((k, a)),
            Field::Form(_, f) => form_decl = Some(f),
        }
    }
    let name_span = m.name.span();
    let missing = |what: &str| {
        err(
            name_span,
            format!("missing field `{what}` in `neural_ode!`"),
        )
    };
    if float.is_none() && !seen.contains(&"float") {
        errors.push(missing("float"));
    }
    let image = shape_decl.and_then(|(k, s)| super::image::shape_field(k, s, dim, &mut errors));
    let dim = dim.or(image.map(|[c, h, w]| (c * h * w, name_span)));
    if dim.is_none() && !seen.contains(&"dim") && !seen.contains(&"shape") {
        errors.push(missing("dim"));
    }
    let d = dim.map_or(1, |(d, _)| d);

    // Form.
    let mut stack = None;
    let form = match form_decl {
        None => FormSpec::Field,
        Some(f) if f.kind == "multiscale" && f.leading_key => {
            super::multiscale::form(f, image, &mut errors).unwrap_or(FALLBACK_MULTISCALE)
        }
        Some(f) if f.kind == "multiscale" => {
            errors.push(err(
                f.arg.span(),
                "expected `multiscale(scales: S, blocks: B)` (FFJORD's MNIST flow: \
                 `multiscale(scales: 3, blocks: 2)`)",
            ));
            FALLBACK_MULTISCALE
        }
        Some(f) if f.kind == "cnf" && f.leading_key => {
            errors.push(err(
                f.arg.span(),
                "`cnf` needs its trace first: `cnf(exact, blocks: M)` or \
                 `cnf(hutchinson, blocks: M)`",
            ));
            FormSpec::Field
        }
        Some(f) => {
            let (kind, arg) = (f.kind.to_string(), f.arg.to_string());
            if kind == "energy" && !f.options.is_empty() {
                // Reported, then the energy read as usual (so the layers get no follow-on).
                let key = if f.leading_key {
                    &f.arg
                } else {
                    &f.options[0].0
                };
                errors.push(err(
                    key.span(),
                    "`energy` takes no `key: value` arguments (stacked blocks are CNF blocks: \
                     `cnf(exact, blocks: M)`, `cnf(hutchinson, blocks: M)` or \
                     `multiscale(scales: S, blocks: B)`)",
                ));
            }
            match (kind.as_str(), arg.as_str(), &f.grid) {
                ("cnf", "exact" | "hutchinson", None) => {
                    stack = super::cnf_stack::stack(f, image.is_some(), &mut errors);
                    FormSpec::Cnf {
                        hutchinson: arg == "hutchinson",
                    }
                }
                ("cnf", _, _) => {
                    errors.push(err(
                        f.arg.span(),
                        format!(
                            "unknown trace `{arg}`; expected `cnf(exact)` or `cnf(hutchinson)`"
                        ),
                    ));
                    FormSpec::Field
                }
                ("energy", "central_difference" | "laplacian", Some((n, dx))) => {
                    let n_ok = match n.base10_parse::<usize>() {
                        Ok(v) if v >= 1 => {
                            if dim.is_some() && d % v != 0 {
                                errors.push(err(
                                    n.span(),
                                    format!(
                                        "the operator's grid has {v} points but the state \
                                         dimension {d} is not a multiple of it"
                                    ),
                                ));
                            }
                            v
                        }
                        _ => {
                            errors.push(err(n.span(), "the grid size must be an integer ≥ 1"));
                            1
                        }
                    };
                    let dx_ok = match dx.value() {
                        Ok(q) if q > Q::zero() => crate::tableau::q_to_f64(&q),
                        Ok(_) => {
                            errors.push(dx.error("the grid spacing must be positive"));
                            1.0
                        }
                        Err(e) => {
                            errors.push(e);
                            1.0
                        }
                    };
                    FormSpec::Energy {
                        laplacian: arg == "laplacian",
                        n: n_ok,
                        dx: dx_ok,
                    }
                }
                ("energy", _, _) => {
                    errors.push(err(
                        f.arg.span(),
                        "expected `energy(central_difference(n, dx))` or \
                         `energy(laplacian(n, dx))`",
                    ));
                    FormSpec::Field
                }
                _ => {
                    errors.push(err(
                        f.kind.span(),
                        format!(
                            "unknown form `{kind}`; expected `cnf(exact)`, `cnf(hutchinson)` \
                             (either with `blocks: M` for M stacked blocks), \
                             `energy(central_difference(n, dx))`, `energy(laplacian(n, dx))` \
                             or `multiscale(scales: S, blocks: B)`"
                        ),
                    ));
                    FormSpec::Field
                }
            }
        }
    };
    let energy = matches!(form, FormSpec::Energy { .. });

    // Layers.
    let mut layers = Vec::new();
    match layers_decl {
        None => errors.push(missing("layers")),
        Some((k, decls)) if decls.is_empty() => {
            errors.push(err(k.span(), "`layers` needs at least one dense layer"))
        }
        Some((_, decls)) => {
            for (n, l) in decls.iter().enumerate() {
                let width = match l.width.base10_parse::<usize>() {
                    _ if l.kind == "squeeze" || l.kind == "unsqueeze" => 1,
                    Ok(w) if w >= 1 => w,
                    _ => {
                        errors.push(err(l.width.span(), "a layer width must be an integer ≥ 1"));
                        1
                    }
                };
                let activation = match &l.activation {
                    None => None,
                    Some(a) => {
                        let s = a.to_string();
                        match s.parse::<Activation>() {
                            Err(_) => {
                                errors.push(err(
                                    a.span(),
                                    format!(
                                        "unknown activation `{s}`; expected one of: {}",
                                        Activation::NAMES.join(", ")
                                    ),
                                ));
                                None
                            }
                            Ok(Activation::Identity) => None,
                            Ok(act) => Some(act),
                        }
                    }
                };
                let kind = if l.kind == "concat_squash" {
                    LayerKind::ConcatSquash
                } else if l.kind == "conv1d" {
                    let kernel = match l.kernel.as_ref().map(LitInt::base10_parse::<usize>) {
                        Some(Ok(k)) if k % 2 == 1 => k,
                        _ => {
                            let span = l.kernel.as_ref().map_or(l.width.span(), LitInt::span);
                            errors
                                .push(err(span, "a conv1d kernel size must be an odd integer ≥ 1"));
                            1
                        }
                    };
                    LayerKind::Conv1d {
                        kernel,
                        bias: l.no_bias.is_none(),
                    }
                } else if l.kind == "conv2d" {
                    super::image::conv2d_kind(l, &mut errors)
                } else if l.kind == "squeeze" {
                    LayerKind::Squeeze
                } else if l.kind == "unsqueeze" {
                    LayerKind::Unsqueeze
                } else {
                    LayerKind::Dense
                };
                let last = n + 1 == decls.len() && !energy;
                // A conv1d's width is its channel count; as the last layer of a vector field
                // it must have one channel (output width `dim`, one value per grid point).
                let conv = matches!(kind, LayerKind::Conv1d { .. });
                let width = if last && kind.is_image() {
                    width // checked on the image by `image::check_layers`
                } else if last && conv {
                    if width != 1 {
                        errors.push(err(
                            l.width.span(),
                            format!(
                                "the last conv1d has {width} channels but the network's output is \
                                 dx/dt on the {d}-point grid: it needs 1 channel"
                            ),
                        ));
                    }
                    1
                } else if last && width != d && dim.is_some() {
                    errors.push(err(
                        l.width.span(),
                        format!(
                            "the last layer has width {width} but the state dimension is {d}: \
                             the network's output is dx/dt, so its width must be `dim`"
                        ),
                    ));
                    d
                } else if last {
                    d
                } else {
                    width
                };
                layers.push(LayerSpec {
                    kind,
                    width,
                    activation,
                });
            }
        }
    }
    let multiscale = match form {
        FormSpec::Multiscale { scales, blocks } => Some((scales, blocks)),
        _ => None,
    };
    if let Some((_, decls)) = layers_decl
        && decls.len() == layers.len()
        && (multiscale.is_none() || image.is_some())
    // else refused with the form
    {
        let before = errors.len();
        if multiscale.is_some() {
            super::multiscale::check_kinds(decls, &layers, &mut errors);
        }
        if errors.len() == before {
            super::image::check_layers(decls, &mut layers, image, !energy, &mut errors);
        }
        if let (Some(sizes), Some(im), true) = (multiscale, image, errors.len() == before) {
            super::multiscale::check_blocks(decls, &layers, im, sizes, &mut errors);
        }
    }
    if layers.is_empty() {
        layers.push(LayerSpec {
            kind: LayerKind::Dense,
            width: d,
            activation: None,
        });
    }

    // Tableau.
    let mut tab_errors = Vec::new();
    let tableau = match (&input.callback, tableau_ref) {
        (Some(cb), _) => {
            if cb.valid {
                let (t, e) = check_tableau(&cb.name.to_string(), &cb.body, cb.name.span());
                tab_errors.extend(e);
                t
            } else {
                None // its errors were reported by the `tableau!` item
            }
        }
        (None, None) => {
            errors.push(missing("tableau"));
            None
        }
        (None, Some((_, TableauRef::Builtin(id)))) => {
            let name = id.to_string();
            match builtin(&name).and_then(|t| Ok((t.partner()?, t))) {
                Ok((partner, tableau)) => Some(CheckedTableau {
                    tableau,
                    partner,
                    builtin: Some(name),
                }),
                Err(TableauError::UnknownTableau { .. }) => {
                    tab_errors.push(err(
                        id.span(),
                        format!(
                            "unknown tableau `{name}`; built-in tableaux: {} (or an inline \
                             `{{ a: …, b: …, c: …, order: … }}`, or the path of a `tableau!` item)",
                            BUILTIN_NAMES.join(", ")
                        ),
                    ));
                    None
                }
                Err(e) => {
                    tab_errors.push(err(id.span(), e));
                    None
                }
            }
        }
        (None, Some((_, TableauRef::Item(_)))) => None, // resolved by the item's macro
        (None, Some((_, TableauRef::Inline(span, body)))) => {
            let (t, e) = check_tableau(&format!("{}_tableau", m.name), body, *span);
            tab_errors.extend(e);
            t
        }
    };
    let tableau_ok = tableau.is_some();
    let tableau = tableau.unwrap_or_else(fallback_tableau);

    // Explicit adjoint tableau.
    if let (Some((key, body)), true) = (adjoint, tableau_ok) {
        tab_errors.extend(check_explicit_adjoint(&tableau.tableau, key.span(), body));
    }
    errors.extend(tab_errors);

    // Solver options.
    let embedded = tableau.tableau.b_hat().is_some();
    let mut stepping = if embedded {
        SteppingSpec::Adaptive {
            rtol: 1e-7,
            atol: 1e-9,
            max_steps: None,
        }
    } else {
        SteppingSpec::Fixed(1)
    };
    if let Some((_, opts)) = solver {
        let (mut rtol, mut atol, mut steps, mut max_steps) = (None, None, None, None);
        for o in opts {
            let k = o.key.to_string();
            match k.as_str() {
                "rtol" | "atol" => match o.value.value() {
                    Ok(q) if q > Q::zero() => {
                        let v = crate::tableau::q_to_f64(&q);
                        if k == "rtol" {
                            rtol = Some(v)
                        } else {
                            atol = Some(v)
                        }
                        if !embedded && tableau_ok {
                            errors.push(err(
                                o.key.span(),
                                format!(
                                    "`{k}` asks for adaptive steps, but tableau `{}` has no \
                                     embedded weights b_hat; use `steps: N`",
                                    tableau.tableau.name()
                                ),
                            ));
                        }
                    }
                    Ok(_) => errors.push(o.value.error(format!("`{k}` must be positive"))),
                    Err(e) => errors.push(e),
                },
                "steps" | "max_steps" => match o.value.text().parse::<usize>() {
                    Ok(n) if n >= 1 => {
                        if k == "steps" {
                            steps = Some(n)
                        } else {
                            max_steps = Some(n)
                        }
                    }
                    _ => errors.push(o.value.error(format!("`{k}` must be an integer ≥ 1"))),
                },
                _ => errors.push(err(
                    o.key.span(),
                    format!("unknown solver option `{k}`; expected rtol, atol, steps, max_steps"),
                )),
            }
        }
        if let Some(n) = steps {
            stepping = SteppingSpec::Fixed(n);
        } else if embedded {
            stepping = SteppingSpec::Adaptive {
                rtol: rtol.unwrap_or(1e-7),
                atol: atol.unwrap_or(1e-9),
                max_steps,
            };
        }
    }

    // Build and differentiate the graph now: the lowering compiles its plans.
    if errors.is_empty() {
        let differentiate = |g: Graph| {
            let g = crate::ir::passes::simplify(&g);
            crate::ad::vjp(&g, &Wrt::state_and_params(&g)).map(|_| ())
        };
        let built = match (multiscale, image) {
            (Some((scales, blocks)), Some(im)) => distinct_blocks(im[0], scales, blocks)
                .into_iter()
                .try_for_each(|(spec, _)| {
                    build_block_graph(im, spec, &layers).and_then(differentiate)
                }),
            _ => build_shaped_graph(d, time, image, &layers, &form)
                .and_then(differentiate)
                .and_then(|()| match (&stack, &form) {
                    // A Hutchinson stack also emits its exact-trace twin.
                    (Some(_), FormSpec::Cnf { hutchinson: true }) => {
                        let exact = FormSpec::Cnf { hutchinson: false };
                        build_shaped_graph(d, time, image, &layers, &exact).and_then(differentiate)
                    }
                    _ => Ok(()),
                }),
        };
        if let Err(e) = built {
            errors.push(err(
                name_span,
                format!("the network does not fit its form: {e}"),
            ));
        }
    }

    let model = CheckedModel {
        attrs: m.attrs.clone(),
        vis: m.vis.clone(),
        name: m.name.clone(),
        f64: float.unwrap_or(true),
        dim: d,
        image,
        time,
        layers,
        form,
        stack,
        tableau,
        stepping,
    };
    (model, errors)
}
