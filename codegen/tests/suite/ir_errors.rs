//! Bad graphs give typed errors that name the node, the op and the shapes.

use symplode_codegen::ad::{Trace, Wrt, cnf_dynamics, vjp};
use symplode_codegen::ir::eval::evaluate_f64;
use symplode_codegen::ir::{
    Activation, ConvShape, EvalError, Graph, GraphBuilder, IrError, Op, Type, Value,
};

#[test]
fn dense_weight_of_the_wrong_shape_names_node_and_shapes() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let w = b.param("w", &[4, 2]).unwrap();
    let err = b.dense(x, w, None).unwrap_err();
    assert_eq!(
        err,
        IrError::ExpectedGlobal {
            node: Value(2),
            op: "dense",
            operand: "w",
            expected: "[out,3]".into(),
            found: Type::global(&[4, 2]),
        }
    );
    assert_eq!(
        err.to_string(),
        "node v2 (dense): operand `w` must be a global [out,3], found [4,2]"
    );
    // The failed node was not added.
    assert_eq!(b.len(), 2);
}

#[test]
fn dense_bias_and_batched_weight() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let w = b.param("w", &[4, 3]).unwrap();
    let bias = b.param("b", &[3]).unwrap();
    let err = b.dense(x, w, Some(bias)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node v3 (dense): operand `b` must be a global [4], found [3]"
    );
    let err = b.dense(x, x, None).unwrap_err();
    assert!(
        matches!(err, IrError::ExpectedGlobal { operand: "w", .. }),
        "{err}"
    );
    let err = b.dense(w, w, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node v3 (dense): operand `x` must be batched [B,w], found [4,3]"
    );
}

#[test]
fn binary_widths_must_match_or_broadcast() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let y = b.input("y", 2).unwrap();
    let t = b.time().unwrap();
    let xt = b.add(x, t).unwrap();
    assert_eq!(b.ty(xt), Some(&Type::batched(3)));
    let ty = b.mul(t, y).unwrap();
    assert_eq!(b.ty(ty), Some(&Type::batched(2)));
    let err = b.sub(x, y).unwrap_err();
    assert!(matches!(err, IrError::ShapeMismatch { op: "sub", .. }));
    assert_eq!(
        err.to_string(),
        "node v5 (sub): cannot combine a [B,3] and b [B,2]: widths must be equal or one of \
         them 1"
    );
    let p = b.param("p", &[3]).unwrap();
    let err = b.add(x, p).unwrap_err();
    assert!(err.to_string().contains("a [B,3] and b [3]"), "{err}");
}

#[test]
fn undefined_operands_and_outputs() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let err = b.add(x, Value(7)).unwrap_err();
    assert_eq!(
        err,
        IrError::UndefinedValue {
            node: Value(1),
            op: "add",
            operand: Value(7),
            len: 1
        }
    );
    let err = b.clone().finish(&[x, Value(3)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "output 1: v3 is not defined (only v0..v1 exist)"
    );
    let err = b.push(Op::Input { index: 4 }).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node v1 (input): no input 4 (the graph declares 1)"
    );
}

#[test]
fn attributes_are_checked() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 6).unwrap();
    let err = b.slice(x, 4, 3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node v1 (slice): features 4..7 are not a non-empty range within the width 6 of v0"
    );
    assert!(b.slice(x, 0, 0).is_err());
    let err = b.sum_groups(x, 4).unwrap_err();
    assert!(
        err.to_string()
            .contains("group size 4 does not divide the width 6")
    );
    let err = b.stencil(x, &[1.0, -1.0], 6).unwrap_err();
    assert!(
        err.to_string()
            .contains("odd number of coefficients, got 2")
    );
    let err = b.stencil(x, &[1.0, -2.0, 1.0], 4).unwrap_err();
    assert!(
        err.to_string()
            .contains("v0 has width 6, but n = 4 points × 1 channels"),
        "{err}"
    );
    let err = b.scale(x, f64::NAN).unwrap_err();
    assert!(matches!(err, IrError::InvalidAttribute { op: "scale", .. }));
    let err = b.constant(1.0, Type::batched(0)).unwrap_err();
    assert!(err.to_string().contains("zero dimension"));
    let err = b.concat(&[]).unwrap_err();
    assert!(err.to_string().contains("at least one part"));
}

