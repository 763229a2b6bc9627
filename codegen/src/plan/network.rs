//! The four programs of a vector field `f(x, t; θ)`: [`NetworkPlans::new`] simplifies the
//! graph, differentiates it once ([`ad::vjp`]) and compiles
//!
//! - **eval**: `f` into `dx`;
//! - **vjp**: the VJP graph (recomputing `f`'s activations in the scratch) into `gx` and `gp`;
//! - **forward**: the VJP graph's forward part (an [`analysis::partition`], cheap ops
//!   recomputed) into `dx`, its tape values reserved in the tape arena;
//! - **backward**: the gradients from the values the forward part kept.

use crate::ad::{self, Wrt};
use crate::ir::{Graph, IrError, Value, analysis, passes};

use super::{Plan, PlanSpec, Slot, Temps, compile};

/// The eval, VJP, taped-forward and taped-backward plans of one vector field.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkPlans {
    /// The graph the plans run (after CSE and DCE).
    pub graph: Graph,
    /// `dx = f(x, t)`.
    pub eval: Plan,
    /// `gx = λᵀ∂f/∂x`, `gp += λᵀ∂f/∂θ` (recomputing the evaluation).
    pub vjp: Plan,
    /// `dx = f(x, t)`, keeping on the tape what the backward plan reads.
    pub forward: Plan,
    /// The VJP from the tape.
    pub backward: Plan,
}

impl NetworkPlans {
    /// Compiles the four plans of `graph` (input 0 the state, output 0 the field; the
    /// caller checks the shapes). Parameter tensor `j` is read at `param_offsets[j]` of θ
    /// ([`Graph::param_offsets`]).
    ///
    /// # Errors
    /// A failure to differentiate the graph.
    pub fn new(graph: &Graph) -> Result<Self, IrError> {
        let offsets = graph.param_offsets();
        let graph = passes::simplify(graph);
        let n_in = graph.inputs().len() as u32;
        let f_out = graph.outputs()[0];
        let eval = compile(&PlanSpec {
            graph: &graph,
            outputs: vec![(f_out, Slot::Dx)],
            lam_input: None,
            temps: Temps::Scratch,
            reserve: &[],
            load: &[],
            param_offsets: &offsets,
        })
        .0;
        // The VJP graph: outputs f, gx, then one gradient per parameter.
        let vg = ad::vjp(&graph, &Wrt::state_and_params(&graph))?;
        let grads = |outs: &[Value]| -> Vec<(Value, Slot)> {
            let mut v = vec![(outs[1], Slot::Gx)];
            v.extend(
                outs[2..]
                    .iter()
                    .zip(&offsets)
                    .map(|(&o, &off)| (o, Slot::Gp(off))),
            );
            v
        };
        let vjp = compile(&PlanSpec {
            graph: &vg,
            outputs: grads(vg.outputs()),
            lam_input: Some(n_in),
            temps: Temps::Scratch,
            reserve: &[],
            load: &[],
            param_offsets: &offsets,
        })
        .0;
        let part = analysis::partition(&vg, &[n_in], true);
        let (forward, kept) = compile(&PlanSpec {
            graph: &vg,
            outputs: vec![(vg.outputs()[0], Slot::Dx)],
            lam_input: Some(n_in),
            temps: Temps::Tape,
            reserve: &part.tape,
            load: &[],
            param_offsets: &offsets,
        });
        let backward = compile(&PlanSpec {
            graph: &vg,
            outputs: grads(vg.outputs()),
            lam_input: Some(n_in),
            temps: Temps::Scratch,
            reserve: &[],
            load: &kept,
            param_offsets: &offsets,
        })
        .0;
        Ok(NetworkPlans {
            graph,
            eval,
            vjp,
            forward,
            backward,
        })
    }

    /// The four plans in the order eval, VJP, taped forward, taped backward.
    pub fn all(&self) -> [&Plan; 4] {
        [&self.eval, &self.vjp, &self.forward, &self.backward]
    }

    /// Global elements at the start of the tape (the forward plan's global arena).
    pub fn tape_globals(&self) -> usize {
        self.forward.globals
    }
}
