//! The `neural_ode!` / `tableau!` input language: syntax tree, parsing ([`syn::parse::Parse`],
//! one `impl` per node) and compile-time validation ([`check_model`], [`check_tableau`]).
//! (One file over 600 lines: the syntax tree's types and their `Parse` impls are read together,
//! node by node, as the grammar documented on [`NeuralOde`]; the checks live in `check/`.)
//!
//! Everything here is ordinary code over `proc_macro2` tokens, so it is unit-tested without a
//! compiler; `symplode-macros` only forwards its input to [`crate::lower_rust`].

mod check;
mod coef;

pub use check::{
    CheckedModel, CheckedTableau, CnfStack, FormSpec, LayerKind, LayerMisfit, LayerSpec,
    MisfitPart, SteppingSpec, block_layers, build_block_field, build_block_graph, build_graph,
    build_shaped_graph, check_model, check_tableau, distinct_blocks, image_shapes,
};
pub use coef::Coef;

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Ident, LitBool, LitInt, Path, Token, Visibility, braced, bracketed, parenthesized,
};

/// A `neural_ode!` invocation.
///
/// ```text
/// neural_ode   := callback? model
/// callback     := "@tableau" IDENT ("valid" | "invalid") "{" tableau_body "}"   (internal)
/// model        := ATTR* VIS "struct" IDENT "{" field ("," field)* ","? "}"
/// field        := "float" ":" ("f32" | "f64")
///               | "dim" ":" INT                        (state dimension d ≥ 1)
///               | "shape" ":" "[" INT "," INT "," INT "]"
///                                                       (the state as a c × h × w image,
///                                                        channel-major; `dim` may be left out)
///               | "time" ":" BOOL                      (input [x, t]; default true)
///               | "layers" ":" "[" layer ("," layer)* ","? "]"
///               | "tableau" ":" tableau_ref
///               | "solver" ":" "{" option ("," option)* ","? "}"
///               | "adjoint" ":" "{" adjoint_field ("," adjoint_field)* ","? "}"
///               | "form" ":" form                      (default: the layers are dx/dt)
/// layer        := ("dense" | "concat_squash") "(" INT ("," IDENT)? ")"
///                                                       (width, activation after it)
///               | "conv1d" "(" INT "," INT ("," IDENT)* ")"
///                                                       (channels, odd kernel size, then the
///                                                        activation and/or `no_bias`; periodic
///                                                        on the energy form's grid, else on
///                                                        `dim` points)
///               | "conv2d" "(" INT "," INT ("," INT ("," INT)?)? ("," IDENT)* ")"
///                                                       (channels, kernel size, stride = 1,
///                                                        zero padding = 0 as PyTorch, then
///                                                        the activation, `no_bias` and/or
///                                                        `concat_time`: t as an extra first
///                                                        input channel, FFJORD's ConcatConv2d)
///               | "squeeze" ("(" ")")?                 (2×2 space-to-channel, FFJORD's order)
///               | "unsqueeze" ("(" ")")?               (its inverse)
/// form         := "cnf" "(" ("exact" | "hutchinson") ("," cnf_arg)* ","? ")"
///                                                       (with `blocks: M`, M ≥ 2: FFJORD's
///                                                        tabular flow, M stacked CNF blocks
///                                                        of the layers, block b over
///                                                        [b·T, (b+1)·T]; keys in any order;
///                                                        flat samples only)
///               | "energy" "(" ("central_difference" | "laplacian") "(" INT "," coef ")" ")"
///               | "multiscale" "(" "scales" ":" INT "," "blocks" ":" INT ","? ")"
///                                                       (FFJORD's multiscale image flow: a
///                                                        chain of Hutchinson CNF blocks, each
///                                                        the layers on its squeezed, kept
///                                                        channels; needs `shape`, image layers
///                                                        only; keys in either order)
/// cnf_arg      := "blocks" ":" INT                     (1 to 256; 1 is the single CNF)
///               | "time_length" ":" coef              (T > 0, default 1; needs blocks ≥ 2)
/// tableau_ref  := IDENT                                 (a built-in, lower case: rk4, dopri5, …)
///               | PATH                                  (an item declared with tableau!, UPPER case)
///               | "{" tableau_body "}"                  (inline)
/// tableau_body := tableau_field ("," tableau_field)* ","?
/// tableau_field:= ("a" | "b" | "c" | "b_hat") ":" coefs_or_rows
///               | ("order" | "embedded_order") ":" INT
///               | "tolerance" ":" coef
/// coefs_or_rows:= "[" coef,* "]" | "[" ("[" coef,* "]"),* "]"
/// coef         := "-"? (INT | FLOAT) ("/" INT)?         (an exact rational: -56/15, 0.25, 3)
/// option       := ("rtol" | "atol") ":" coef | ("steps" | "max_steps") ":" INT
/// adjoint_field:= ("a" | "b" | "c") ":" coefs_or_rows
/// ```
///
/// Example:
///
/// ```text
/// neural_ode! {
///     /// A 2-D spiral field.
///     pub struct Spiral {
///         float: f64,
///         dim: 2,
///         time: true,
///         layers: [dense(64, tanh), dense(64, tanh), dense(2)],
///         tableau: dopri5,
///         solver: { rtol: 1e-6, atol: 1e-8 },
///     }
/// }
/// ```
///
/// FFJORD's multiscale MNIST flow: the layers are each block's net as written for the state's
/// image (the last `conv2d`'s channel count becomes each block's kept channels); the macro
/// emits the flow type `Mnist` (`new`, `from_params`, `draw_probes`, `problem`, …) and one
/// generated block type per distinct block (`lower_rust::multiscale`, docs/macro.md):
///
/// ```text
/// neural_ode! {
///     /// 3 scales, 2 blocks per side of a squeeze: 10 Hutchinson CNF blocks.
///     pub struct Mnist {
///         float: f64,
///         shape: [1, 28, 28],
///         layers: [
///             conv2d(64, 3, 1, 1, softplus, concat_time),
///             conv2d(64, 3, 1, 1, softplus, concat_time),
///             conv2d(64, 3, 1, 1, softplus, concat_time),
///             conv2d(1, 3, 1, 1, concat_time),
///         ],
///         form: multiscale(scales: 3, blocks: 2),
///         tableau: dopri5,
///     }
/// }
/// ```
///
/// FFJORD's tabular flow on BSDS300 patches: two CNF blocks of one ConcatSquash net, each
/// with its own parameters; the macro emits the flow type `Bsds` (`new`, `from_params`,
/// `block(b)`, `draw_probes`, `problem`, `exact()`), its block type `BsdsBlock` and, for a
/// Hutchinson stack, the exact-trace twin `BsdsExact` / `BsdsExactBlock` for test-time
/// likelihoods (`lower_rust::cnf_stack`, docs/macro.md):
///
/// ```text
/// neural_ode! {
///     /// 2 Hutchinson CNF blocks over [0, 1] and [1, 2].
///     pub struct Bsds {
///         float: f64,
///         dim: 63,
///         layers: [
///             concat_squash(1260, softplus),
///             concat_squash(1260, softplus),
///             concat_squash(1260, softplus),
///             concat_squash(63),
///         ],
///         form: cnf(hutchinson, blocks: 2, time_length: 1),
///         tableau: dopri5,
///     }
/// }
/// ```
pub struct NeuralOde {
    /// A tableau delivered by the macro of a `tableau!` item (internal callback form).
    pub callback: Option<TableauCallback>,
    /// The model declaration.
    pub model: ModelDecl,
}

