//! Unit tests of `form: multiscale(scales: S, blocks: B)`: the block graphs against the
//! library's (`ir::image_flow::block_net`, structurally equal), the refused sizes and layers
//! with their messages, and the emitted items.

use quote::quote;

use super::*;
use crate::ad::{Trace, cnf_dynamics};
use crate::ir::image_flow::{architecture, block_net};

fn model(tokens: proc_macro2::TokenStream) -> (CheckedModel, Vec<String>) {
    let parsed: NeuralOde = syn::parse2(tokens).expect("parses");
    let (m, e) = check_model(&parsed);
    (m, e.iter().map(|e| e.to_string()).collect())
}

/// The errors of a multiscale flow with the given shape, layers and form.
fn errors(
    shape: proc_macro2::TokenStream,
    layers: proc_macro2::TokenStream,
    form: proc_macro2::TokenStream,
) -> Vec<String> {
    model(quote! {
        struct M { float: f64, shape: #shape, layers: #layers, form: #form, tableau: rk4 }
    })
    .1
}

/// FFJORD's block net with hidden channels 4-4 on a `c`-channel state.
fn ffjord_layers(c: usize) -> proc_macro2::TokenStream {
    quote! {[
        conv2d(4, 3, 1, 1, softplus, concat_time),
        conv2d(4, 3, 1, 1, softplus, concat_time),
        conv2d(#c, 3, 1, 1, concat_time),
    ]}
}

#[test]
fn every_block_graph_is_the_librarys() {
    for (image, scales, blocks) in [([1, 8, 8], 2, 1), ([2, 8, 4], 3, 2), ([1, 28, 28], 3, 2)] {
        let [c, h, w] = image;
        let layers = ffjord_layers(c);
        let (m, e) = model(quote! {
            struct Flow {
                float: f64,
                shape: [#c, #h, #w],
                layers: #layers,
                form: multiscale(scales: #scales, blocks: #blocks),
                tableau: rk4,
            }
        });
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(m.form, FormSpec::Multiscale { scales, blocks });
        let specs = architecture(c, scales, blocks);
        let distinct = distinct_blocks(c, scales, blocks);
        assert_eq!(
            distinct.iter().map(|(_, ids)| ids.len()).sum::<usize>(),
            specs.len()
        );
        for (spec, ids) in distinct {
            assert!(ids.iter().all(|&b| specs[b] == spec));
            let lib = block_net(image, spec, &[4, 4]).unwrap();
            let dsl = build_block_field(image, spec, &m.layers).unwrap();
            assert_eq!(dsl, lib, "{image:?} {spec:?}");
            assert_eq!(
                build_block_graph(image, spec, &m.layers).unwrap(),
                cnf_dynamics(&lib, Trace::Hutchinson).unwrap()
            );
        }
    }
}

#[test]
fn keys_come_in_either_order_and_a_plain_build_is_refused() {
    let (m, e) = model(quote! {
        struct Flow {
            float: f64,
            shape: [1, 4, 4],
            layers: [conv2d(1, 3, 1, 1, concat_time)],
            form: multiscale(blocks: 2, scales: 3,),
            tableau: rk4,
        }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(
        m.form,
        FormSpec::Multiscale {
            scales: 3,
            blocks: 2
        }
    );
    let e = build_shaped_graph(16, true, m.image, &m.layers, &m.form).unwrap_err();
    assert!(e.to_string().contains("build_block_graph"), "{e}");
}

#[test]
fn refused_sizes_name_the_token() {
    let layers = ffjord_layers(1);
    let cases: [(proc_macro2::TokenStream, proc_macro2::TokenStream, &str); 8] = [
        (
            quote!([1, 28, 28]),
            quote!(multiscale(scales: 4, blocks: 2)),
            "4 scales squeeze the 1×28×28 image 3 times, so its height and width must be \
             multiples of 2^(scales − 1) = 8, but 28 is not",
        ),
        (
            quote!([1, 8, 6]),
            quote!(multiscale(scales: 3, blocks: 1)),
            "but 6 is not",
        ),
        (
            quote!([1, 8, 8]),
            quote!(multiscale(scales: 0, blocks: 1)),
            "`scales` must be an integer from 1 to 63",
        ),
        (
            quote!([1, 8, 8]),
            quote!(multiscale(scales: 2, blocks: 0)),
            "`blocks` must be an integer from 1 to 256",
        ),
        (
            quote!([1, 8, 8]),
            quote!(multiscale(scales: 2)),
            "`multiscale` needs both sizes",
        ),
        (
            quote!([1, 8, 8]),
            quote!(multiscale(scales: 2, scales: 2, blocks: 1)),
            "`scales` is given twice",
        ),
        (
            quote!([1, 8, 8]),
            quote!(multiscale(levels: 2, blocks: 1)),
            "unknown multiscale argument `levels`",
        ),
        (
            quote!([1, 8, 8]),
            quote!(multiscale(hutchinson)),
            "expected `multiscale(scales: S, blocks: B)`",
        ),
    ];
    for (shape, form, want) in cases {
        let e = errors(shape, layers.clone(), form);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains(want), "{e:?} lacks {want:?}");
    }
    let e = errors(quote!([1, 8, 8]), layers.clone(), quote!(cnf(exact: 2)));
    assert!(e[0].contains("`cnf` needs its trace first"), "{e:?}");
}

#[test]
fn layers_that_do_not_fit_a_block_are_refused_once() {
    let form = quote!(multiscale(scales: 3, blocks: 1));
    // Without an image: one message, on the form.
    let (_, e) = model(quote! {
        struct M { float: f64, dim: 64, layers: [conv2d(1, 3, 1, 1)], form: #form, tableau: rk4 }
    });
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("`multiscale` needs an image"), "{e:?}");
    // A dense layer.
    let e = errors(
        quote!([1, 8, 8]),
        quote!([dense(64, tanh), conv2d(1, 3, 1, 1)]),
        form.clone(),
    );
    assert!(e.iter().any(|m| m.contains("not `dense`")), "{e:?}");
    // Fits 1×12×12 and the once-squeezed blocks, but the twice-squeezed block (8×3×3) has an
    // odd side to squeeze.
    let e = errors(
        quote!([1, 12, 12]),
        quote!([
            squeeze,
            conv2d(4, 3, 1, 1, softplus, concat_time),
            unsqueeze,
            conv2d(1, 3, 1, 1, concat_time),
        ]),
        form.clone(),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "in block 3 of the multiscale flow (the state squeezed 2 times, its first 8 \
             channels: a 8×3×3 image): `squeeze` needs an even height and width"
        ),
        "{e:?}"
    );
    // The last layer must give back the state's channels (the first block's).
    let e = errors(quote!([1, 8, 8]), ffjord_layers(2), form);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("the last layer gives a 2×8×8 image"), "{e:?}");
}

#[test]
fn the_flow_is_emitted_with_one_type_per_distinct_block() {
    let layers = ffjord_layers(1);
    let out = crate::lower_rust::expand_neural_ode(quote! {
        /// FFJORD's MNIST flow.
        pub struct Mnist {
            float: f64,
            shape: [1, 28, 28],
            layers: #layers,
            form: multiscale(scales: 3, blocks: 2),
            tableau: rk4,
            solver: { steps: 2 },
        }
    })
    .to_string();
    assert!(!out.contains("compile_error"), "{out}");
    for b in [0, 2, 4, 6, 8] {
        assert!(
            out.contains(&format!("pub struct MnistBlock{b}")),
            "block type {b}"
        );
    }
    for b in [1, 3, 5, 7, 9] {
        assert!(
            !out.contains(&format!("struct MnistBlock{b} ")),
            "no type {b}"
        );
    }
    assert!(out.contains("pub struct Mnist {"));
    assert!(out.contains("pub struct MnistKernels"));
    assert!(out.contains("pub fn problem"));
}
