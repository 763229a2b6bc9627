//! Unit tests of the image layers (`shape:`, `conv2d`, `squeeze`, `unsqueeze`): parsing,
//! shape checks with their messages, and the built graph against one wired by hand.

use quote::quote;

use super::*;
use crate::ir::eval::evaluate_f64;
use crate::ir::{Activation, GraphBuilder, SqueezeShape};

fn model(tokens: proc_macro2::TokenStream) -> (CheckedModel, Vec<String>) {
    let parsed: NeuralOde = syn::parse2(tokens).expect("parses");
    let (m, e) = check_model(&parsed);
    (m, e.iter().map(|e| e.to_string()).collect())
}

/// The errors of a model with the given shape and layers (a vector field, rk4).
fn errors(shape: proc_macro2::TokenStream, layers: proc_macro2::TokenStream) -> Vec<String> {
    model(quote! {
        struct M { float: f64, shape: #shape, layers: #layers, tableau: rk4 }
    })
    .1
}

#[test]
fn an_image_cnf_is_parsed_checked_and_built_as_wired_by_hand() {
    let (m, e) = model(quote! {
        struct Image {
            float: f64,
            shape: [1, 4, 6],
            layers: [
                conv2d(3, 3, 1, 1, softplus, concat_time),
                squeeze(),
                conv2d(4, 1, tanh, no_bias),
                unsqueeze,
                conv2d(1, 3, 1, 1, concat_time),
            ],
            form: cnf(hutchinson),
            tableau: rk4,
        }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m.dim, 24);
    assert_eq!(m.image, Some([1, 4, 6]));
    assert_eq!(
        m.layers[0].kind,
        LayerKind::Conv2d {
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
            concat_time: true
        }
    );
    assert_eq!(m.layers[0].activation, Some(Activation::Softplus));
    assert_eq!(
        (m.layers[1].kind, m.layers[1].width),
        (LayerKind::Squeeze, 12)
    );
    assert_eq!(
        m.layers[2].kind,
        LayerKind::Conv2d {
            kernel: 1,
            stride: 1,
            padding: 0,
            bias: false,
            concat_time: false
        }
    );
    assert_eq!(m.layers[2].activation, Some(Activation::Tanh));
    assert_eq!(
        (m.layers[3].kind, m.layers[3].width),
        (LayerKind::Unsqueeze, 1)
    );

    // The same network wired by hand with the builder's image layers.
    let f = {
        let mut b = GraphBuilder::new();
        let x = b.input("x", 24).unwrap();
        let (y, im) = b
            .concat_conv2d(x, "layers.0", (1, 4, 6), 3, (3, 1, 1))
            .unwrap();
        let y = b.activation(y, Activation::Softplus).unwrap();
        let s = SqueezeShape { c: 3, h: 4, w: 6 };
        assert_eq!(im, (3, 4, 6));
        let y = b.squeeze(y, s).unwrap();
        let (y, _) = b
            .conv2d_layer(
                y,
                "layers.2",
                (12, 2, 3),
                4,
                (1, 1, 0),
                Activation::Tanh,
                false,
            )
            .unwrap();
        let y = b.unsqueeze(y, SqueezeShape { c: 1, h: 4, w: 6 }).unwrap();
        let (y, _) = b
            .concat_conv2d(y, "layers.4", (1, 4, 6), 1, (3, 1, 1))
            .unwrap();
        b.finish(&[y]).unwrap()
    };
    let built = build_shaped_graph(m.dim, m.time, m.image, &m.layers, &FormSpec::Field).unwrap();
    let names = |g: &crate::ir::Graph| {
        g.params()
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&built), names(&f));
    assert_eq!(
        names(&built)[0],
        ("layers.0._layer.weight".into(), vec![3, 2, 3, 3])
    );
    let params: Vec<f64> = (0..f.param_len())
        .map(|i| (i as f64 * 0.61).sin() * 0.5)
        .collect();
    let x: Vec<f64> = (0..48).map(|i| (i as f64 * 0.37).cos()).collect();
    let a = evaluate_f64(&built, 2, &[&x], 0.3, &params).unwrap();
    let b = evaluate_f64(&f, 2, &[&x], 0.3, &params).unwrap();
    assert_eq!(a, b);
    assert!(a[0].iter().any(|v| *v != 0.0));

    // The CNF form builds over it (state [z, log p], noise as auxiliary input).
    let g = build_shaped_graph(m.dim, m.time, m.image, &m.layers, &m.form).unwrap();
    assert_eq!(g.inputs()[0].width, 25);
}

#[test]
fn a_strided_net_that_comes_back_to_the_state_shape_checks_clean() {
    // 8×8 → stride 2 → 4×4 (8 channels) → unsqueeze → 2×8×8 → 1×1 conv → 1×8×8.
    let e = errors(
        quote!([1, 8, 8]),
        quote!([conv2d(8, 3, 2, 1, relu), unsqueeze, conv2d(1, 1)]),
    );
    assert!(e.is_empty(), "{e:?}");
    // dim and shape may both be given when they agree.
    let (m, e) = model(quote! {
        struct M { float: f64, dim: 12, shape: [3, 2, 2], layers: [conv2d(3, 1)], tableau: rk4 }
    });
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m.dim, 12);
}

