//! The command line against a careless or hostile user (issue 13): outputs that would destroy
//! inputs, special files, unbounded work, interrupted writes, huge numbers and escape codes.
//! Every case is one `error: …` line naming the file, option or value, with a non-zero exit,
//! or a correct result.

#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::common::{MODEL_ARGS, fails, spec_fixture, succeeds};
use symplode::io::npy;

const SPEC: &str = r#"
dim = 2
time_input = true
tableau = "rk4"

[[layers]]
name = "net.0"
out = 8
activation = "tanh"

[[layers]]
name = "net.2"
out = 2

[solver]
steps = 4
"#;

/// A fresh directory with a valid m.toml, w.safetensors and x0.npy ([3, 2]).
fn fixture(name: &str) -> PathBuf {
    spec_fixture(
        &format!("hostile-cli-{name}"),
        SPEC,
        1,
        &[3, 2],
        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    )
}

/// `symplode <cmd> --model … <args>`.
fn with_model<'a>(cmd: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut full = vec![cmd];
    full.extend(MODEL_ARGS);
    full.extend(args);
    full
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let d = fixture("out-is-in");
    let before: Vec<Vec<u8>> = ["m.toml", "w.safetensors", "x0.npy"]
        .iter()
        .map(|f| std::fs::read(d.join(f)).unwrap())
        .collect();
    for (cmd, input, flag) in [
        ("grad", "m.toml", "--model"),
        ("grad", "w.safetensors", "--weights"),
        ("solve", "x0.npy", "--x0"),
        ("grad", "./x0.npy", "--x0"),
        ("hvp", "m.toml", "--model"),
    ] {
        fails(
            &d,
            &with_model(cmd, &["--out", input]),
            1,
            &[input, "is the same file as the input", flag],
        );
    }
    // A tableau file, for every command that writes.
    let rk4 = symplode::prelude::builtin("rk4").unwrap();
    std::fs::write(d.join("t.toml"), symplode::io::tableau_to_toml(&rk4)).unwrap();
    for cmd in ["grad", "solve", "hvp"] {
        fails(
            &d,
            &with_model(cmd, &["--tableau-file", "t.toml", "--out", "t.toml"]),
            1,
            &["t.toml", "is the same file as the input", "--tableau-file"],
        );
    }
    // Through a hard link, too.
    std::fs::hard_link(d.join("w.safetensors"), d.join("alias.safetensors")).unwrap();
    fails(
        &d,
        &with_model("grad", &["--out", "alias.safetensors"]),
        1,
        &["--weights w.safetensors"],
    );
    let after: Vec<Vec<u8>> = ["m.toml", "w.safetensors", "x0.npy"]
        .iter()
        .map(|f| std::fs::read(d.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn special_files_are_refused_with_their_path() {
    let d = fixture("special");
    let start = Instant::now();
    fails(
        &d,
        &[
            "grad",
            "--model",
            "m.toml",
            "--weights",
            "/dev/zero",
            "--x0",
            "x0.npy",
        ],
        1,
        &["/dev/zero: is a character device, not a regular file"],
    );
    // The model file too, which grad and solve first read to tell a flow (`form = "cnf"`).
    for cmd in ["grad", "solve", "hvp"] {
        fails(
            &d,
            &[
                cmd,
                "--model",
                "/dev/zero",
                "--weights",
                "w.safetensors",
                "--x0",
                "x0.npy",
            ],
            1,
            &["/dev/zero: is a character device, not a regular file"],
        );
    }
    fails(
        &d,
        &with_model("solve", &["--out", "/dev/null"]),
        1,
        &["/dev/null: is a character device, not a regular file"],
    );
    std::fs::create_dir(d.join("tdir")).unwrap();
    fails(
        &d,
        &["tableau", "check", "tdir"],
        1,
        &["tdir: is a directory, not a regular file"],
    );
    if Command::new("mkfifo")
        .arg(d.join("fifo.npy"))
        .status()
        .is_ok_and(|s| s.success())
    {
        fails(
            &d,
            &[
                "grad",
                "--model",
                "m.toml",
                "--weights",
                "w.safetensors",
                "--x0",
                "fifo.npy",
            ],
            1,
            &["fifo.npy: is a FIFO (named pipe), not a regular file"],
        );
        fails(
            &d,
            &[
                "solve",
                "--model",
                "fifo.npy",
                "--weights",
                "w.safetensors",
                "--x0",
                "x0.npy",
            ],
            1,
            &["fifo.npy: is a FIFO (named pipe), not a regular file"],
        );
    }
    assert!(start.elapsed().as_secs_f64() < 30.0);
}

#[test]
fn unbounded_work_is_refused_before_it_starts() {
    let d = fixture("unbounded");
    let start = Instant::now();
    let e = fails(
        &d,
        &with_model("grad", &["--steps", "1000000000"]),
        1,
        &[
            "1000000000 fixed steps",
            "predicted peak memory",
            "exceeds the memory budget",
        ],
    );
    assert!(e.contains("GiB"), "{e}");
    fails(
        &d,
        &with_model(
            "solve",
            &["--steps", "1000000000000", "--memory-budget", "1G"],
        ),
        1,
        &["predicted peak memory", "--memory-budget 1G"],
    );
    fails(
        &d,
        &with_model("grad", &["--steps", "18446744073709551615"]),
        1,
        &["steps are more than the"],
    );
    fails(
        &d,
        &with_model("grad", &["--memory-budget", "1K"]),
        1,
        &[
            "predicted peak memory",
            "exceeds the memory budget of 1.0 KiB (--memory-budget 1K)",
        ],
    );
    fails(
        &d,
        &with_model("grad", &["--memory-budget", "lots"]),
        1,
        &["memory budget", "`lots`"],
    );
    // Adaptive steps: the step budget is capped to what fits, and a run needing more says so.
    fails(
        &d,
        &with_model(
            "grad",
            &[
                "--tableau",
                "dopri5",
                "--method",
                "backprop",
                "--rtol",
                "1e-12",
                "--atol",
                "1e-14",
                "--memory-budget",
                "20K",
            ],
        ),
        1,
        &["adaptive steps, the most that fit in the memory budget of 20.0 KiB"],
    );
    // The same run with room for it succeeds.
    succeeds(
        &d,
        &with_model(
            "grad",
            &[
                "--tableau",
                "dopri5",
                "--rtol",
                "1e-6",
                "--atol",
                "1e-8",
                "--memory-budget",
                "1G",
            ],
        ),
    );
    assert!(start.elapsed().as_secs_f64() < 60.0);
}

#[test]
fn an_interrupted_write_keeps_the_previous_output() {
    let d = fixture("interrupted");
    // A good output first.
    succeeds(
        &d,
        &with_model("solve", &["--out", "s.npy", "--steps", "2"]),
    );
    let good = std::fs::read(d.join("s.npy")).unwrap();
    // Now a bigger output under a file-size limit of 1 KiB: the write fails midway (the process
    // is killed by SIGXFSZ or gets EFBIG); the previous output must survive whole.
    let exe = env!("CARGO_BIN_EXE_symplode");
    let big: Vec<f64> = (0..2000).map(|i| i as f64 * 1e-4).collect();
    npy::write(d.join("big.npy"), &[1000, 2], &big).unwrap();
    let status = Command::new("bash")
        .current_dir(&d)
        .arg("-c")
        .arg(format!(
            "ulimit -f 1; exec '{exe}' solve --model m.toml --weights w.safetensors \
             --x0 big.npy --steps 2 --out s.npy"
        ))
        .output()
        .unwrap();
    assert!(!status.status.success());
    assert_eq!(std::fs::read(d.join("s.npy")).unwrap(), good);
    // The next save removes the temporary the killed process left behind.
    succeeds(
        &d,
        &with_model("solve", &["--out", "s.npy", "--steps", "3"]),
    );
    let left: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn numbers_in_messages_and_reports_stay_short() {
    let d = fixture("numbers");
    // A negative number with an exponent is a value, not an option.
    let out = succeeds(&d, &with_model("grad", &["--t0", "-1e-8", "--t1", "1e-3"]));
    assert!(out.contains("-1e-8"), "{out}");
    // A 309-digit time is shown in exponent notation.
    let e = fails(
        &d,
        &with_model("grad", &["--t0", "1e308", "--t1", "1e307"]),
        1,
        &["1e307", "1e308"],
    );
    assert!(!e.contains("00000000000000000000"), "{e}");
    // A loss that overflows is an error, never exit 0.
    npy::write(d.join("huge.npy"), &[1, 2], &[1e200f64, -1e200]).unwrap();
    fails(
        &d,
        &[
            "grad",
            "--model",
            "m.toml",
            "--weights",
            "w.safetensors",
            "--x0",
            "huge.npy",
        ],
        1,
        &["not finite"],
    );
    // ‖dL/dx0‖ of finite entries near 1e298 is finite (scaled norm).
    npy::write(
        d.join("c.npy"),
        &[3, 2],
        &[1e298f64, -1e298, 1e298, 1e298, -1e298, 1e298],
    )
    .unwrap();
    let out = succeeds(&d, &with_model("grad", &["--cotangent", "c.npy", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let n = v["dx0_norm"].as_f64().unwrap();
    assert!(n.is_finite() && n > 1e297, "{n}");
}

#[test]
fn tableau_files_that_cheat_or_overflow_are_refused() {
    let d = fixture("tableau");
    std::fs::write(
        d.join("cheat.toml"),
        "order = 8\ntolerance = \"10\"\nc = [\"0\", \"1\"]\na = [[], [\"1\"]]\nb = [\"1/3\", \"1/3\"]\n",
    )
    .unwrap();
    fails(
        &d,
        &["tableau", "check", "cheat.toml"],
        1,
        &["tolerance 10 is not allowed"],
    );
    fails(
        &d,
        &with_model("grad", &["--tableau-file", "cheat.toml"]),
        1,
        &["cheat.toml", "tolerance 10"],
    );
    std::fs::write(
        d.join("esc.toml"),
        "name = \"\\u001b[31mred\"\norder = 1\nc = [\"0\"]\na = [[]]\nb = [\"1\"]\n",
    )
    .unwrap();
    let e = fails(
        &d,
        &["tableau", "check", "esc.toml"],
        1,
        &["`name`", "U+001B"],
    );
    assert!(!e.contains('\u{1b}'));
    let long = "7".repeat(200_000);
    std::fs::write(
        d.join("long.toml"),
        format!("order = 1\nc = [\"0\"]\na = [[]]\nb = [\"{long}\"]\n"),
    )
    .unwrap();
    let start = Instant::now();
    fails(
        &d,
        &["tableau", "check", "long.toml"],
        1,
        &["`b[0]`", "longer than 4096"],
    );
    assert!(start.elapsed().as_secs_f64() < 5.0);
    std::fs::write(
        d.join("huge.toml"),
        "order = 1\nc = [\"0\", \"1e309\"]\na = [[], [\"1e309\"]]\nb = [\"1\", \"0\"]\n",
    )
    .unwrap();
    fails(
        &d,
        &with_model("grad", &["--tableau-file", "huge.toml"]),
        1,
        &["coefficient a_21", "beyond the range of f64"],
    );
    let e = fails(
        &d,
        &["tableau", "check", "no\u{1b}[2Jsuch"],
        1,
        &["not a built-in"],
    );
    assert!(!e.contains('\u{1b}'));
}