/// The internal `@tableau NAME valid|invalid { … }` prefix that a `tableau!` item's macro
/// prepends when `neural_ode!` names it by path.
pub struct TableauCallback {
    /// The `tableau!` item's name.
    pub name: Ident,
    /// Whether the item passed its own checks (its errors were already reported).
    pub valid: bool,
    /// The tableau.
    pub body: TableauBody,
}

/// `ATTR* VIS struct NAME { fields }`.
pub struct ModelDecl {
    /// Outer attributes (doc comments) forwarded to the model type.
    pub attrs: Vec<Attribute>,
    /// Visibility of the generated types.
    pub vis: Visibility,
    /// The model type's name.
    pub name: Ident,
    /// The fields in order of appearance.
    pub fields: Vec<Field>,
}

/// One `key: value` of a model.
pub enum Field {
    /// `float: f32 | f64` (checked later; the ident is kept for its span).
    Float(Ident),
    /// `dim: INT`.
    Dim(LitInt),
    /// `shape: [c, h, w]`: the state as an image.
    Shape(Ident, Vec<LitInt>),
    /// `time: BOOL`.
    Time(LitBool),
    /// `layers: [...]`.
    Layers(Ident, Vec<LayerDecl>),
    /// `tableau: ...`.
    Tableau(Ident, TableauRef),
    /// `solver: { ... }`.
    Solver(Ident, Vec<OptionDecl>),
    /// `adjoint: { ... }`.
    Adjoint(Ident, TableauBody),
    /// `form: ...`.
    Form(Ident, FormDecl),
}

