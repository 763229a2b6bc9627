//! temporary
use symplode::codegen::ad::Trace;
use symplode::codegen::ir::{Activation, Graph};
use symplode::runtime::interp::cnf;
fn main() {
    let f = Graph::concat_squash_mlp(2, &[64, 64, 64], Activation::Tanh).unwrap();
    let m = cnf::<f64>(&f, Trace::Hutchinson, vec![0.01; f.param_len()]).unwrap();
    let p = m.plans();
    for (name, pl) in [
        ("eval", &p.eval),
        ("vjp", &p.vjp),
        ("fwd", &p.forward),
        ("bwd", &p.backward),
    ] {
        println!("== {name}: {} steps", pl.steps.len());
        for s in &pl.steps {
            println!(
                "{:?} -> {:?} {:?} <- {:?}",
                s.kernel,
                s.out,
                s.len,
                s.args.iter().map(|a| a.0).collect::<Vec<_>>()
            );
        }
    }
}
