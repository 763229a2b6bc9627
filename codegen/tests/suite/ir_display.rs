//! Golden tests of the text form: an MLP, its VJP, and the attributes of every op family.

use symplode_codegen::ad::{Wrt, vjp};
use symplode_codegen::ir::{Activation, Graph, GraphBuilder, Type, UnaryOp};

#[test]
fn mlp_with_time_input() {
    let g = Graph::mlp(2, &[4], Activation::Tanh, true).unwrap();
    let expected = "\
inputs: x [B,2]
params: layers.0.weight [4,3], layers.0.bias [4], layers.1.weight [2,4], layers.1.bias [2]
v0 = input 0 (x)  ; [B,2]
v1 = time  ; [B,1]
v2 = concat v0, v1  ; [B,3]
v3 = param 0 (layers.0.weight)  ; [4,3]
v4 = param 1 (layers.0.bias)  ; [4]
v5 = dense v2, v3, v4  ; [B,4]
v6 = tanh v5  ; [B,4]
v7 = param 2 (layers.1.weight)  ; [2,4]
v8 = param 3 (layers.1.bias)  ; [2]
v9 = dense v6, v7, v8  ; [B,2]
outputs: v9
";
    assert_eq!(g.to_string(), expected);
}

#[test]
fn vjp_of_mlp() {
    let g = Graph::mlp(2, &[4], Activation::Tanh, true).unwrap();
    let v = vjp(&g, &Wrt::state_and_params(&g)).unwrap();
    let expected = "\
inputs: x [B,2], cotangent.0 [B,2]
params: layers.0.weight [4,3], layers.0.bias [4], layers.1.weight [2,4], layers.1.bias [2]
v0 = input 0 (x)  ; [B,2]
v1 = param 0 (layers.0.weight)  ; [4,3]
v2 = param 1 (layers.0.bias)  ; [4]
v3 = param 2 (layers.1.weight)  ; [2,4]
v4 = param 3 (layers.1.bias)  ; [2]
v5 = time  ; [B,1]
v6 = concat v0, v5  ; [B,3]
v7 = dense v6, v1, v2  ; [B,4]
v8 = tanh v7  ; [B,4]
v9 = dense v8, v3, v4  ; [B,2]
v10 = input 1 (cotangent.0)  ; [B,2]
v11 = dense_nt v10, v3  ; [B,4]
v12 = batch_outer v10, v8  ; [2,4]
v13 = batch_sum v10  ; [2]
v14 = const 1.0  ; [B,1]
v15 = square v8  ; [B,4]
v16 = sub v14, v15  ; [B,4]
v17 = mul v11, v16  ; [B,4]
v18 = dense_nt v17, v1  ; [B,3]
v19 = batch_outer v17, v6  ; [4,3]
v20 = batch_sum v17  ; [4]
v21 = slice v18, 0, 2  ; [B,2]
outputs: v9, v21, v19, v20, v12, v13
";
    assert_eq!(v.to_string(), expected);
}

#[test]
fn attributes_of_every_op_family() {
    let mut b = GraphBuilder::new();
    let u = b.input("u", 8).unwrap();
    let d = b.stencil(u, &[-2.5, 0.0, 2.5], 4).unwrap();
    let w = b.param("conv.weight", &[3, 2, 3]).unwrap();
    let c = b.conv1d(d, w, None, 4).unwrap();
    let ct = b.conv1d_t(c, w, 4).unwrap();
    let gw = b.conv1d_weight_grad(c, ct, 4, 3).unwrap();
    let s = b.slice(ct, 2, 3).unwrap();
    let r = b.repeat_groups(s, 2).unwrap();
    let q = b.sum_groups(r, 3).unwrap();
    let e = b.unary(UnaryOp::Exp, q).unwrap();
    let k = b.scale(e, -0.5).unwrap();
    let one = b.constant(1.0, Type::global(&[3, 2, 3])).unwrap();
    let gsum = b.add(gw, one).unwrap();
    let g = b.finish(&[k, gsum]).unwrap();
    let expected = "\
inputs: u [B,8]
params: conv.weight [3,2,3]
v0 = input 0 (u)  ; [B,8]
v1 = stencil v0, [-2.5, 0.0, 2.5], n=4, channels=2  ; [B,8]
v2 = param 0 (conv.weight)  ; [3,2,3]
v3 = conv1d v1, v2, n=4, cin=2, cout=3, k=3  ; [B,12]
v4 = conv1d_t v3, v2, n=4, cin=2, cout=3, k=3  ; [B,8]
v5 = conv1d_wgrad v3, v4, n=4, cin=2, cout=3, k=3  ; [3,2,3]
v6 = slice v4, 2, 3  ; [B,3]
v7 = repeat_groups v6, 2  ; [B,6]
v8 = sum_groups v7, 3  ; [B,2]
v9 = exp v8  ; [B,2]
v10 = scale v9, -0.5  ; [B,2]
v11 = const 1.0  ; [3,2,3]
v12 = add v5, v11  ; [3,2,3]
outputs: v10, v12
";
    assert_eq!(g.to_string(), expected);
}

#[test]
fn empty_declarations_print_a_dash() {
    let mut b = GraphBuilder::new();
    let t = b.time().unwrap();
    let g = b.finish(&[t]).unwrap();
    assert_eq!(
        g.to_string(),
        "inputs: -\nparams: -\nv0 = time  ; [B,1]\noutputs: v0\n"
    );
    assert_eq!(Type::global(&[]).to_string(), "[]");
}