/// `form: KIND(ARG)`, `form: KIND(ARG(N, DX))`, either followed by `, KEY: VALUE, …`, or
/// `form: KIND(KEY: VALUE, …)` (checked later).
pub struct FormDecl {
    /// `cnf`, `energy` or `multiscale`.
    pub kind: Ident,
    /// The trace (`exact`, `hutchinson`), the operator (`central_difference`, `laplacian`),
    /// or the first key of `KEY: VALUE` arguments (then `leading_key`).
    pub arg: Ident,
    /// Whether `arg` is the first key of the `KEY: VALUE` arguments (`multiscale(scales: …)`)
    /// rather than a trace or an operator.
    pub leading_key: bool,
    /// The operator's grid points and spacing.
    pub grid: Option<(LitInt, Coef)>,
    /// `KEY: VALUE` arguments in order (`multiscale(scales: 3, blocks: 2)`, `cnf(hutchinson,
    /// blocks: 2, time_length: 1/2)`); empty otherwise. Values are read as integers or exact
    /// rationals by the checks.
    pub options: Vec<(Ident, Coef)>,
}

impl Field {
    /// The key's name, for duplicate detection.
    pub fn key(&self) -> &'static str {
        match self {
            Field::Float(_) => "float",
            Field::Dim(_) => "dim",
            Field::Shape(..) => "shape",
            Field::Time(_) => "time",
            Field::Layers(..) => "layers",
            Field::Tableau(..) => "tableau",
            Field::Solver(..) => "solver",
            Field::Adjoint(..) => "adjoint",
            Field::Form(..) => "form",
        }
    }
}

/// One layer: `dense(WIDTH, ACTIVATION?)`, `concat_squash(WIDTH, ACTIVATION?)`,
/// `conv1d(CHANNELS, KERNEL, …)`, `conv2d(CHANNELS, KERNEL, STRIDE?, PADDING?, …)`,
/// `squeeze` or `unsqueeze`.
pub struct LayerDecl {
    /// The layer kind (`dense`, `concat_squash`, `conv1d`, `conv2d`, `squeeze`, `unsqueeze`).
    pub kind: Ident,
    /// Output width (output channels of a convolution; a `0` placeholder spanning the kind
    /// for `squeeze`/`unsqueeze`, which have none).
    pub width: LitInt,
    /// Activation applied after the layer.
    pub activation: Option<Ident>,
    /// A convolution's kernel size.
    pub kernel: Option<LitInt>,
    /// A `conv2d`'s stride.
    pub stride: Option<LitInt>,
    /// A `conv2d`'s zero padding.
    pub padding: Option<LitInt>,
    /// A convolution's `no_bias` flag.
    pub no_bias: Option<Ident>,
    /// A `conv2d`'s `concat_time` flag.
    pub concat_time: Option<Ident>,
}

