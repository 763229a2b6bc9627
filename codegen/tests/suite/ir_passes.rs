//! Clean-up passes keep results and drop what they should; the forward/backward partition
//! of VJP graphs is well formed and keeps the tape the runtime `Mlp` keeps.

use symplode_codegen::ad::{Trace, Wrt, cnf_dynamics, vjp};
use symplode_codegen::ir::analysis::{batch_chunkable, partition};
use symplode_codegen::ir::eval::evaluate_f64;
use symplode_codegen::ir::passes::{cse, dce, select_outputs, simplify};
use symplode_codegen::ir::{Activation, EvalError, Graph, GraphBuilder, Op, Type, UnaryOp, Value};

fn sample_graph() -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let w = b.param("w", &[2, 3]).unwrap();
    let a = b.dense(x, w, None).unwrap();
    let a2 = b.dense(x, w, None).unwrap(); // duplicate of a
    let dead = b.unary(UnaryOp::Exp, a).unwrap();
    let _ = b.scale(dead, 2.0).unwrap();
    let one = b.constant(1.0, Type::batched(1)).unwrap();
    let one2 = b.constant(1.0, Type::batched(1)).unwrap(); // duplicate constant
    let neg_zero = b.constant(-0.0, Type::batched(1)).unwrap();
    let zero = b.constant(0.0, Type::batched(1)).unwrap(); // not a duplicate of −0.0
    let s = b.add(a, one).unwrap();
    let s2 = b.add(a2, one2).unwrap();
    let y = b.mul(s, s2).unwrap();
    let y = b.add(y, neg_zero).unwrap();
    let y = b.add(y, zero).unwrap();
    b.finish(&[y, a2]).unwrap()
}

#[test]
fn dce_drops_dead_nodes_and_keeps_the_interface() {
    let g = sample_graph();
    let d = dce(&g);
    assert_eq!(d.len(), g.len() - 2);
    assert_eq!(d.inputs(), g.inputs());
    assert_eq!(d.params(), g.params());
    assert!(!d.nodes().iter().any(|n| matches!(
        n.op,
        Op::Unary {
            op: UnaryOp::Exp,
            ..
        }
    )));
    let x = [0.1, 0.2, 0.3, -1.0, 0.5, 2.0];
    let p = [1.0, -1.0, 0.5, 0.25, 2.0, -0.5];
    assert_eq!(
        evaluate_f64(&g, 2, &[&x], 0.0, &p).unwrap(),
        evaluate_f64(&d, 2, &[&x], 0.0, &p).unwrap()
    );
}

#[test]
fn cse_merges_duplicates_exactly() {
    let g = sample_graph();
    let c = simplify(&g);
    let count = |g: &Graph, f: &dyn Fn(&Op) -> bool| g.nodes().iter().filter(|n| f(&n.op)).count();
    assert_eq!(count(&c, &|op| matches!(op, Op::Dense { .. })), 1);
    // 1.0 merged; −0.0 and 0.0 stay distinct.
    assert_eq!(count(&c, &|op| matches!(op, Op::Const { .. })), 3);
    // Both outputs now name the same dense node.
    assert_eq!(
        c.outputs()[1],
        c.nodes()
            .iter()
            .position(|n| matches!(n.op, Op::Dense { .. }))
            .map(|k| Value(k as u32))
            .unwrap()
    );
    let x = [0.1, 0.2, 0.3];
    let p = [1.0, -1.0, 0.5, 0.25, 2.0, -0.5];
    assert_eq!(
        evaluate_f64(&g, 1, &[&x], 0.0, &p).unwrap(),
        evaluate_f64(&c, 1, &[&x], 0.0, &p).unwrap()
    );
    // Idempotent.
    assert_eq!(cse(&c), c);
    assert_eq!(dce(&c), c);
}

/// Structural checks of a partition at the cotangent inputs.
fn well_formed(g: &Graph, late: &[u32]) -> usize {
    let part = partition(g, late, true);
    let inb = |v: &Value| part.backward.contains(v);
    let inf = |v: &Value| part.forward.contains(v);
    for v in &part.backward {
        for u in g.node(*v).unwrap().op.operands() {
            assert!(inb(&u) || part.tape.contains(&u), "{v} reads {u}\n{g}");
        }
    }
    for v in &part.forward {
        assert!(!part.dependent[v.index()]);
        for u in g.node(*v).unwrap().op.operands() {
            assert!(inf(&u));
        }
    }
    for v in &part.tape {
        assert!(inf(v) && !inb(v));
        assert!(!g.node(*v).unwrap().op.is_leaf());
    }
    for v in g.outputs() {
        assert!(if part.dependent[v.index()] {
            inb(v)
        } else {
            inf(v)
        });
    }
    part.tape.len()
}

