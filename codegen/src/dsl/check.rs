//! Compile-time validation of a parsed model and tableau, in exact rationals.
//!
//! Every check records its error (with the span of the offending token) and goes on, so one
//! invocation reports all its mistakes at once; checks that depend on earlier ones (order
//! conditions need a well-formed tableau, the partner needs the claimed order) are skipped
//! when those failed, so one mistake gives one message. The result is always a complete,
//! *sanitised* model (a failing tableau is replaced by `euler`, a misfitting output width by
//! `dim`) from which code is emitted next to the errors, so user code naming the model does
//! not produce follow-on errors.

use num_traits::Zero;
use proc_macro2::Span;
use syn::{Attribute, Ident, LitInt, Visibility};

use super::{Coef, Coefs, Field, ModelDecl, NeuralOde, TableauBody, TableauRef, TableauValue};
use crate::ad::{LinearOp, Trace, Wrt, cnf_dynamics, energy_dynamics};
use crate::ir::{Activation, Graph, GraphBuilder, IrError};
use crate::tableau::{
    BUILTIN_NAMES, MAX_ORDER, Q, SymplecticPartner, Tableau, TableauError, builtin, check_adjoint,
};

/// Activation names accepted after a dense layer.
pub const ACTIVATIONS: [&str; 7] = [
    "tanh", "softplus", "sigmoid", "relu", "elu", "silu", "identity",
];

/// The kind of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// `dense(width, activation?)`: PyTorch `nn.Linear`.
    Dense,
    /// `concat_squash(width, activation?)`: FFJORD's `ConcatSquashLinear` (reads `t` itself).
    ConcatSquash,
    /// `conv1d(channels, kernel, activation?, no_bias?)`: a periodic 1-D convolution (PyTorch
    /// `Conv1d` after a circular pad of `(kernel − 1) / 2`) on the energy form's grid, or on
    /// `dim` points for the other forms; `width` is the output channel count.
    Conv1d {
        /// Kernel size (odd).
        kernel: usize,
        /// Whether the layer has a bias.
        bias: bool,
    },
}

/// One validated layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    /// The kind.
    pub kind: LayerKind,
    /// Output width.
    pub width: usize,
    /// Activation (`None` for none or `identity`).
    pub activation: Option<String>,
}

/// How the layers define the dynamics (`form:`).
#[derive(Clone, Debug, PartialEq)]
pub enum FormSpec {
    /// The layers are the vector field dx/dt (the default).
    Field,
    /// A continuous normalizing flow ([`cnf_dynamics`]): the layers are `f(z, t)`, the state
    /// is `[z, log p]`.
    Cnf {
        /// Hutchinson's estimator (noise as auxiliary input 1) instead of the exact trace.
        hutchinson: bool,
    },
    /// An energy-based model ([`energy_dynamics`]): the layers are `H(z)` (summed over
    /// their output), the dynamics `D ∇_z H` with the stencil `D`.
    Energy {
        /// `laplacian` instead of `central_difference`.
        laplacian: bool,
        /// Grid points of the operator.
        n: usize,
        /// Grid spacing.
        dx: f64,
    },
}

impl FormSpec {
    /// Whether a model runs on the interpreter (any form but [`FormSpec::Field`], or any
    /// `concat_squash` or `conv1d` layer) rather than on generated Rust.
    pub fn interpreted(&self, layers: &[LayerSpec]) -> bool {
        *self != FormSpec::Field || layers.iter().any(|l| !matches!(l.kind, LayerKind::Dense))
    }
}