#[test]
fn image_shape_mistakes_are_reported_with_their_reason() {
    let one = |e: Vec<String>, want: &str| {
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains(want), "want `{want}` in {e:?}");
    };
    // No image to read.
    let e = model(quote! {
        struct M { float: f64, dim: 16, layers: [conv2d(1, 3, 1, 1)], tableau: rk4 }
    })
    .1;
    one(
        e,
        "`conv2d` needs an image: give the model the state's image shape",
    );
    one(
        errors(quote!([1, 4, 4]), quote!([dense(16, tanh), conv2d(1, 1)])),
        "the layer before is a dense layer, whose output is a flat vector",
    );
    // A kernel larger than the padded image, padding not below the kernel.
    one(
        errors(quote!([1, 4, 4]), quote!([conv2d(2, 7), conv2d(1, 1)])),
        "does not fit its 1×4×4 input image: the 7×7 kernel does not fit",
    );
    one(
        errors(quote!([1, 4, 4]), quote!([conv2d(1, 3, 1, 3)])),
        "padding 3 must be smaller than the kernel size 3",
    );
    // Squeeze needs even sides, unsqueeze four channels at a time.
    one(
        errors(quote!([1, 5, 4]), quote!([squeeze, unsqueeze])),
        "`squeeze` needs an even height and width, but its input image is 1×5×4",
    );
    one(
        errors(quote!([2, 4, 4]), quote!([unsqueeze, conv2d(2, 1)])),
        "`unsqueeze` needs a multiple of 4 channels, but its input image is 2×4×4",
    );
    // The output is dx/dt: it must have the state's shape.
    one(
        errors(
            quote!([1, 6, 6]),
            quote!([conv2d(4, 3, tanh), conv2d(1, 3)]),
        ),
        "the last layer gives a 1×2×2 image but the state is 1×6×6",
    );
    one(
        errors(quote!([1, 6, 6]), quote!([conv2d(2, 3, 1, 1)])),
        "the last layer gives a 2×6×6 image",
    );
    one(
        errors(quote!([1, 4, 4]), quote!([squeeze])),
        "the last layer gives a 4×2×2 image",
    );
    // Field-level mistakes.
    one(
        errors(quote!([1, 4]), quote!([dense(4)])),
        "`shape` is `[channels, height, width]`: 3 integers, 2 given",
    );
    one(
        errors(quote!([1, 0, 4]), quote!([dense(4)])),
        "an image size must be an integer from 1",
    );
    one(
        errors(quote!([1, 4, 4]), quote!([conv2d(1, 0)])),
        "a conv2d kernel size must be an integer from 1",
    );
    one(
        errors(quote!([1, 4, 4]), quote!([conv2d(1, 3, 0, 1)])),
        "a conv2d stride must be an integer from 1",
    );
    let e = model(quote! {
        struct M { float: f64, dim: 15, shape: [1, 4, 4], layers: [conv2d(1, 1)], tableau: rk4 }
    })
    .1;
    one(
        e,
        "the state dimension is 15 but `shape` is 1×4×4 = 16 values",
    );
    // An energy's layers may end at any shape.
    let e = model(quote! {
        struct M {
            float: f64, shape: [1, 4, 4], time: false,
            layers: [conv2d(2, 3, 2, 1, tanh), conv2d(1, 2)],
            form: energy(central_difference(16, 1)), tableau: rk4,
        }
    })
    .1;
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn image_layer_syntax_errors_are_parse_errors() {
    let bad =
        |t: proc_macro2::TokenStream| syn::parse2::<NeuralOde>(t).err().map(|e| e.to_string());
    let e = bad(quote! { struct M { layers: [squeeze(2)] } });
    assert!(e.unwrap().contains("`squeeze` takes no arguments"));
    let e = bad(quote! { struct M { layers: [conv2d(2)] } });
    assert!(e.is_some());
    let e = bad(quote! { struct M { layers: [conv2d(2, 3, 1, 1, tanh, relu)] } });
    assert!(e.unwrap().contains("expected `)` after the activation"));
    let e = bad(quote! { struct M { layers: [conv3d(2, 3)] } });
    assert!(
        e.unwrap()
            .contains("`conv2d(channels, kernel, stride?, padding?")
    );
}