/// Where the tableau comes from.
pub enum TableauRef {
    /// A built-in name (lower case).
    Builtin(Ident),
    /// A path to a `tableau!` item (upper-case last segment).
    Item(Path),
    /// An inline tableau.
    Inline(Span, TableauBody),
}

/// A solver option `key: value`.
pub struct OptionDecl {
    /// The key.
    pub key: Ident,
    /// The value (a rational literal or an integer).
    pub value: Coef,
}

/// A vector `[c, …]` or a matrix `[[c, …], …]` of coefficients, with the bracket's span.
pub enum Coefs {
    /// `[c, …]`.
    Vector(Span, Vec<Coef>),
    /// `[[c, …], …]`: the rows with their spans.
    Matrix(Span, Vec<(Span, Vec<Coef>)>),
}

impl Coefs {
    /// The span of the outer brackets.
    pub fn span(&self) -> Span {
        match self {
            Coefs::Vector(s, _) | Coefs::Matrix(s, _) => *s,
        }
    }
}

/// One `key: value` of a tableau body.
pub struct TableauField {
    /// The key (`a`, `b`, `c`, `b_hat`, `order`, `embedded_order`, `tolerance`).
    pub key: Ident,
    /// Its value.
    pub value: TableauValue,
}

/// The value of a tableau field.
pub enum TableauValue {
    /// Coefficients.
    Coefs(Coefs),
    /// An integer (orders).
    Int(LitInt),
    /// One coefficient (tolerance).
    Coef(Coef),
}

/// The inside of `{ … }` of an inline tableau, a `tableau!` item or an adjoint tableau.
pub struct TableauBody {
    /// The fields in order.
    pub fields: Vec<TableauField>,
    /// The tokens as written (forwarded by `tableau!` items).
    pub tokens: TokenStream,
}

/// A `tableau!` invocation: `ATTR* VIS NAME = { tableau_body } ;?`.
pub struct TableauItem {
    /// Outer attributes (doc comments).
    pub attrs: Vec<Attribute>,
    /// Visibility (at most crate-wide: `pub` is exported as `pub(crate)`).
    pub vis: Visibility,
    /// The name (UPPER case by convention; `neural_ode!` tells built-ins from items by case).
    pub name: Ident,
    /// Span of the braces.
    pub span: Span,
    /// The tableau.
    pub body: TableauBody,
}

impl Parse for NeuralOde {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let callback = if input.peek(Token![@]) {
            Some(input.parse()?)
        } else {
            None
        };
        Ok(NeuralOde {
            callback,
            model: input.parse()?,
        })
    }
}

impl Parse for TableauCallback {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        input.parse::<Token![@]>()?;
        let kw: Ident = input.parse()?;
        if kw != "tableau" {
            return Err(syn::Error::new(kw.span(), "expected `@tableau`"));
        }
        let name: Ident = input.parse()?;
        let flag: Ident = input.parse()?;
        let content;
        braced!(content in input);
        Ok(TableauCallback {
            name,
            valid: flag == "valid",
            body: content.parse()?,
        })
    }
}

impl Parse for ModelDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let content;
        braced!(content in input);
        let fields = Punctuated::<Field, Token![,]>::parse_terminated(&content)?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the model declaration"));
        }
        Ok(ModelDecl {
            attrs,
            vis,
            name,
            fields: fields.into_iter().collect(),
        })
    }
}