/// The IR graph of a declaration: input `x [B,dim]` (and `[x, t]` when `time` and the first
/// layer is dense), layers `layers.{k}` with their activations, then the form's transform.
/// The generated code of interpreted models calls it at construction; `neural_ode!` calls it
/// at compile time, so it does not fail for a model that compiled.
///
/// # Errors
/// A layer or form that does not fit (checked by [`check_model`]).
pub fn build_graph(
    dim: usize,
    time: bool,
    layers: &[LayerSpec],
    form: &FormSpec,
) -> Result<Graph, IrError> {
    let grid = match *form {
        FormSpec::Energy { n, .. } => n,
        _ => dim,
    };
    let mut b = GraphBuilder::new();
    let mut h = b.input("x", dim)?;
    if time && layers.first().is_some_and(|l| l.kind == LayerKind::Dense) {
        h = b.time_concat(h)?;
    }
    for (k, l) in layers.iter().enumerate() {
        let name = format!("layers.{k}");
        h = match l.kind {
            LayerKind::Dense => b.dense_layer(h, &name, l.width, Activation::Identity, true)?,
            LayerKind::ConcatSquash => b.concat_squash(h, &name, l.width)?,
            LayerKind::Conv1d { kernel, bias } => {
                b.conv1d_layer(h, &name, grid, l.width, kernel, Activation::Identity, bias)?
            }
        };
        if let Some(a) = &l.activation {
            h = b.activation(h, a.parse()?)?;
        }
    }
    let f = b.finish(&[h])?;
    match *form {
        FormSpec::Field => Ok(f),
        FormSpec::Cnf { hutchinson } => cnf_dynamics(
            &f,
            if hutchinson {
                Trace::Hutchinson
            } else {
                Trace::Exact
            },
        ),
        FormSpec::Energy { laplacian, n, dx } => energy_dynamics(
            &f,
            &if laplacian {
                LinearOp::laplacian(n, dx)
            } else {
                LinearOp::central_difference(n, dx)
            },
        ),
    }
}

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

/// A tableau that passed every check, with its partner.
#[derive(Clone, Debug)]
pub struct CheckedTableau {
    /// The exact tableau.
    pub tableau: Tableau,
    /// Its symplectic partner (proved).
    pub partner: SymplecticPartner,
    /// `Some(name)` for a built-in (the generated code calls `builtin(name)` at run time).
    pub builtin: Option<String>,
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
    /// Whether the network reads `[x, t]`.
    pub time: bool,
    /// The layers, the last of width `dim` (any width for an energy).
    pub layers: Vec<LayerSpec>,
    /// How the layers define the dynamics.
    pub form: FormSpec,
    /// The tableau.
    pub tableau: CheckedTableau,
    /// Step control.
    pub stepping: SteppingSpec,
}

fn err(span: Span, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(span, msg)
}

fn fallback_tableau() -> CheckedTableau {
    let tableau = builtin("euler").expect("euler is a valid built-in");
    let partner = tableau.partner().expect("euler has a partner");
    CheckedTableau {
        tableau,
        partner,
        builtin: Some("euler".into()),
    }
}