#[test]
fn convolution_shapes() {
    let mut b = GraphBuilder::new();
    let x = b.input("u", 10).unwrap();
    let w = b.param("w", &[4, 1, 2]).unwrap();
    let err = b.conv1d(x, w, None, 10).unwrap_err();
    assert!(err.to_string().contains("k = 2 must be odd"), "{err}");
    let w = b.param("w3", &[4, 2, 3]).unwrap();
    let err = b.conv1d(x, w, None, 10).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node v3 (conv1d): operand `x` v0 has width 10, but 2 channels × n = 10 points were \
         expected"
    );
    let y = b.input("y", 20).unwrap();
    let err = b
        .push(Op::Conv1dT {
            y,
            w,
            shape: ConvShape {
                n: 10,
                cin: 2,
                cout: 2,
                k: 3,
            },
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("operand `w` must be a global [2,2,3], found [4,2,3]")
    );
}

#[test]
fn declarations_are_checked() {
    let mut b = GraphBuilder::new();
    b.param("w", &[2, 2]).unwrap();
    let err = b.param("w", &[3]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `w`: a parameter with this name is already declared"
    );
    assert!(b.param("z", &[2, 0]).is_err());
    assert!(b.input("x", 0).is_err());
    assert!(Graph::mlp(0, &[4], Activation::Tanh, false).is_err());
    let err = Graph::mlp(2, &[0], Activation::Tanh, false).unwrap_err();
    assert!(err.to_string().contains("layers.0.weight"), "{err}");
    let err = "swish".parse::<Activation>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown activation `swish` (expected one of tanh, softplus, sigmoid, relu, elu, \
         silu, identity)"
    );
    assert_eq!("silu".parse::<Activation>().unwrap(), Activation::Silu);
}

#[test]
fn transformations_check_their_requests() {
    let g = Graph::mlp(2, &[3], Activation::Tanh, false).unwrap();
    let err = vjp(
        &g,
        &Wrt {
            inputs: vec![1],
            ..Wrt::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "vjp: the graph has no input 1 (it has 1)");
    let err = vjp(
        &g,
        &Wrt {
            params: vec![9],
            ..Wrt::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, IrError::NoSuch { index: 9, .. }));

    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let y = b.slice(x, 0, 2).unwrap();
    let not_square = b.finish(&[y]).unwrap();
    let err = cnf_dynamics(&not_square, Trace::Exact).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cnf_dynamics: f must map one input [B,d] to one output [B,d]; it has inputs [x [B,3]] \
         and outputs [[B,2]]"
    );
}

#[test]
fn inline_checks_the_signature() {
    let g = Graph::mlp(2, &[3], Activation::Tanh, false).unwrap();
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let params = b.import_params(&g).unwrap();
    let err = b.inline(&g, &[x], &params).unwrap_err();
    assert_eq!(
        err.to_string(),
        "inline: input 0 `x` is [B,2], but v0 is [B,3]"
    );
    let err = b.inline(&g, &[], &params).unwrap_err();
    assert!(matches!(err, IrError::Signature { .. }));
    // Importing twice clashes on the names.
    assert!(b.import_params(&g).is_err());
}

#[test]
fn evaluator_arguments_are_checked() {
    let g = Graph::mlp(2, &[3], Activation::Tanh, false).unwrap();
    let p = vec![0.0; g.param_len()];
    let err = evaluate_f64(&g, 2, &[&[0.0; 3]], 0.0, &p).unwrap_err();
    assert_eq!(
        err,
        EvalError::InputLength {
            index: 0,
            name: "x".into(),
            expected: 4,
            got: 3
        }
    );
    let err = evaluate_f64(&g, 2, &[], 0.0, &p).unwrap_err();
    assert!(matches!(
        err,
        EvalError::InputCount {
            expected: 1,
            got: 0
        }
    ));
    let err = evaluate_f64(&g, 1, &[&[0.0; 2]], 0.0, &p[1..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the graph has 17 parameter values (layers.0.weight [3,2] + layers.0.bias [3] + \
         layers.1.weight [2,3] + layers.1.bias [2]), got 16"
    );
}
