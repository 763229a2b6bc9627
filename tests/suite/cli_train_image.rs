//! `symplode train --config` with an image flow (`form = "image_flow"`) on Fashion-MNIST
//! (`[data] builtin = "fashion-mnist"`): a tiny end-to-end run (3 iterations, 2 shards) reporting bits/dim, a killed
//! run resumed to bit-identical weights, and one error line naming the field for every bad
//! image-flow field. The runs need Debian's `dataset-fashion-mnist` (skipped with a printed
//! reason without it, except on CI, which installs it).

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use symplode::io::SafeTensors;

/// One CNF block on 1 × 28 × 28 with 2 hidden channels.
const FLOW: &str = r#"
form = "image_flow"
image = [1, 28, 28]
hidden = [2]
time_length = 0.5
noise = "rademacher"
tableau = "rk4"
[solver]
steps = 1
"#;

/// A run file for `flow.toml` on `points` images.
fn run_toml(out: &str, iterations: u64) -> String {
    format!(
        r#"model = "flow.toml"
out = "{out}"
iterations = {iterations}
batch = 2
shards = 2
seed = 3
[data]
builtin = "fashion-mnist"
points = 6
[optimizer]
lr = 0.01
[validation]
fraction = 0.5
every = 2
[checkpoint]
every = 1
"#
    )
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_symplode"))
}

/// The dataset's directory when installed.
fn installed() -> Option<PathBuf> {
    let d = PathBuf::from(
        std::env::var("SYMPLODE_FASHION_MNIST_DIR")
            .unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".to_string()),
    );
    if d.join("train-images-idx3-ubyte.gz").is_file() {
        return Some(d);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI installs dataset-fashion-mnist"
    );
    eprintln!(
        "skipped: no Fashion-MNIST in {} (apt-get install -y dataset-fashion-mnist)",
        d.display()
    );
    None
}