/// Checks a model declaration (with the tableau of a `tableau!` item when given by path).
/// Always returns a model to emit; the errors are empty when everything holds.
pub fn check_model(input: &NeuralOde) -> (CheckedModel, Vec<syn::Error>) {
    let m: &ModelDecl = &input.model;
    let mut errors = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut float = None;
    let mut dim = None;
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
    if dim.is_none() && !seen.contains(&"dim") {
        errors.push(missing("dim"));
    }
    let d = dim.map_or(1, |(d, _)| d);

    // Form.
    let form = match form_decl {
        None => FormSpec::Field,
        Some(f) => {
            let (kind, arg) = (f.kind.to_string(), f.arg.to_string());
            match (kind.as_str(), arg.as_str(), &f.grid) {
                ("cnf", "exact" | "hutchinson", None) => FormSpec::Cnf {
                    hutchinson: arg == "hutchinson",
                },
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
                            "unknown form `{kind}`; expected `cnf(exact)`, `cnf(hutchinson)`, \
                             `energy(central_difference(n, dx))` or `energy(laplacian(n, dx))`"
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
                        if !ACTIVATIONS.contains(&s.as_str()) {
                            errors.push(err(
                                a.span(),
                                format!(
                                    "unknown activation `{s}`; expected one of: {}",
                                    ACTIVATIONS.join(", ")
                                ),
                            ));
                            None
                        } else if s == "identity" {
                            None
                        } else {
                            Some(s)
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
                } else {
                    LayerKind::Dense
                };
                let last = n + 1 == decls.len() && !energy;
                // A conv1d's width is its channel count; as the last layer of a vector field
                // it must have one channel (output width `dim`, one value per grid point).
                let conv = matches!(kind, LayerKind::Conv1d { .. });
                let width = if last && conv {
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

    // Interpreted models: build and differentiate the graph now, as the run time will.
    if errors.is_empty() && form.interpreted(&layers) {
        let built = build_graph(d, time, &layers, &form).and_then(|g| {
            let g = crate::ir::passes::simplify(&g);
            crate::ad::vjp(&g, &Wrt::state_and_params(&g)).map(|_| ())
        });
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
        time,
        layers,
        form,
        tableau,
        stepping,
    };
    (model, errors)
}

/// Coefficients with their tokens.
type Row = Vec<(Coef, Q)>;
/// A matrix: its span and its rows with their spans.
type Matrix = (Span, Vec<(Span, Row)>);

/// A parsed tableau body, values read, spans kept.
struct Raw {
    a: Option<Matrix>,
    b: Option<(Span, Vec<(Coef, Q)>)>,
    c: Option<(Span, Vec<(Coef, Q)>)>,
    b_hat: Option<(Span, Vec<(Coef, Q)>)>,
    order: Option<(Span, u32)>,
    embedded_order: Option<(Span, u32)>,
    tolerance: Option<Q>,
}

fn read_vector(
    c: &Coefs,
    key: &str,
    errors: &mut Vec<syn::Error>,
) -> Option<(Span, Vec<(Coef, Q)>)> {
    match c {
        Coefs::Vector(span, v) => {
            let mut ok = true;
            let mut out = Vec::new();
            for coef in v {
                match coef.value() {
                    Ok(q) => out.push((coef.clone(), q)),
                    Err(e) => {
                        errors.push(e);
                        ok = false;
                    }
                }
            }
            ok.then_some((*span, out))
        }
        Coefs::Matrix(span, _) => {
            errors.push(err(
                *span,
                format!("`{key}` is a vector `[c, …]`, not a matrix"),
            ));
            None
        }
    }
}

fn read_matrix(c: &Coefs, key: &str, errors: &mut Vec<syn::Error>) -> Option<Matrix> {
    match c {
        Coefs::Matrix(span, rows) => {
            let mut ok = true;
            let mut out = Vec::new();
            for (rs, row) in rows {
                let mut r = Vec::new();
                for coef in row {
                    match coef.value() {
                        Ok(q) => r.push((coef.clone(), q)),
                        Err(e) => {
                            errors.push(e);
                            ok = false;
                        }
                    }
                }
                out.push((*rs, r));
            }
            ok.then_some((*span, out))
        }
        // `[]` parses as an empty vector: a tableau with one stage.
        Coefs::Vector(span, v) if v.is_empty() => Some((*span, Vec::new())),
        Coefs::Vector(span, _) => {
            errors.push(err(
                *span,
                format!("`{key}` is a matrix `[[…], …]` of rows"),
            ));
            None
        }
    }
}

fn read_body(body: &TableauBody, span: Span, errors: &mut Vec<syn::Error>) -> Option<Raw> {
    let mut raw = Raw {
        a: None,
        b: None,
        c: None,
        b_hat: None,
        order: None,
        embedded_order: None,
        tolerance: None,
    };
    let n0 = errors.len();
    let mut seen = Vec::new();
    for f in &body.fields {
        let key = f.key.to_string();
        if seen.contains(&key) {
            errors.push(err(
                f.key.span(),
                format!("tableau field `{key}` is given twice"),
            ));
            continue;
        }
        seen.push(key.clone());
        match (&*key, &f.value) {
            ("a", TableauValue::Coefs(c)) => raw.a = read_matrix(c, "a", errors),
            ("b", TableauValue::Coefs(c)) => raw.b = read_vector(c, "b", errors),
            ("c", TableauValue::Coefs(c)) => raw.c = read_vector(c, "c", errors),
            ("b_hat", TableauValue::Coefs(c)) => raw.b_hat = read_vector(c, "b_hat", errors),
            ("order" | "embedded_order", TableauValue::Int(l)) => match l.base10_parse::<u32>() {
                Ok(p) if p <= MAX_ORDER => {
                    let v = Some((l.span(), p));
                    if key == "order" { raw.order = v } else { raw.embedded_order = v }
                }
                _ => errors.push(err(
                    l.span(),
                    format!("an order must be an integer from 0 to {MAX_ORDER} (the rooted trees checked)"),
                )),
            },
            ("tolerance", TableauValue::Coef(c)) => match c.value() {
                Ok(q) => raw.tolerance = Some(num_traits::Signed::abs(&q)),
                Err(e) => errors.push(e),
            },
            _ => errors.push(err(f.key.span(), format!("bad value for `{key}`"))),
        }
    }
    for (k, present) in [
        ("a", seen.contains(&"a".to_string())),
        ("b", seen.contains(&"b".to_string())),
    ] {
        if !present {
            errors.push(err(span, format!("the tableau needs `{k}`")));
        }
    }
    (errors.len() == n0).then_some(raw)
}

/// Checks a tableau body: coefficients, shape and explicitness, consistency, the claimed
/// orders (the failing rooted tree and its residual) and the symplectic partner. `span` is
/// the body's (errors without a better place point there).
pub fn check_tableau(
    name: &str,
    body: &TableauBody,
    span: Span,
) -> (Option<CheckedTableau>, Vec<syn::Error>) {
    let mut errors = Vec::new();
    let Some(raw) = read_body(body, span, &mut errors) else {
        return (None, errors);
    };
    let (b_span, b) = raw.b.clone().expect("checked present");
    let s = b.len();
    if s == 0 {
        errors.push(err(
            b_span,
            "the weights b are empty: a tableau needs at least one stage",
        ));
        return (None, errors);
    }
    let (a_span, a_rows) = raw.a.clone().expect("checked present");
    // Rows: s (stages 1..s) or s - 1 (stages 2..s); each lower (i - 1 entries) or full (s).
    let first = if a_rows.len() == s {
        0
    } else if a_rows.len() + 1 == s {
        1
    } else {
        errors.push(err(
            a_span,
            format!(
                "A has {} rows but b has {s} weights: give {s} rows (stages 1..{s}) or {} rows \
                 (stages 2..{s})",
                a_rows.len(),
                s - 1
            ),
        ));
        return (None, errors);
    };
    let mut a = vec![vec![Q::zero(); s]; s];
    for (k, (rs, row)) in a_rows.iter().enumerate() {
        let i = k + first; // 0-based stage
        if row.len() == s && row.len() != i {
            for (j, (coef, q)) in row.iter().enumerate() {
                if j >= i && !q.is_zero() {
                    errors.push(coef.error(format!(
                        "a_{}{} = {q} is on or above the diagonal: an explicit tableau needs \
                         a_ij = 0 for j ≥ i (stage {} cannot use stage {} or later)",
                        i + 1,
                        j + 1,
                        i + 1,
                        j + 1
                    )));
                }
                a[i][j] = q.clone();
            }
        } else if row.len() == i {
            for (j, (_, q)) in row.iter().enumerate() {
                a[i][j] = q.clone();
            }
        } else {
            errors.push(err(
                *rs,
                format!(
                    "row {} of A has {} {}, expected {i} (a_{}1 … a_{}{i}, lower triangular) or \
                     {s} (full row)",
                    i + 1,
                    row.len(),
                    if row.len() == 1 { "entry" } else { "entries" },
                    i + 1,
                    i + 1,
                ),
            ));
        }
    }
    let c: Vec<Q> = match &raw.c {
        Some((cs, c)) if c.len() != s => {
            errors.push(err(
                *cs,
                format!(
                    "c has {} entries, expected {s} (one per weight in b)",
                    c.len()
                ),
            ));
            return (None, errors);
        }
        Some((_, c)) => c.iter().map(|(_, q)| q.clone()).collect(),
        None => a
            .iter()
            .map(|r| r.iter().fold(Q::zero(), |x, y| x + y))
            .collect(),
    };
    let b_hat: Option<Vec<Q>> = match &raw.b_hat {
        Some((bs, v)) if v.len() != s => {
            errors.push(err(
                *bs,
                format!("b_hat has {} entries, expected {s}", v.len()),
            ));
            return (None, errors);
        }
        Some((_, v)) => Some(v.iter().map(|(_, q)| q.clone()).collect()),
        None => None,
    };
    if !errors.is_empty() {
        return (None, errors);
    }
    let tol = raw.tolerance.clone().unwrap_or_else(Q::zero);
    if let Some((_, c_coefs)) = &raw.c {
        for (i, (coef, ci)) in c_coefs.iter().enumerate() {
            let sum = a[i].iter().fold(Q::zero(), |x, y| x + y);
            let diff = &sum - ci;
            if num_traits::Signed::abs(&diff) > tol {
                errors.push(coef.error(format!(
                    "inconsistent node: c_{} = {ci} but row {} of A sums to {sum} (need c_i = Σ_j a_ij)",
                    i + 1,
                    i + 1
                )));
            }
        }
    }
    if !errors.is_empty() {
        return (None, errors);
    }
    let bq: Vec<Q> = b.iter().map(|(_, q)| q.clone()).collect();
    let (embedded_order, eo_span) = match (&b_hat, raw.embedded_order) {
        (Some(_), Some((sp, p))) => (Some(p), Some(sp)),
        (Some(_), None) => (Some(0), None),
        (None, Some((sp, _))) => {
            errors.push(err(
                sp,
                "`embedded_order` is given without embedded weights `b_hat`",
            ));
            return (None, errors);
        }
        (None, None) => (None, None),
    };
    let tableau = match Tableau::new(
        name,
        a,
        bq,
        c,
        b_hat,
        raw.order.map_or(0, |o| o.1),
        embedded_order,
    ) {
        Ok(t) => t,
        Err(e) => {
            errors.push(err(span, e));
            return (None, errors);
        }
    };
    // Orders: the claimed one (or the highest satisfied when none is claimed).
    let order = match raw.order {
        Some((sp, p)) => {
            if let Err(e) = tableau.check_order_within(p, &tol) {
                errors.push(order_error(&e, sp, b_span, "b"));
            }
            p
        }
        None => tableau.satisfied_order_within(MAX_ORDER, &tol),
    };
    let embedded_order = match (eo_span, &raw.b_hat) {
        (Some(sp), Some((bh_span, _))) => {
            let p = embedded_order.unwrap_or(0);
            if let Err(e) = tableau.check_embedded_order_within(p, &tol) {
                errors.push(order_error(&e, sp, *bh_span, "b_hat"));
            }
            Some(p)
        }
        (None, Some(_)) => tableau.satisfied_embedded_order_within(MAX_ORDER, &tol),
        _ => None,
    };
    if !errors.is_empty() {
        return (None, errors);
    }
    // Rebuild with the final orders (cheap: structure only).
    let tableau = match Tableau::new_with_tolerance(
        name,
        tableau.a().to_vec(),
        tableau.b().to_vec(),
        tableau.c().to_vec(),
        tableau.b_hat().map(<[Q]>::to_vec),
        order,
        embedded_order,
        tol,
    ) {
        Ok(t) => t,
        Err(e) => {
            errors.push(err(span, e));
            return (None, errors);
        }
    };
    let partner = match tableau.partner() {
        Ok(p) => p,
        Err(e) => {
            errors.push(err(
                b_span,
                format!("{e}; the symplectic adjoint needs a partner"),
            ));
            return (None, errors);
        }
    };
    (
        Some(CheckedTableau {
            tableau,
            partner,
            builtin: None,
        }),
        errors,
    )
}

/// The error for a failed order claim: on the weights when they do not sum to 1, else on the
/// claim.
fn order_error(e: &TableauError, claim: Span, weights_span: Span, weights: &str) -> syn::Error {
    match e.order_failure() {
        Some(f) if f.order == 1 => {
            let sum = f.residual.parse::<String>().unwrap_or_default();
            err(
                weights_span,
                format!(
                    "the weights {weights} do not sum to 1 (Σ {weights}_i − 1 = {sum}): the \
                     order-1 condition fails, so the tableau is not consistent with dx/dt = f"
                ),
            )
        }
        _ => err(claim, e),
    }
}

/// Checks a user-supplied adjoint tableau `(A, B, C)` against the forward tableau: shapes,
/// `B = b`, `C = c` and the pairing conditions `b_i A_ij + B_j a_ji − b_i B_j = 0`, with the
/// error on the offending coefficient.
fn check_explicit_adjoint(forward: &Tableau, span: Span, body: &TableauBody) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    let Some(raw) = read_body(body, span, &mut errors) else {
        return errors;
    };
    let (_, rows) = raw.a.expect("present");
    let (b_span, b) = raw.b.expect("present");
    let n = b.len();
    let c: Vec<(Option<Coef>, Q)> = match raw.c {
        Some((_, c)) => c.into_iter().map(|(k, q)| (Some(k), q)).collect(),
        None => forward
            .c()
            .iter()
            .take(n)
            .map(|q| (None, q.clone()))
            .collect(),
    };
    let full: Vec<Vec<Q>> = rows
        .iter()
        .map(|(_, r)| r.iter().map(|(_, q)| q.clone()).collect())
        .collect();
    let bq: Vec<Q> = b.iter().map(|(_, q)| q.clone()).collect();
    let cq: Vec<Q> = c.iter().map(|(_, q)| q.clone()).collect();
    match check_adjoint(forward, &full, &bq, &cq) {
        Ok(_) => {}
        Err(TableauError::NotSymplecticPair { i, j, residual, .. }) => {
            let msg = format!(
                "the adjoint tableau is not a symplectic partner of `{}`: the pairing condition \
                 b_i A_ij + B_j a_ji − b_i B_j = 0 fails at (i, j) = ({i}, {j}) with residual {residual}",
                forward.name()
            );
            match rows.get(i - 1).and_then(|(_, r)| r.get(j - 1)) {
                Some((coef, _)) => errors.push(coef.error(msg)),
                None => errors.push(err(span, msg)),
            }
        }
        Err(TableauError::AdjointMismatch {
            vector,
            i,
            expected,
            got,
            expected_name,
            ..
        }) => {
            let msg = format!(
                "the adjoint's {vector}_{i} = {got} must equal the forward {expected_name}_{i} = {expected}"
            );
            let coef = if vector == "B" {
                b.get(i - 1).map(|x| x.0.clone())
            } else {
                c.get(i - 1).and_then(|x| x.0.clone())
            };
            errors.push(coef.map_or_else(|| err(b_span, &msg), |k| k.error(&msg)));
        }
        Err(TableauError::Shape {
            what,
            expected,
            got,
            ..
        }) => errors.push(err(
            if what.starts_with("adjoint B") {
                b_span
            } else {
                span
            },
            format!("{what} has length {got}, expected {expected} (adjoint rows are full rows)"),
        )),
        Err(e) => errors.push(err(span, e)),
    }
    errors
}
