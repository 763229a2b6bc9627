//! FFJORD's toy data generators (`examples/common/toy.rs`): deterministic for a seed, exactly
//! `n` finite points, and the shapes and ranges of each density.

use crate::toy;
use symplode::runtime::rng::Rng;

fn draw(name: &str, n: usize, seed: u64) -> Vec<[f64; 2]> {
    toy::sample(name, n, &mut Rng::new(seed)).unwrap()
}

fn radius(p: &[f64; 2]) -> f64 {
    p[0].hypot(p[1])
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

#[test]
fn deterministic_sized_and_finite() {
    for name in toy::DATASETS {
        for n in [1usize, 7, 1000] {
            let a = draw(name, n, 42);
            let b = draw(name, n, 42);
            assert_eq!(a, b, "{name}: same seed, same points");
            assert_eq!(a.len(), n, "{name}: {n} points");
            assert!(a.iter().flatten().all(|v| v.is_finite()), "{name}: finite");
        }
        assert_ne!(
            draw(name, 100, 1),
            draw(name, 100, 2),
            "{name}: seeds differ"
        );
        let pts = draw(name, 5000, 3);
        let max = pts
            .iter()
            .map(|p| p[0].abs().max(p[1].abs()))
            .fold(0.0, f64::max);
        assert!(
            max < 6.0,
            "{name}: points within the plotted box ±4 (max |x| {max})"
        );
        let centre = [
            mean(pts.iter().map(|p| p[0])),
            mean(pts.iter().map(|p| p[1])),
        ];
        assert!(
            centre[0].abs() < 0.5 && centre[1].abs() < 0.5,
            "{name}: roughly centred, mean {centre:?}"
        );
    }
}

#[test]
fn unknown_dataset_is_an_error() {
    let e = toy::sample("nope", 3, &mut Rng::new(0)).unwrap_err();
    assert!(e.contains("nope") && e.contains("8gaussians"), "{e}");
}

#[test]
fn shapes_of_the_densities() {
    // 8 Gaussians of σ = 0.5/1.414 at radius 4/1.414.
    let p = draw("8gaussians", 4000, 5);
    let r = mean(p.iter().map(radius));
    assert!((r - 4.0 / 1.414).abs() < 0.1, "8gaussians mean radius {r}");
    // Circles: radii 3 and 1.5 (noise 0.24), half the points each.
    let p = draw("circles", 4000, 5);
    let outer = p.iter().filter(|q| radius(q) > 2.25).count();
    assert!(
        outer.abs_diff(2000) < 40,
        "circles: half outside radius 2.25, got {outer}"
    );
    // Rings: radii 3, 2.25, 1.5, 0.75 with noise 0.08: every point near one of them.
    let p = draw("rings", 4000, 5);
    for q in &p {
        let r = radius(q);
        let off = (r / 0.75 - (r / 0.75).round()).abs() * 0.75;
        assert!(off < 0.4, "rings: radius {r} far from a ring");
    }
    // Checkerboard: 8 of the 16 unit-2 squares of [−4, 4]², alternating.
    let p = draw("checkerboard", 4000, 5);
    for q in &p {
        assert!(q[0].abs() <= 4.0 && q[1].abs() <= 4.0);
        let (i, j) = ((q[0] / 2.0).floor() as i64, (q[1] / 2.0).floor() as i64);
        assert_eq!(
            (i + j).rem_euclid(2),
            0,
            "checkerboard: {q:?} on a white square"
        );
    }
    // Moons: the two arcs, x in about [−3, 3].
    let p = draw("moons", 4000, 5);
    let xs = p.iter().map(|q| q[0]);
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    assert!(
        lo > -3.9 && lo < -2.5 && hi > 2.5 && hi < 3.9,
        "moons x range {lo}..{hi}"
    );
    // Two spirals: two arms out to radius about 3.
    let p = draw("2spirals", 4000, 5);
    let r = mean(p.iter().map(radius));
    assert!(r > 1.5 && r < 3.0, "2spirals mean radius {r}");
    // Pinwheel and swiss roll: mean radius near 2.4 and 1.8 (a loose check of the scale).
    let r = mean(draw("pinwheel", 4000, 5).iter().map(radius));
    assert!(r > 1.8 && r < 3.0, "pinwheel mean radius {r}");
    let r = mean(draw("swissroll", 4000, 5).iter().map(radius));
    assert!(r > 1.3 && r < 2.6, "swissroll mean radius {r}");
}
