//! Bad input to the interpreter is a typed error saying what and where, never a panic:
//! graphs that are not vector fields, wrong or non-finite parameters, bad auxiliary inputs;
//! and an evaluation with a missing auxiliary input fills its outputs with NaN.

use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph, GraphBuilder, Type};
use symplode_runtime::Dynamics;
use symplode_runtime::interp::{InterpError, Interpreted, cnf};

fn mlp() -> Graph {
    Graph::mlp(2, &[4], Activation::Tanh, true).unwrap()
}

#[test]
fn graphs_that_are_not_vector_fields() {
    // No input.
    let mut b = GraphBuilder::new();
    let t = b.time().unwrap();
    let g = b.finish(&[t]).unwrap();
    assert_eq!(
        Interpreted::<f64>::new(g, vec![]).unwrap_err(),
        InterpError::NoState
    );
    // Output of another width.
    let mut b = GraphBuilder::new();
    let x = b.input("x", 2).unwrap();
    let y = b.dense_layer(x, "l", 3, Activation::Tanh, true).unwrap();
    let g = b.finish(&[y]).unwrap();
    let e = Interpreted::<f64>::new(g, vec![0.0; 9]).unwrap_err();
    assert!(matches!(e, InterpError::Output { dim: 2, .. }), "{e}");
    assert!(e.to_string().contains("[B,3]"), "{e}");
    // Two outputs; a global output.
    let mut b = GraphBuilder::new();
    let x = b.input("x", 2).unwrap();
    let s = b.batch_sum(x).unwrap();
    let g2 = b.finish(&[x, x]).unwrap();
    assert!(matches!(
        Interpreted::<f64>::new(g2, vec![]),
        Err(InterpError::Output { .. })
    ));
    let mut b = GraphBuilder::new();
    let _ = b.input("x", 2).unwrap();
    let c = b.constant(1.0, Type::global(&[2])).unwrap();
    let g3 = b.finish(&[c]).unwrap();
    assert!(matches!(
        Interpreted::<f64>::new(g3, vec![]),
        Err(InterpError::Output { .. })
    ));
    let _ = s;
}

#[test]
fn wrong_parameters() {
    let g = mlp();
    let e = Interpreted::<f64>::new(g.clone(), vec![0.0; 3]).unwrap_err();
    assert_eq!(
        e,
        InterpError::ParamCount {
            expected: g.param_len(),
            got: 3,
            layout: g.param_layout(),
        }
    );
    assert!(e.to_string().contains("layers.0.weight [4,3]"), "{e}");
    let mut p = vec![0.1; g.param_len()];
    p[12 + 2] = f64::NAN; // layers.0.bias[2]
    let e = Interpreted::<f64>::new(g, p).unwrap_err();
    assert!(
        matches!(&e, InterpError::NonFiniteParam { tensor, index: 2, .. } if tensor == "layers.0.bias"),
        "{e}"
    );
}

#[test]
fn auxiliary_inputs() {
    let f = Graph::concat_squash_mlp(2, &[4], Activation::Tanh).unwrap();
    let mut m = cnf::<f64>(&f, Trace::Hutchinson, vec![0.1; f.param_len()]).unwrap();
    assert!(matches!(
        m.set_aux(0, &[1.0; 4]),
        Err(InterpError::NotAux {
            index: 0,
            declared: 2
        })
    ));
    assert!(matches!(
        m.set_aux(2, &[1.0; 4]),
        Err(InterpError::NotAux { .. })
    ));
    assert!(matches!(
        m.set_aux(1, &[1.0; 3]),
        Err(InterpError::AuxLength {
            index: 1,
            width: 2,
            got: 3,
            ..
        })
    ));
    assert!(matches!(
        m.set_aux(1, &[]),
        Err(InterpError::AuxLength { .. })
    ));
    assert!(matches!(
        m.set_aux(1, &[1.0, f64::INFINITY]),
        Err(InterpError::AuxNonFinite { position: 1, .. })
    ));
    let e = m.check_aux(2).unwrap_err();
    assert!(
        matches!(&e, InterpError::AuxMissing { index: 1, name } if name == "eps"),
        "{e}"
    );

    // A missing auxiliary input: NaN outputs, no panic.
    let x = vec![0.1; 2 * 3];
    let mut dx = vec![0.0; 6];
    let mut scratch = vec![0.0; m.scratch_len(2)];
    m.eval(0.0, &x, &mut dx, &mut scratch);
    assert!(dx.iter().all(|v| v.is_nan()));
    let (mut gx, mut gp) = (vec![0.0; 6], vec![0.0; m.n_params()]);
    m.vjp(0.0, &x, &x, &mut gx, &mut gp, &mut scratch);
    assert!(gx.iter().all(|v| v.is_nan()));

    m.set_aux(1, &[1.0; 4]).unwrap();
    m.check_aux(2).unwrap();
    assert!(matches!(
        m.check_aux(3),
        Err(InterpError::AuxBatch {
            batch: 3,
            got: 2,
            ..
        })
    ));
    m.eval(0.0, &x, &mut dx, &mut scratch);
    assert!(dx.iter().all(|v| v.is_finite()));
    // Another batch size: NaN again.
    let x3 = vec![0.1; 3 * 3];
    let mut dx3 = vec![0.0; 9];
    let mut s3 = vec![0.0; m.scratch_len(3)];
    m.eval(0.0, &x3, &mut dx3, &mut s3);
    assert!(dx3.iter().all(|v| v.is_nan()));
}

#[test]
fn derivative_graph_errors_are_reported() {
    // A CNF needs f: [B,d] → [B,d].
    let mut b = GraphBuilder::new();
    let x = b.input("x", 2).unwrap();
    let y = b.dense_layer(x, "l", 3, Activation::Tanh, true).unwrap();
    let f = b.finish(&[y]).unwrap();
    let e = cnf::<f64>(&f, Trace::Exact, vec![0.0; 9]).unwrap_err();
    assert!(matches!(e, InterpError::Ir(_)), "{e}");
    assert!(e.to_string().contains("cnf_dynamics"), "{e}");
}
