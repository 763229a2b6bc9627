//! Unit tests of parsing and checking.

use quote::quote;

use super::*;

fn model(tokens: proc_macro2::TokenStream) -> (CheckedModel, Vec<String>) {
    let parsed: NeuralOde = syn::parse2(tokens).expect("parses");
    let (m, e) = check_model(&parsed);
    (m, e.iter().map(|e| e.to_string()).collect())
}

#[test]
fn a_valid_model_checks_clean() {
    let (m, e) = model(quote! {
        pub struct Spiral {
            float: f64, dim: 2, time: true,
            layers: [dense(64, tanh), dense(64, tanh), dense(2)],
            tableau: dopri5,
            solver: { rtol: 1e-6, atol: 1e-8 },
        }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m.layers.len(), 3);
    assert_eq!(m.tableau.partner.stages, 6);
    assert_eq!(
        m.stepping,
        SteppingSpec::Adaptive {
            rtol: 1e-6,
            atol: 1e-8,
            max_steps: None
        }
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let (m, e) = model(quote! {
        struct M {
            float: f64, dim: 2,
            layers: [dense(8, tanhh), dense(3)],
            tableau: rk5,
        }
    });
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].contains("unknown activation `tanhh`"));
    assert!(e[1].contains("last layer has width 3"));
    assert!(e[2].contains("unknown tableau `rk5`"));
    // The sanitised model is complete.
    assert_eq!(m.layers[1].width, 2);
    assert_eq!(m.tableau.tableau.name(), "euler");
}

fn tableau_errors(body: proc_macro2::TokenStream) -> Vec<String> {
    let b: TableauBody = syn::parse2(body).expect("parses");
    let (t, e) = check_tableau("t", &b, proc_macro2::Span::call_site());
    assert_eq!(t.is_none(), !e.is_empty());
    e.iter().map(|e| e.to_string()).collect()
}

#[test]
fn inline_tableau_checks() {
    assert!(
        tableau_errors(quote!(a: [[1/3], [0, 2/3]], b: [1/4, 0, 3/4], c: [0, 1/3, 2/3], order: 3))
            .is_empty()
    );
    let e =
        tableau_errors(quote!(a: [[1/3], [0, 2/3]], b: [1/4, 0, 3/4], c: [0, 1/3, 2/3], order: 4));
    assert!(e[0].contains("does not have order 4"), "{e:?}");
    let e = tableau_errors(quote!(a: [[1/2]], b: [1/2, 1/4], c: [0, 1/2], order: 1));
    assert!(e[0].contains("do not sum to 1"), "{e:?}");
    let e = tableau_errors(quote!(a: [[1/2]], b: [0, 1], c: [0, 1/3], order: 2));
    assert!(e[0].contains("inconsistent node: c_2 = 1/3"), "{e:?}");
    let e = tableau_errors(quote!(a: [[0, 1], [1/2, 0]], b: [0, 1], order: 2));
    assert!(
        e[0].contains("a_12 = 1 is on or above the diagonal"),
        "{e:?}"
    );
    let e = tableau_errors(quote!(a: [[1/2, 1, 0]], b: [0, 1], order: 2));
    assert!(e[0].contains("row 2 of A has 3 entries"), "{e:?}");
    let e = tableau_errors(quote!(a: [[x], [1/0, 2/3]], b: [1/4, 0, 3/4]));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("`x` is not a rational literal"), "{e:?}");
    assert!(e[1].contains("zero denominator"), "{e:?}");
    let e = tableau_errors(quote!(a: [[1]], b: [0, 0], order: 0));
    assert!(e[0].contains("no symplectic partner"), "{e:?}");
}

#[test]
fn explicit_adjoint_pairing() {
    let ok = quote! {
        struct M { float: f64, dim: 1, layers: [dense(1)],
            tableau: { a: [[1]], b: [1/2, 1/2], order: 2 },
            adjoint: { a: [[1/2, -1/2], [1/2, 1/2]], b: [1/2, 1/2], c: [0, 1] } }
    };
    assert!(model(ok).1.is_empty());
    let bad = quote! {
        struct M { float: f64, dim: 1, layers: [dense(1)],
            tableau: { a: [[1]], b: [1/2, 1/2], order: 2 },
            adjoint: { a: [[1/2, 1/2], [1/2, 1/2]], b: [1/2, 1/2], c: [0, 1] } }
    };
    let e = model(bad).1;
    assert!(e[0].contains("fails at (i, j) = (1, 2)"), "{e:?}");
}

#[test]
fn forms_are_checked() {
    let (m, e) = model(quote! {
        struct Flow {
            float: f64, dim: 2,
            layers: [concat_squash(8, tanh), concat_squash(2)],
            form: cnf(hutchinson),
            tableau: rk4,
        }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m.form, FormSpec::Cnf { hutchinson: true });
    assert_eq!(m.layers[0].kind, LayerKind::ConcatSquash);

    // The energy's layers may end at any width; its grid must divide dim.
    let (m, e) = model(quote! {
        struct Wave {
            float: f64, dim: 8,
            layers: [dense(4, tanh), dense(1)],
            form: energy(laplacian(8, 1/4)),
            tableau: rk4,
        }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(
        m.form,
        FormSpec::Energy {
            laplacian: true,
            n: 8,
            dx: 0.25
        }
    );
    assert_eq!(m.layers[1].width, 1);

    let (_, e) = model(quote! {
        struct Bad {
            float: f64, dim: 6,
            layers: [concat_squash(4, tanh), concat_squash(3)],
            form: cnf(approximate),
            tableau: rk4,
        }
    });
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("unknown trace `approximate`"), "{e:?}");
    assert!(e[1].contains("the last layer has width 3"), "{e:?}");

    let (_, e) = model(quote! {
        struct Bad {
            float: f64, dim: 6,
            layers: [dense(1)],
            form: energy(central_difference(4, 0)),
            tableau: rk4,
        }
    });
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("not a multiple"), "{e:?}");
    assert!(e[1].contains("spacing must be positive"), "{e:?}");
}

#[test]
fn conv1d_layers_are_parsed_and_checked() {
    let (m, e) = model(quote! {
        struct Kdv {
            float: f64, dim: 10, time: false,
            layers: [conv1d(4, 3, tanh), conv1d(4, 1, tanh), conv1d(1, 1, no_bias)],
            form: energy(central_difference(10, 1/5)),
            tableau: dopri5,
        }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(
        m.layers[0].kind,
        LayerKind::Conv1d {
            kernel: 3,
            bias: true
        }
    );
    assert_eq!(m.layers[0].activation, Some(crate::ir::Activation::Tanh));
    assert_eq!(
        m.layers[2].kind,
        LayerKind::Conv1d {
            kernel: 1,
            bias: false
        }
    );
    let g = build_graph(m.dim, m.time, &m.layers, &m.form).unwrap();
    assert_eq!(g.param_len(), 4 * 3 + 4 + 4 * 4 + 4 + 4);

    // A vector field of convolutions on `dim` points ends in one channel; kernels are odd.
    let (m, e) = model(quote! {
        struct Field {
            float: f64, dim: 6, time: false,
            layers: [conv1d(2, 3, no_bias, relu), conv1d(1, 1)],
            tableau: rk4,
        }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m.layers[0].activation, Some(crate::ir::Activation::Relu));
    let (_, e) = model(quote! {
        struct Bad {
            float: f64, dim: 6, time: false,
            layers: [conv1d(2, 2, tanh), conv1d(3, 1)],
            tableau: rk4,
        }
    });
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("odd"), "{e:?}");
    assert!(e[1].contains("needs 1 channel"), "{e:?}");
}
