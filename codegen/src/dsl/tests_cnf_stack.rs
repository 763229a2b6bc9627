//! Unit tests of `form: cnf(TRACE, blocks: M, time_length: T)` (stacked CNF blocks): the
//! accepted arguments, `blocks: 1` being the single CNF, and the refusals with their messages.

use quote::quote;

use super::*;

fn model(tokens: proc_macro2::TokenStream) -> (CheckedModel, Vec<String>) {
    let parsed: NeuralOde = syn::parse2(tokens).expect("parses");
    let (m, e) = check_model(&parsed);
    (m, e.iter().map(|e| e.to_string()).collect())
}

/// The model (2-D, ConcatSquash 4-4) with the given form.
fn with_form(form: proc_macro2::TokenStream) -> (CheckedModel, Vec<String>) {
    model(quote! {
        struct Flow {
            float: f64,
            dim: 2,
            layers: [concat_squash(4, tanh), concat_squash(4, tanh), concat_squash(2)],
            form: #form,
            tableau: rk4,
        }
    })
}

fn errors(form: proc_macro2::TokenStream) -> Vec<String> {
    with_form(form).1
}

#[test]
fn blocks_and_time_length_are_read() {
    let (m, e) = with_form(quote!(cnf(hutchinson, blocks: 2)));
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m.form, FormSpec::Cnf { hutchinson: true });
    assert_eq!(
        m.stack,
        Some(CnfStack {
            blocks: 2,
            time_length: 1.0
        })
    );
    let (m, e) = with_form(quote!(cnf(exact, time_length: 1/2, blocks: 3,)));
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m.form, FormSpec::Cnf { hutchinson: false });
    assert_eq!(
        m.stack,
        Some(CnfStack {
            blocks: 3,
            time_length: 0.5
        })
    );
}

#[test]
fn one_block_is_the_single_cnf() {
    for form in [quote!(cnf(exact, blocks: 1)), quote!(cnf(exact))] {
        let (m, e) = with_form(form);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(m.stack, None);
    }
    // The emitted items are those of the form without `blocks`.
    let expand = |form: proc_macro2::TokenStream| {
        crate::lower_rust::expand_neural_ode(quote! {
            struct Flow {
                float: f64,
                dim: 2,
                layers: [concat_squash(4, tanh), concat_squash(2)],
                form: #form,
                tableau: rk4,
            }
        })
        .to_string()
    };
    assert_eq!(
        expand(quote!(cnf(hutchinson, blocks: 1))),
        expand(quote!(cnf(hutchinson)))
    );
}

#[test]
fn bad_arguments_are_refused_on_the_offending_token() {
    let cases = [
        (
            quote!(cnf(exact, blocks: 0)),
            "`blocks` must be an integer from 1 to 256",
        ),
        (
            quote!(cnf(exact, blocks: 257)),
            "`blocks` must be an integer from 1 to 256",
        ),
        (
            quote!(cnf(exact, blocks: 2.5)),
            "`blocks` must be an integer from 1 to 256",
        ),
        (
            quote!(cnf(exact, blocks: -2)),
            "`blocks` must be an integer from 1 to 256",
        ),
        (
            quote!(cnf(exact, blocks: 2, blocks: 3)),
            "`blocks` is given twice",
        ),
        (
            quote!(cnf(exact, block: 2)),
            "unknown `cnf` argument `block`",
        ),
        (
            quote!(cnf(exact, blocks: 2, time_length: 0)),
            "`time_length` must be positive",
        ),
        (
            quote!(cnf(exact, blocks: 2, time_length: -1/2)),
            "`time_length` must be positive",
        ),
        (
            quote!(cnf(exact, blocks: 2, time_length: x)),
            "is not a rational literal",
        ),
        (
            quote!(cnf(exact, time_length: 1/2)),
            "`time_length` is each block's interval",
        ),
        (
            quote!(cnf(exact, blocks: 1, time_length: 1)),
            "`time_length` is each block's interval",
        ),
        (quote!(cnf(blocks: 2)), "`cnf` needs its trace first"),
        (
            quote!(energy(laplacian(2, 0.5), blocks: 2)),
            "`energy` takes no `key: value`",
        ),
        (quote!(cnf(exactly, blocks: 2)), "unknown trace `exactly`"),
        (
            quote!(multiscale(blocks: 2, scales: 1, time_length: 1)),
            "unknown multiscale argument",
        ),
    ];
    for (form, want) in cases {
        let e = errors(form.clone());
        assert_eq!(e.len(), 1, "{form}: {e:?}");
        assert!(e[0].contains(want), "{form}: {e:?}");
    }
}

#[test]
fn an_image_stack_is_refused_for_the_multiscale_form() {
    let (_, e) = model(quote! {
        struct Images {
            float: f64,
            shape: [1, 4, 4],
            layers: [conv2d(4, 3, 1, 1, softplus, concat_time), conv2d(1, 3, 1, 1, concat_time)],
            form: cnf(hutchinson, blocks: 2),
            tableau: rk4,
        }
    });
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("write `form: multiscale(scales: 1, blocks: M)`"),
        "{e:?}"
    );
    // One block on an image is today's image CNF.
    let (m, e) = model(quote! {
        struct Images {
            float: f64,
            shape: [1, 4, 4],
            layers: [conv2d(4, 3, 1, 1, softplus, concat_time), conv2d(1, 3, 1, 1, concat_time)],
            form: cnf(hutchinson, blocks: 1),
            tableau: rk4,
        }
    });
    assert!(e.is_empty() && m.stack.is_none(), "{e:?}");
}

#[test]
fn a_stack_emits_one_block_type_the_kernels_once_and_a_hutchinson_twin() {
    let expand = |form: proc_macro2::TokenStream| {
        crate::lower_rust::expand_neural_ode(quote! {
            struct Flow {
                float: f64,
                dim: 2,
                layers: [concat_squash(4, tanh), concat_squash(2)],
                form: #form,
                tableau: rk4,
            }
        })
        .to_string()
    };
    let count = |out: &str, item: &str| out.matches(&format!("struct {item} ")).count();
    let h = expand(quote!(cnf(hutchinson, blocks: 3)));
    assert!(!h.contains("compile_error"), "{h}");
    for item in [
        "Flow",
        "FlowBlock",
        "FlowKernels",
        "FlowExact",
        "FlowExactBlock",
    ] {
        assert_eq!(count(&h, item), 1, "{item}");
    }
    assert!(h.contains("__blocks : [FlowBlock ; 3usize]"), "{h}");
    assert!(h.contains("fn draw_probes") && h.contains("fn exact"));
    let e = expand(quote!(cnf(exact, blocks: 3)));
    assert_eq!(count(&e, "FlowBlock"), 1);
    assert_eq!(count(&e, "FlowExact") + count(&e, "FlowExactBlock"), 0);
    assert!(!e.contains("fn draw_probes") && !e.contains("fn exact"));
}
