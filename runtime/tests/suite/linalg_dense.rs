//! `linalg::dense` against naive loops: the forward pass (plain bias, and the time column
//! folded into the bias on each of its three paths: 64- and 512-element stack buffers and
//! bias rows), the parameter gradients (weight, bias, time column) and the input gradient; the
//! one-pass bias and time-column gradient bit for bit against its two passes.

use symplode_runtime::linalg::dense::{DenseLayer, bias_and_time_grad, col_sum, time_col_grad};
use symplode_runtime::linalg::matmul::MatRef;
use symplode_runtime::rng::Rng;

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.uniform_range(-1.0, 1.0)).collect()
}

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-13 * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// A layer at offset 3 of a parameter vector (so offsets are exercised), with `time`: the
/// input is `[x, t]`.
fn case(k: usize, out: usize, time: bool, batch: usize) {
    let inp = k + usize::from(time);
    let w0 = 3;
    let ly = DenseLayer {
        inp,
        out,
        k,
        w: w0,
        b: w0 + out * inp,
    };
    let params = random(w0 + out * inp + out + 2, 1);
    let (w, b) = (&params[ly.w..ly.b], &params[ly.b..ly.b + out]);
    let x = random(batch * k, 2);
    let t = 0.7;
    // Forward.
    let mut y = vec![0.0; batch * out];
    ly.forward(&params, ly.weight_t(&params), t, &x, &mut y, batch);
    let mut want = vec![0.0; batch * out];
    for s in 0..batch {
        for j in 0..out {
            let mut acc = b[j];
            for c in 0..k {
                acc += x[s * k + c] * w[j * inp + c];
            }
            if time {
                acc += t * w[j * inp + k];
            }
            want[s * out + j] = acc;
        }
    }
    close(&y, &want, &format!("forward k={k} out={out} time={time}"));
    // A transposed copy of the weight gives the same bits as the strided view.
    let wt: Vec<f64> = (0..k)
        .flat_map(|c| (0..out).map(move |j| (c, j)))
        .map(|(c, j)| w[j * inp + c])
        .collect();
    let mut y2 = vec![0.0; batch * out];
    ly.forward(
        &params,
        MatRef::row_major(&wt, k, out),
        t,
        &x,
        &mut y2,
        batch,
    );
    assert_eq!(y, y2, "transposed copy vs view");
    // Parameter gradients (accumulated onto a non-zero gp).
    let delta = random(batch * out, 3);
    let mut gp = vec![0.5; params.len()];
    ly.grad_params(t, &delta, &x, &mut gp, batch);
    let mut want = vec![0.5; params.len()];
    for s in 0..batch {
        for j in 0..out {
            let d = delta[s * out + j];
            for c in 0..k {
                want[ly.w + j * inp + c] += d * x[s * k + c];
            }
            if time {
                want[ly.w + j * inp + k] += t * d;
            }
            want[ly.b + j] += d;
        }
    }
    close(
        &gp,
        &want,
        &format!("grad_params k={k} out={out} time={time}"),
    );
    // Input gradient.
    let mut gin = vec![0.0; batch * k];
    ly.grad_input(&params, &delta, &mut gin, batch);
    let mut want = vec![0.0; batch * k];
    for s in 0..batch {
        for c in 0..k {
            for j in 0..out {
                want[s * k + c] += delta[s * out + j] * w[j * inp + c];
            }
        }
    }
    close(
        &gin,
        &want,
        &format!("grad_input k={k} out={out} time={time}"),
    );
}

#[test]
fn dense_layer_matches_naive_loops() {
    for out in [3, 64, 100, 600] {
        for time in [false, true] {
            case(5, out, time, 7);
        }
    }
}

#[test]
fn col_sum_overwrites_or_accumulates() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut s = [10.0, 20.0];
    col_sum(&mut s, &x, 2, true);
    assert_eq!(s, [19.0, 32.0]);
    col_sum(&mut s, &x, 2, false);
    assert_eq!(s, [9.0, 12.0]);
}

#[test]
fn one_pass_bias_and_time_gradient_equals_the_two_passes_bit_for_bit() {
    // Widths below, at and above the 64-column block; strides of the time column 2 and 5.
    for (p, ld, rows) in [(1, 2, 3), (32, 3, 16), (64, 5, 7), (130, 2, 9)] {
        let delta = random(rows * p, 11);
        let gb0 = random(p, 12);
        let g0 = random(p * ld, 13);
        let t = -0.37;
        let (mut gb1, mut g1) = (gb0.clone(), g0.clone());
        col_sum(&mut gb1, &delta, p, true);
        time_col_grad(&mut g1, ld, &delta, p, t, true);
        let (mut gb2, mut g2) = (gb0.clone(), g0.clone());
        bias_and_time_grad(&mut gb2, &mut g2, ld, &delta, p, t);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&gb2), bits(&gb1), "bias, p {p}");
        assert_eq!(
            bits(&g2),
            bits(&g1),
            "time column (and the rest untouched), p {p}"
        );
    }
}
