//! The dataset loaders on the real files of the Debian packages (`.ci/run` installs them; see
//! `symplode::datasets`), and their errors on missing or damaged files.
//!
//! Without the packages these tests say so and pass on a developer machine; under CI
//! (`CI` set) a missing package is a failure.

#![cfg(feature = "datasets")]

use std::io::Write as _;
use std::path::PathBuf;

use symplode::datasets::DatasetError;
use symplode::datasets::fashion_mnist::{self, FashionMnist};
use symplode::datasets::patches::{self, DIM, PatchConfig};
use symplode::runtime::rng::Rng;

fn dir(var: &str, default: &str) -> Option<PathBuf> {
    let d = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    if d.is_dir() {
        return Some(d);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} missing under CI: .ci/run must install it",
        d.display()
    );
    eprintln!(
        "skipped: {} not installed (see symplode::datasets)",
        d.display()
    );
    None
}

fn fashion_dir() -> Option<PathBuf> {
    dir("SYMPLODE_FASHION_MNIST_DIR", fashion_mnist::DEFAULT_DIR)
}

fn skimage_dir() -> Option<PathBuf> {
    dir("SYMPLODE_SKIMAGE_DIR", patches::SKIMAGE_DATA_DIR)
}

#[test]
fn fashion_mnist_has_its_published_shape_and_balance() {
    let Some(d) = fashion_dir() else { return };
    let f = FashionMnist::load(&d).expect("load");
    assert_eq!(
        (f.train.count, f.train.rows, f.train.cols),
        (60_000, 28, 28)
    );
    assert_eq!((f.test.count, f.test.rows, f.test.cols), (10_000, 28, 28));
    let mut per_class = [0usize; 10];
    for &l in &f.train_labels {
        per_class[l as usize] += 1;
    }
    assert_eq!(per_class, [6000; 10], "Fashion-MNIST is balanced");
    // The first training image is an ankle boot (class 9), the first test image too.
    assert_eq!((f.train_labels[0], f.test_labels[0]), (9, 9));
    // Images are not blank and use the byte range.
    let img = f.train.image(0);
    assert!(img.contains(&0) && img.iter().any(|&b| b > 200));
}

#[test]
fn dequantisation_and_bits_per_dim_follow_ffjord() {
    let Some(d) = fashion_dir() else { return };
    let f = FashionMnist::load(&d).expect("load");
    let mut rng = Rng::new(3);
    let q = fashion_mnist::dequantise_logit(&f.test, &[0, 1, 2], &mut rng);
    assert_eq!(q.dim, 784);
    assert_eq!(q.y.len(), 3 * 784);
    // Inverting the logit lands each value back in its byte's bin [b, b + 1)/256.
    let a = fashion_mnist::LOGIT_ALPHA;
    for (k, &y) in q.y.iter().enumerate() {
        let s = 1.0 / (1.0 + (-y).exp());
        let x = (s - a) / (1.0 - 2.0 * a);
        let b = f.test.image(k / 784)[k % 784] as f64;
        assert!(
            x * 256.0 >= b - 1e-6 && x * 256.0 <= b + 1.0 + 1e-6,
            "{k}: {x} vs byte {b}"
        );
    }
    // A model uniform on [0, 1]^D (log p(x) = 0) has exactly 8 bits per dimension.
    let log_p_y: Vec<f64> = q.log_det.iter().map(|l| -l).collect();
    let bpd = fashion_mnist::bits_per_dim(&log_p_y, &q.log_det, q.dim);
    assert!((bpd - 8.0).abs() < 1e-12, "{bpd}");
}

#[test]
fn damaged_idx_files_are_refused_with_the_file_named() {
    let tmp = std::env::temp_dir().join(format!("symplode-idx-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.join(name);
        std::fs::File::create(&p)
            .expect("create")
            .write_all(bytes)
            .expect("write");
        p
    };
    // Wrong magic (a float IDX), a short payload, a truncated gzip.
    let mut float = vec![0, 0, 0x0d, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
    float.extend([0u8; 16]);
    let p = write("float.idx", &float);
    let e = fashion_mnist::read_images(&p).expect_err("float IDX");
    assert!(
        e.to_string().contains("float.idx") && e.to_string().contains("magic"),
        "{e}"
    );
    let p = write(
        "short.idx",
        &[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3],
    );
    let e = fashion_mnist::read_images(&p).expect_err("short");
    assert!(e.to_string().contains("claim"), "{e}");
    let p = write("cut.gz", &[0x1f, 0x8b, 8, 0, 0, 0]);
    let e = fashion_mnist::read_images(&p).expect_err("gzip");
    assert!(e.to_string().contains("gzip"), "{e}");
    let e = FashionMnist::load(tmp.join("nowhere")).expect_err("missing");
    assert!(matches!(e, DatasetError::Read { .. }), "{e}");
    assert!(e.to_string().contains("nowhere"), "{e}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn natural_patches_follow_the_bsds300_recipe() {
    let Some(d) = skimage_dir() else { return };
    let config = PatchConfig {
        train_per_photo: 200,
        eval_per_photo: 50,
        ..PatchConfig::default()
    };
    let p = patches::load(&d, &config).expect("patches");
    assert_eq!(p.train.data.len() % DIM, 0);
    assert_eq!(p.test.len(), config.test_photos * 50);
    assert_eq!(p.validation.len(), config.validation_photos * 50);
    let train_photos = patches::PHOTOGRAPHS.len() - config.test_photos - config.validation_photos;
    assert_eq!(p.train.len(), train_photos * 200);
    // Split by photograph: no photograph in two splits.
    for name in &p.test.photos {
        assert!(!p.train.photos.contains(name) && !p.validation.photos.contains(name));
    }
    // Patch mean removed: the dropped pixel is minus the sum of the 63 kept ones, and lies in
    // the range a mean-free dequantised pixel can take.
    for i in 0..p.train.len() {
        let s = p.train.sample(i);
        let dropped = -s.iter().sum::<f64>();
        assert!(dropped.abs() <= 1.0, "sample {i}: dropped pixel {dropped}");
        assert!(s.iter().all(|v| v.abs() <= 1.0));
    }
    // Natural images: patches vary (not all flat), and the data are reproducible by seed.
    let var: f64 = p.train.data.iter().map(|v| v * v).sum::<f64>() / p.train.data.len() as f64;
    assert!(var > 1e-5, "variance {var}");
    let again = patches::load(&d, &config).expect("again");
    assert_eq!(again.train.data, p.train.data);
    let other = patches::load(&d, &PatchConfig { seed: 1, ..config }).expect("other seed");
    assert_ne!(other.train.data, p.train.data);
}

#[test]
fn a_missing_photograph_is_named() {
    let tmp = std::env::temp_dir().join(format!("symplode-photos-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let e = patches::load(&tmp, &PatchConfig::default()).expect_err("empty dir");
    assert!(e.to_string().contains("astronaut.png"), "{e}");
    std::fs::write(tmp.join("astronaut.png"), b"not a png").expect("write");
    let e = patches::load(&tmp, &PatchConfig::default()).expect_err("bad png");
    assert!(e.to_string().contains("PNG"), "{e}");
    let _ = std::fs::remove_dir_all(&tmp);
}