#[test]
fn mlp_vjp_tape_is_one_tensor_per_hidden_layer() {
    for act in [Activation::Tanh, Activation::Sigmoid, Activation::Relu] {
        let f = Graph::mlp(3, &[8, 8, 8], act, true).unwrap();
        let v = vjp(&f, &Wrt::state_and_params(&f)).unwrap();
        let tape = partition(&v, &[1], true).tape;
        assert_eq!(well_formed(&v, &[1]), tape.len());
        let expected = if act == Activation::Relu { 0 } else { 3 };
        // relu and its derivative `step` are cheap: recomputed from the dense outputs,
        // which are then the tape.
        let relu_tape = if act == Activation::Relu { 3 } else { 0 };
        assert_eq!(tape.len(), expected + relu_tape, "{act}");
        for t in &tape {
            assert_eq!(v.ty(*t), Some(&Type::batched(8)));
        }
        // Without recomputation more is stored.
        assert!(partition(&v, &[1], false).tape.len() >= tape.len());
    }
}

#[test]
fn partitions_of_second_order_graphs_are_well_formed() {
    let f = Graph::concat_squash_mlp(3, &[6], Activation::Softplus).unwrap();
    for trace in [Trace::Exact, Trace::Hutchinson] {
        let cnf = cnf_dynamics(&f, trace).unwrap();
        let v = vjp(&cnf, &Wrt::state_and_params(&cnf)).unwrap();
        let late = v.input_index("cotangent.0").unwrap();
        assert!(well_formed(&v, &[late]) > 0);
    }
}

#[test]
fn select_outputs_drops_the_unneeded_forward_tail() {
    let f = Graph::mlp(2, &[4], Activation::Tanh, false).unwrap();
    let v = vjp(&f, &Wrt::state_and_params(&f)).unwrap();
    // Without the original output f(x), the last dense layer's forward product goes, and
    // with it the read of the last bias.
    let grads = select_outputs(&v, &[1, 2, 3, 4, 5]);
    assert_eq!(grads.outputs().len(), 5);
    assert_eq!(grads.len(), v.len() - 2);
    let x = [0.5, -0.5];
    let lam = [1.0, 2.0];
    let p: Vec<f64> = (0..f.param_len()).map(|k| k as f64 * 0.1 - 0.7).collect();
    let all = evaluate_f64(&v, 1, &[&x, &lam], 0.0, &p).unwrap();
    let some = evaluate_f64(&grads, 1, &[&x, &lam], 0.0, &p).unwrap();
    assert_eq!(all[1..], some[..]);
}

#[test]
fn chunkable_graphs_sum_over_chunks() {
    let f = Graph::concat_squash_mlp(2, &[3], Activation::Tanh).unwrap();
    let cnf = cnf_dynamics(&f, Trace::Hutchinson).unwrap();
    let v = vjp(&cnf, &Wrt::state_and_params(&cnf)).unwrap();
    assert!(batch_chunkable(&f) && batch_chunkable(&cnf) && batch_chunkable(&v));
    let vv = vjp(&v, &Wrt::all(&v)).unwrap();
    assert!(batch_chunkable(&vv));
    // Four samples at once, or two chunks of two with the global outputs summed.
    let p: Vec<f64> = (0..v.param_len())
        .map(|k| (k as f64 * 0.37).sin())
        .collect();
    let col = |n: usize, s: f64| -> Vec<f64> { (0..n).map(|k| (k as f64 * s).cos()).collect() };
    let (state, eps, lam) = (col(12, 0.3), col(8, 0.7), col(12, 1.1));
    let whole = evaluate_f64(&v, 4, &[&state, &eps, &lam], 0.5, &p).unwrap();
    let a = evaluate_f64(&v, 2, &[&state[..6], &eps[..4], &lam[..6]], 0.5, &p).unwrap();
    let b = evaluate_f64(&v, 2, &[&state[6..], &eps[4..], &lam[6..]], 0.5, &p).unwrap();
    for (k, ty) in v.output_types().iter().enumerate() {
        let joined: Vec<f64> = if ty.is_batched() {
            a[k].iter().chain(&b[k]).copied().collect()
        } else {
            a[k].iter().zip(&b[k]).map(|(x, y)| x + y).collect()
        };
        for (x, y) in joined.iter().zip(&whole[k]) {
            assert!((x - y).abs() < 1e-14 * (1.0 + y.abs()));
        }
    }
}

#[test]
fn coupled_graphs_are_not_chunkable() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let s = b.batch_sum(x).unwrap();
    let r = b.broadcast_rows(s).unwrap();
    let y = b.mul(r, x).unwrap();
    let coupled = b.finish(&[y]).unwrap();
    assert!(!batch_chunkable(&coupled));

    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).unwrap();
    let s = b.batch_sum(x).unwrap();
    let t = b.unary(UnaryOp::Tanh, s).unwrap();
    assert!(!batch_chunkable(&b.clone().finish(&[t]).unwrap()));
    assert!(batch_chunkable(&b.clone().finish(&[s]).unwrap()));
    let p = b.param("p", &[3]).unwrap();
    assert!(!batch_chunkable(&b.finish(&[p]).unwrap()));
}

#[test]
fn evaluator_refuses_impossible_batches() {
    let f = Graph::mlp(2, &[4], Activation::Tanh, false).unwrap();
    let p = vec![0.0; f.param_len()];
    let err = evaluate_f64(&f, usize::MAX / 2, &[&[]], 0.0, &p).unwrap_err();
    assert!(matches!(err, EvalError::BatchTooLarge { .. }), "{err}");
    // An empty batch is fine.
    let out = evaluate_f64(&f, 0, &[&[]], 0.0, &p).unwrap();
    assert!(out[0].is_empty());
}