impl Parse for Field {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        Ok(match key.to_string().as_str() {
            "float" => Field::Float(input.parse()?),
            "dim" => Field::Dim(input.parse()?),
            "shape" => {
                let content;
                bracketed!(content in input);
                let dims = Punctuated::<LitInt, Token![,]>::parse_terminated(&content)?;
                Field::Shape(key, dims.into_iter().collect())
            }
            "time" => Field::Time(input.parse()?),
            "layers" => {
                let content;
                bracketed!(content in input);
                let layers = Punctuated::<LayerDecl, Token![,]>::parse_terminated(&content)?;
                Field::Layers(key, layers.into_iter().collect())
            }
            "tableau" => Field::Tableau(key, input.parse()?),
            "solver" => {
                let content;
                braced!(content in input);
                let opts = Punctuated::<OptionDecl, Token![,]>::parse_terminated(&content)?;
                Field::Solver(key, opts.into_iter().collect())
            }
            "adjoint" => {
                let content;
                braced!(content in input);
                Field::Adjoint(key, content.parse()?)
            }
            "form" => Field::Form(key, input.parse()?),
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown field `{key}`; expected one of: float, dim, shape, time, \
                         layers, tableau, solver, adjoint, form"
                    ),
                ));
            }
        })
    }
}

impl Parse for LayerDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let kind: Ident = input.parse()?;
        let known = [
            "dense",
            "concat_squash",
            "conv1d",
            "conv2d",
            "squeeze",
            "unsqueeze",
        ];
        if !known.iter().any(|k| kind == k) {
            return Err(syn::Error::new(
                kind.span(),
                format!(
                    "unknown layer kind `{kind}`; expected `dense(width, activation?)`, \
                     `concat_squash(width, activation?)`, \
                     `conv1d(channels, kernel, activation?, no_bias?)`, \
                     `conv2d(channels, kernel, stride?, padding?, activation?, no_bias?, \
                     concat_time?)`, `squeeze` or `unsqueeze`"
                ),
            ));
        }
        let mut decl = LayerDecl {
            width: LitInt::new("0", kind.span()),
            kind,
            activation: None,
            kernel: None,
            stride: None,
            padding: None,
            no_bias: None,
            concat_time: None,
        };
        if decl.kind == "squeeze" || decl.kind == "unsqueeze" {
            if input.peek(syn::token::Paren) {
                let content;
                parenthesized!(content in input);
                if !content.is_empty() {
                    return Err(content.error(format!("`{}` takes no arguments", decl.kind)));
                }
            }
            return Ok(decl);
        }
        let content;
        parenthesized!(content in input);
        decl.width = content.parse()?;
        let conv = decl.kind == "conv1d" || decl.kind == "conv2d";
        if conv {
            content.parse::<Token![,]>()?;
            decl.kernel = Some(content.parse::<LitInt>()?);
        }
        if decl.kind == "conv2d" {
            // Optional stride, then padding: integers before the flags.
            for slot in [&mut decl.stride, &mut decl.padding] {
                if content.peek(Token![,]) && content.peek2(LitInt) {
                    content.parse::<Token![,]>()?;
                    *slot = Some(content.parse::<LitInt>()?);
                }
            }
        }
        while content.peek(Token![,]) {
            content.parse::<Token![,]>()?;
            if content.is_empty() {
                break;
            }
            let id: Ident = content.parse()?;
            if conv && id == "no_bias" && decl.no_bias.is_none() {
                decl.no_bias = Some(id);
            } else if decl.kind == "conv2d" && id == "concat_time" && decl.concat_time.is_none() {
                decl.concat_time = Some(id);
            } else if decl.activation.is_none() {
                decl.activation = Some(id);
            } else {
                return Err(syn::Error::new(
                    id.span(),
                    "expected `)` after the activation",
                ));
            }
            if !conv {
                break;
            }
        }
        if !content.is_empty() {
            return Err(content.error("expected `)` after the activation"));
        }
        Ok(decl)
    }
}

