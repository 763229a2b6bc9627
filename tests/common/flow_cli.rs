//! Helpers of the CLI tests of stacked flows (`tests/suite/cli_tabular_chain.rs`,
//! `tests/suite/cli_image_chain.rs`): one `symplode grad` call read back, and the training
//! configuration both kill-and-resume tests run. Included with `#[path]` next to `mod common;`.

use std::collections::BTreeMap;
use std::path::Path;

use super::common::{succeeds, tensors};

/// `symplode grad` on the fixture's model, weights and start states: the arguments every
/// `grad` call of these tests begins with.
pub const GRAD_FIXTURE: [&str; 7] = [
    "grad",
    "--model",
    "flow.toml",
    "--weights",
    "w.safetensors",
    "--x0",
    "x0.npy",
];

/// `symplode grad --method m` on the fixture's `flow.toml` / `w.safetensors` / `x0.npy` with
/// noise seed 11 (and `extra` arguments) into `g-m.safetensors`: its tensors by name.
pub fn cli_grad(dir: &Path, method: &str, extra: &[&str]) -> BTreeMap<String, Vec<f64>> {
    let out = format!("g-{method}.safetensors");
    let mut args = GRAD_FIXTURE.to_vec();
    args.extend_from_slice(&["--noise-seed", "11", "--method", method, "--out", &out]);
    args.extend_from_slice(extra);
    succeeds(dir, &args);
    tensors(&dir.join(out))
        .into_iter()
        .map(|(n, _, v)| (n, v))
        .collect()
}

/// A run file training `flow.toml` on `x.npy` for `iterations` (batch 4 in 2 shards, seed 3,
/// a quarter held out and validated every 2 iterations, a checkpoint every iteration) into
/// `out`.
pub fn run_toml(out: &str, iterations: u64) -> String {
    format!(
        r#"model = "flow.toml"
out = "{out}"
iterations = {iterations}
batch = 4
shards = 2
seed = 3
[data]
samples = "x.npy"
[optimizer]
lr = 0.01
[validation]
fraction = 0.25
every = 2
[checkpoint]
every = 1
"#
    )
}
