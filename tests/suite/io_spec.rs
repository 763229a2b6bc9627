//! Model specs: parsing, validation errors (field and line), building from weights, the
//! renaming wrapper and the solver-option merge.

#![cfg(feature = "model-files")]

use std::collections::BTreeMap;

use symplode::io::safetensors::{self, NamedTensor};
use symplode::io::{IoError, ModelSpec, Named, SafeTensors, SolverSpec, save_weights};
use symplode::prelude::*;

const SPEC: &str = r#"
dim = 2
time_input = true
tableau = "dopri5"

[[layers]]
name = "net.0"
out = 8
activation = "tanh"

[[layers]]
name = "net.2"
out = 8
activation = "tanh"

[[layers]]
name = "net.4"
out = 2

[solver]
rtol = 1e-6
atol = 1e-8
max_steps = 500
"#;

fn dir(name: &str) -> std::path::PathBuf {
    crate::common::fresh_dir(&format!("io-spec-{name}"))
}

fn spec_err(text: &str) -> String {
    let e = ModelSpec::parse(text, "m.toml").unwrap_err().to_string();
    assert!(e.starts_with("m.toml"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    e
}

#[test]
fn parses_the_documented_example() {
    let s = ModelSpec::parse(SPEC, "m.toml").unwrap();
    assert_eq!(
        s.mlp_config(),
        MlpConfig::new(2, vec![8, 8], Activation::Tanh, true)
    );
    assert_eq!(
        s.tensor_names(),
        [
            "net.0.weight",
            "net.0.bias",
            "net.2.weight",
            "net.2.bias",
            "net.4.weight",
            "net.4.bias"
        ]
    );
    let shapes: Vec<Vec<usize>> = s
        .param_tensors()
        .unwrap()
        .into_iter()
        .map(|t| t.shape)
        .collect();
    assert_eq!(
        shapes,
        [
            vec![8, 3],
            vec![8],
            vec![8, 8],
            vec![8],
            vec![2, 8],
            vec![2]
        ]
    );
    assert_eq!(
        s.summary(),
        "2 → [x, t] → 8 tanh → 8 tanh → 2 (122 parameters)"
    );
    assert_eq!(s.tableau().unwrap().unwrap().name(), "dopri5");
    let Some(Stepping::Adaptive(a)) = s.solver.stepping("m.toml").unwrap() else {
        panic!("adaptive expected");
    };
    assert_eq!(
        (a.rtol, a.atol, a.max_steps, a.first_step),
        (1e-6, 1e-8, 500, None)
    );
    let back = ModelSpec::parse(&s.to_toml().unwrap(), "m.toml").unwrap();
    assert_eq!(back, s);
}

#[test]
fn builds_from_weights_and_renames_tensors() {
    let s = ModelSpec::parse(SPEC, "m.toml").unwrap();
    let net = s.init::<f64>(3).unwrap();
    let reference = Mlp::<f64>::new(s.mlp_config(), 3).unwrap();
    assert_eq!(net.params(), reference.params());
    let path = dir("build").join("w.safetensors");
    save_weights(&path, &net).unwrap();
    let file = SafeTensors::read(&path).unwrap();
    assert_eq!(file.names().len(), 6);
    let back = s.build::<f64>(&file).unwrap();
    assert_eq!(back.params(), net.params());
    // f64 weights to an f32 run: rounded once, like Mlp::cast.
    let back32 = s.build::<f32>(&file).unwrap();
    assert_eq!(back32.params(), reference.cast::<f32>().params());
    // Named forwards evaluation and VJPs unchanged.
    let named = Named::new(reference.clone(), s.tensor_names()).unwrap();
    let x = [0.3, -0.2, 0.1, 0.7];
    let (mut d1, mut d2) = ([0.0; 4], [0.0; 4]);
    let mut scratch = vec![0.0; reference.scratch_len(2)];
    reference.eval(0.5, &x, &mut d1, &mut scratch);
    named.eval(0.5, &x, &mut d2, &mut scratch);
    assert_eq!(d1, d2);
    let (mut g1, mut g2) = (vec![0.0; 122], vec![0.0; 122]);
    reference.vjp(
        0.5,
        &x,
        &[1.0, 2.0, 3.0, 4.0],
        &mut d1,
        &mut g1,
        &mut scratch,
    );
    named.vjp(
        0.5,
        &x,
        &[1.0, 2.0, 3.0, 4.0],
        &mut d2,
        &mut g2,
        &mut scratch,
    );
    assert_eq!((d1, g1), (d2, g2));
    assert_eq!(named.param_tensors()[4].name, "net.4.weight");
    assert_eq!(
        named.param_tensors()[4].offset,
        reference.param_tensors()[4].offset
    );
    assert!(Named::new(reference.clone(), vec!["a".into()]).is_err());
}

#[test]
fn weight_errors_name_the_tensor() {
    let s = ModelSpec::parse(SPEC, "m.toml").unwrap();
    let net = s.init::<f64>(0).unwrap();
    let tensors = symplode::io::param_tensors_of(&net, net.params());
    let write = |ts: &[NamedTensor<'_, f64>]| {
        SafeTensors::parse(
            safetensors::to_bytes(ts, &BTreeMap::new(), "w").unwrap(),
            "w.safetensors",
        )
        .unwrap()
    };
    let e = s
        .build::<f64>(&write(&tensors[1..]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("w.safetensors: tensor `net.0.weight` not found; the file has `net.0.bias`"),
        "{e}"
    );
    let mut wrong = tensors.clone();
    wrong[2].shape = vec![4, 16];
    let e = s.build::<f64>(&write(&wrong)).unwrap_err().to_string();
    assert_eq!(
        e,
        "w.safetensors: tensor `net.2.weight` has shape [4, 16], expected [8, 8] ([out, in] of layer `net.2`)"
    );
    let mut nan = net.params().to_vec();
    nan[8 * 3 + 8 + 5] = f64::NAN;
    let bad = symplode::io::param_tensors_of(&net, &nan);
    let e = s.build::<f64>(&write(&bad)).unwrap_err().to_string();
    assert_eq!(
        e,
        "w.safetensors: tensor `net.2.weight` element [0, 5] is NaN (not finite)"
    );
    // F32 weights are accepted for an f64 run.
    let n32 = Named::new(net.inner().cast::<f32>(), s.tensor_names()).unwrap();
    let path = dir("f32").join("w32.safetensors");
    save_weights(&path, &n32).unwrap();
    let b = s.build::<f64>(&SafeTensors::read(&path).unwrap()).unwrap();
    assert_eq!(b.params(), n32.inner().cast::<f64>().params());
}

#[test]
fn spec_errors_say_what_and_where() {
    let cases: [(&str, &str); 12] = [
        ("dim = 2\nlayers = [", "m.toml:2:"),
        ("dim = 2\nlayerz = []", "m.toml:2:1: unknown field `layerz`"),
        ("layers = []", "missing field `dim`"),
        (
            "dim = 2\nlayers = []",
            "`layers`: need at least one [[layers]] entry",
        ),
        (
            "dim = 0\n[[layers]]\nname='a'\nout=1",
            "`dim`: must be at least 1",
        ),
        (
            "dim = 2\n[[layers]]\nname='a'\nout=4\nactivation='tanhh'\n[[layers]]\nname='b'\nout=2",
            "`layers[0].activation`: unknown activation `tanhh`; valid names: tanh,",
        ),
        (
            "dim = 2\n[[layers]]\nname='a'\nout=4\nactivation='tanh'\n[[layers]]\nname='b'\nout=4\nactivation='relu'\n[[layers]]\nname='c'\nout=2",
            "`layers[1].activation`: `relu` differs from `tanh` of layer `a`",
        ),
        (
            "dim = 2\n[[layers]]\nname='a'\nout=4\n[[layers]]\nname='b'\nout=2",
            "`layers[0].activation`: missing on layer `a`",
        ),
        (
            "dim = 2\n[[layers]]\nname='a'\nout=2\nactivation='tanh'",
            "`layers[0].activation`: the last layer (`a`) gives dx/dt and takes no activation",
        ),
        (
            "dim = 2\n[[layers]]\nname='a'\nout=3",
            "`layers[0].out`: the last layer (`a`) gives dx/dt, so out must equal dim = 2, got 3",
        ),
        (
            "dim = 2\n[[layers]]\nname='a'\nout=4\nactivation='tanh'\n[[layers]]\nname='a'\nout=2",
            "`layers[1].name`: `a` is also the name of layers[0]",
        ),
        (
            "dim = 2\n[[layers]]\nname='a'\nout=2\n[solver]\nsteps=4\nrtol=1e-3",
            "`solver.rtol`: is an adaptive-step option and cannot be combined with fixed `steps`",
        ),
    ];
    for (text, want) in cases {
        let e = spec_err(text);
        assert!(e.contains(want), "`{e}` lacks `{want}`");
    }
    let e = spec_err("dim = 2\n[[layers]]\nname='a'\nout=-1");
    assert!(e.starts_with("m.toml:4:5: "), "{e}");
}

#[test]
fn solver_options_merge_and_validate() {
    let spec = SolverSpec {
        rtol: Some(1e-6),
        atol: Some(1e-8),
        first_step: Some(0.1),
        ..Default::default()
    };
    let fixed = SolverSpec {
        steps: Some(7),
        ..Default::default()
    };
    assert_eq!(spec.overridden_by(&fixed), fixed);
    assert_eq!(fixed.overridden_by(&spec), spec);
    let tighter = SolverSpec {
        rtol: Some(1e-9),
        ..Default::default()
    };
    let merged = spec.overridden_by(&tighter);
    assert_eq!(
        (merged.rtol, merged.atol, merged.first_step),
        (Some(1e-9), Some(1e-8), Some(0.1))
    );
    assert_eq!(fixed.overridden_by(&tighter).steps, None);
    assert_eq!(SolverSpec::default().stepping("x").unwrap(), None);
    assert_eq!(fixed.stepping("x").unwrap(), Some(Stepping::fixed(7)));
    let bad = SolverSpec {
        rtol: Some(-1.0),
        ..Default::default()
    };
    assert_eq!(
        bad.stepping("cli").unwrap_err().to_string(),
        "cli: `solver.rtol`: -1 is invalid: must be finite and ≥ 0"
    );
    let zero = SolverSpec {
        steps: Some(0),
        ..Default::default()
    };
    assert!(
        zero.stepping("cli")
            .unwrap_err()
            .to_string()
            .contains("`solver.steps`")
    );
    let alone = SolverSpec {
        first_step: Some(0.1),
        ..Default::default()
    };
    assert!(
        alone
            .stepping("cli")
            .unwrap_err()
            .to_string()
            .contains("also give rtol/atol")
    );
}

#[test]
fn tableau_is_a_builtin_or_a_file_next_to_the_spec() {
    let d = dir("tableau");
    std::fs::write(
        d.join("heun3.toml"),
        "order = 3\nc = ['0', '1/3', '2/3']\na = [['1/3'], ['0', '2/3']]\nb = ['1/4', '0', '3/4']\n",
    )
    .unwrap();
    let text = "dim = 1\ntableau = 'heun3.toml'\n[[layers]]\nname = 'l'\nout = 1\n";
    std::fs::write(d.join("m.toml"), text).unwrap();
    let s = ModelSpec::read(d.join("m.toml")).unwrap();
    assert_eq!(s.tableau().unwrap().unwrap().name(), "heun3");
    let s = ModelSpec::parse(&text.replace("heun3.toml", "rk5"), "m.toml").unwrap();
    let e = s.tableau().unwrap_err().to_string();
    assert!(
        e.starts_with("m.toml: `tableau`: unknown tableau `rk5`: neither a built-in (euler,"),
        "{e}"
    );
    let s = ModelSpec::parse(&text.replace("heun3.toml", "nope.toml"), "m.toml").unwrap();
    assert!(matches!(s.tableau().unwrap_err(), IoError::Read { .. }));
}