impl Parse for FormDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let kind: Ident = input.parse()?;
        let content;
        parenthesized!(content in input);
        let arg: Ident = content.parse()?;
        if content.peek(Token![:]) {
            // `KEY: VALUE, …` (a multiscale flow's sizes).
            return Ok(FormDecl {
                kind,
                options: key_values(&content, arg.clone())?,
                arg,
                leading_key: true,
                grid: None,
            });
        }
        let grid = if content.peek(syn::token::Paren) {
            let inner;
            parenthesized!(inner in content);
            let n: LitInt = inner.parse()?;
            inner.parse::<Token![,]>()?;
            let dx: Coef = inner.parse()?;
            if !inner.is_empty() {
                return Err(inner.error("expected `)` after the grid spacing"));
            }
            Some((n, dx))
        } else {
            None
        };
        // `, KEY: VALUE, …` after the trace or operator (`cnf(hutchinson, blocks: 2)`).
        let mut options = Vec::new();
        if content.peek(Token![,]) {
            content.parse::<Token![,]>()?;
            if !content.is_empty() {
                let key: Ident = content.parse()?;
                options = key_values(&content, key)?;
            }
        }
        if !content.is_empty() {
            return Err(content.error("unexpected tokens in the form"));
        }
        Ok(FormDecl {
            kind,
            arg,
            leading_key: false,
            grid,
            options,
        })
    }
}

/// `: VALUE (, KEY: VALUE)* ,?` after the first `key` of a form's keyed arguments.
fn key_values(content: ParseStream, first: Ident) -> syn::Result<Vec<(Ident, Coef)>> {
    let mut options = Vec::new();
    let mut key = first;
    loop {
        content.parse::<Token![:]>()?;
        options.push((key, content.parse::<Coef>()?));
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
        if content.is_empty() {
            break;
        }
        key = content.parse()?;
    }
    Ok(options)
}

impl Parse for TableauRef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::token::Brace) {
            let content;
            let brace = braced!(content in input);
            return Ok(TableauRef::Inline(brace.span.join(), content.parse()?));
        }
        let path: Path = input.parse()?;
        let builtin = path.leading_colon.is_none()
            && path.segments.len() == 1
            && path.segments[0]
                .ident
                .to_string()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase());
        Ok(if builtin {
            TableauRef::Builtin(path.segments[0].ident.clone())
        } else {
            TableauRef::Item(path)
        })
    }
}

impl Parse for OptionDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        Ok(OptionDecl {
            key,
            value: input.parse()?,
        })
    }
}

impl Parse for Coefs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        let bracket = bracketed!(content in input);
        let span = bracket.span.join();
        if content.peek(syn::token::Bracket) {
            let mut rows = Vec::new();
            while !content.is_empty() {
                let inner;
                let b = bracketed!(inner in content);
                let row = Punctuated::<Coef, Token![,]>::parse_terminated(&inner)?;
                rows.push((b.span.join(), row.into_iter().collect()));
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            Ok(Coefs::Matrix(span, rows))
        } else {
            let v = Punctuated::<Coef, Token![,]>::parse_terminated(&content)?;
            Ok(Coefs::Vector(span, v.into_iter().collect()))
        }
    }
}

impl Parse for TableauField {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let value = match key.to_string().as_str() {
            "a" | "b" | "c" | "b_hat" => TableauValue::Coefs(input.parse()?),
            "order" | "embedded_order" => TableauValue::Int(input.parse()?),
            "tolerance" => TableauValue::Coef(input.parse()?),
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown tableau field `{key}`; expected one of: a, b, c, b_hat, order, \
                         embedded_order, tolerance"
                    ),
                ));
            }
        };
        Ok(TableauField { key, value })
    }
}

impl Parse for TableauBody {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let tokens: TokenStream = input.fork().parse()?;
        let fields = Punctuated::<TableauField, Token![,]>::parse_terminated(input)?;
        Ok(TableauBody {
            fields: fields.into_iter().collect(),
            tokens,
        })
    }
}

impl Parse for TableauItem {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let content;
        let brace = braced!(content in input);
        let body = content.parse()?;
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the tableau"));
        }
        Ok(TableauItem {
            attrs,
            vis,
            name,
            span: brace.span.join(),
            body,
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cnf_stack;
#[cfg(test)]
mod tests_image;
#[cfg(test)]
mod tests_multiscale;