/// A fresh directory with the flow model file.
fn fixture(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("symplode-image-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    dir
}

fn train(dir: &Path, config: &str, extra: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .args(["train", "--quiet", "--config", config])
        .args(extra)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout {}\nstderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn weights(path: &Path) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let st = SafeTensors::read(path).unwrap();
    let mut out: Vec<(String, Vec<usize>, Vec<f64>)> = st
        .names()
        .into_iter()
        .map(|n| {
            let t = st.tensor(&n).unwrap();
            (n, t.shape, t.data)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn a_tiny_image_flow_trains_reports_bits_per_dim_and_resumes_bit_identically() {
    if installed().is_none() {
        return;
    }
    let dir = fixture("resume");
    std::fs::write(dir.join("a.toml"), run_toml("a", 3)).unwrap();
    std::fs::write(dir.join("b.toml"), run_toml("b", 3)).unwrap();
    let text = ok(&train(&dir, "a.toml", &[]));
    let bits = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` in {text}"));
        line[12..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // An untrained CNF block is close to the identity in logit space: some bits/dim, finite.
    for name in ["bits/dim", "val bpd"] {
        let b = bits(name);
        assert!(b.is_finite() && b > 0.0 && b < 50.0, "{name} {b}: {text}");
    }
    // The log says the unit: every record has bits/dim, validation records val bits/dim.
    let log = std::fs::read_to_string(dir.join("a/log.jsonl")).unwrap();
    for line in log.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(r["bits_per_dim"].as_f64().unwrap().is_finite(), "{line}");
        assert_eq!(
            r["val_loss"].is_null(),
            r["val_bits_per_dim"].is_null(),
            "{line}"
        );
    }
    let w = weights(&dir.join("a/weights.safetensors"));
    let names: Vec<&str> = w.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "layers.0._layer.bias",
            "layers.0._layer.weight",
            "layers.1._layer.bias",
            "layers.1._layer.weight"
        ]
    );
    let killed = bin()
        .current_dir(&dir)
        .env("SYMPLODE_TEST_KILL_AFTER", "2")
        .args(["train", "--quiet", "--config", "b.toml"])
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let resumed = ok(&train(&dir, "b.toml", &["--resume"]));
    assert!(resumed.contains("iterations  1 → 3"), "{resumed}");
    assert_eq!(w, weights(&dir.join("b/weights.safetensors")));
}

/// FFJORD's multiscale flow at 2 scales (3 CNF blocks, hidden [2]) on Fashion-MNIST: bits/dim
/// reported, weights named `blocks.{b}.…`, a sample grid written.
#[test]
fn a_tiny_multiscale_flow_trains_and_writes_a_sample_grid() {
    if installed().is_none() {
        return;
    }
    let dir = fixture("multiscale");
    std::fs::write(
        dir.join("flow.toml"),
        FLOW.replace("hidden", "scales = 2\nhidden"),
    )
    .unwrap();
    std::fs::write(dir.join("a.toml"), run_toml("a", 2)).unwrap();
    let text = ok(&train(&dir, "a.toml", &[]));
    for key in ["bits/dim", "val bpd", "samples"] {
        assert!(text.lines().any(|l| l.starts_with(key)), "{key}: {text}");
    }
    let png = std::fs::read(dir.join("a/samples.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let w = weights(&dir.join("a/weights.safetensors"));
    let names: Vec<&str> = w.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names.len(), 3 * 4);
    assert!(
        names.contains(&"blocks.1.layers.0._layer.weight"),
        "{names:?}"
    );
    // Block 1 runs on the squeezed image: 4 channels + time in, 2 hidden out.
    let t = w
        .iter()
        .find(|t| t.0 == "blocks.1.layers.0._layer.weight")
        .unwrap();
    assert_eq!(t.1, [2, 5, 3, 3]);
}

#[test]
fn every_bad_image_field_is_one_error_line_naming_it() {
    let dir = fixture("bad");
    let model = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).unwrap();
    };
    model("side.toml", FLOW.replace("[1, 28, 28]", "[1, 14, 14]"));
    // 28 is not divisible by 2^(4 − 1); no blocks at all.
    model("scales.toml", FLOW.replace("hidden", "scales = 4\nhidden"));
    model("blocks.toml", FLOW.replace("hidden", "blocks = 0\nhidden"));
    model("hidden.toml", FLOW.replace("[2]", "[0]"));
    model("image.toml", FLOW.replace("[1, 28, 28]", "[28, 28]"));
    model("dim.toml", FLOW.replace("hidden", "dim = 784\nhidden"));
    model("noimage.toml", FLOW.replace("image = [1, 28, 28]", ""));
    let base = run_toml("o", 1);
    let mut cases: Vec<(String, &str)> = vec![
        (base.replace("flow.toml", "scales.toml"), "`scales`"),
        (base.replace("flow.toml", "blocks.toml"), "`blocks`"),
        (base.replace("flow.toml", "hidden.toml"), "`hidden`"),
        (base.replace("flow.toml", "image.toml"), "`image`"),
        (base.replace("flow.toml", "dim.toml"), "`dim`"),
        (base.replace("flow.toml", "noimage.toml"), "`image`"),
        (base.replace("points = 6", "points = 0"), "`data.points`"),
        (
            base.replace("points = 6", "points = 6\ncount = 2"),
            "`data.count`",
        ),
        (
            base.replace("points = 6", "points = 6\ndir = \"nowhere\""),
            "apt-get install -y dataset-fashion-mnist",
        ),
    ];
    if installed().is_some() {
        cases.push((base.replace("flow.toml", "side.toml"), "[1, 28, 28]"));
        cases.push((
            base.replace("points = 6", "points = 60001"),
            "`data.points`",
        ));
    }
    for (k, (cfg, want)) in cases.iter().enumerate() {
        let name = format!("bad{k}.toml");
        std::fs::write(dir.join(&name), cfg).unwrap();
        let o = train(&dir, &name, &[]);
        assert!(!o.status.success(), "case {k} ({want}) succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "case {k}: {err}");
        assert!(err.contains(want), "case {k}: want {want}: {err}");
    }
}
