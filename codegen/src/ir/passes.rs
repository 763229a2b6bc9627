//! Graph-to-graph clean-up passes: dead-code elimination and common-subexpression
//! elimination. Both keep the interface (inputs, parameters, outputs) unchanged.

use std::collections::HashMap;

use super::entities::Value;
use super::graph::{Graph, Node};

/// Removes the nodes no output depends on. Declared inputs and parameters stay declared
/// (their nodes go if unread). Node order is kept.
pub fn dce(g: &Graph) -> Graph {
    let mut live = vec![false; g.nodes.len()];
    for v in &g.outputs {
        live[v.index()] = true;
    }
    for k in (0..g.nodes.len()).rev() {
        if live[k] {
            for u in g.nodes[k].op.operands() {
                live[u.index()] = true;
            }
        }
    }
    let mut map = vec![Value(u32::MAX); g.nodes.len()];
    let mut nodes = Vec::with_capacity(live.iter().filter(|l| **l).count());
    for (k, node) in g.nodes.iter().enumerate() {
        if live[k] {
            map[k] = Value(nodes.len() as u32);
            nodes.push(Node {
                op: node.op.map_operands(|u| map[u.index()]),
                ty: node.ty.clone(),
            });
        }
    }
    Graph {
        inputs: g.inputs.clone(),
        params: g.params.clone(),
        nodes,
        outputs: g.outputs.iter().map(|v| map[v.index()]).collect(),
    }
}

/// Merges nodes that compute the same op on the same operands (constants compared by
/// their exact value and type), keeping the first. Follow with [`dce`] to drop nothing more:
/// merged nodes are simply not emitted.
pub fn cse(g: &Graph) -> Graph {
    // The key is the op's `Debug` text after renaming operands: it prints every `f64`
    // exactly (shortest round-trip form, `-0.0` distinct from `0.0`).
    let mut seen: HashMap<String, Value> = HashMap::new();
    let mut map = Vec::with_capacity(g.nodes.len());
    let mut nodes: Vec<Node> = Vec::with_capacity(g.nodes.len());
    for node in &g.nodes {
        let op = node.op.map_operands(|u| map[u.index()]);
        let key = format!("{op:?}");
        let v = *seen.entry(key).or_insert_with(|| {
            nodes.push(Node {
                op,
                ty: node.ty.clone(),
            });
            Value((nodes.len() - 1) as u32)
        });
        map.push(v);
    }
    Graph {
        inputs: g.inputs.clone(),
        params: g.params.clone(),
        nodes,
        outputs: g.outputs.iter().map(|v| map[v.index()]).collect(),
    }
}

/// The same graph with only the outputs at `positions` (in that order), then [`dce`]: e.g.
/// a VJP graph without the original outputs. Positions past the end are skipped.
pub fn select_outputs(g: &Graph, positions: &[usize]) -> Graph {
    let outputs = positions
        .iter()
        .filter_map(|&k| g.outputs.get(k).copied())
        .collect();
    dce(&Graph {
        outputs,
        ..g.clone()
    })
}

/// [`cse`] then [`dce`]: the clean-up applied to the results of automatic differentiation.
pub fn simplify(g: &Graph) -> Graph {
    dce(&cse(g))
}
