//! [`JitTableau`]: a validated tableau compiled to native step kernels.

use std::time::{Duration, Instant};

use super::boundary::{CodeMemory, Kernel};
use super::lower::{Builder, Coef, KernelSpec, Node, Source};
use super::{JitError, JitFloat, JitOptions, JitReport};
use crate::tableau::{Q, Tableau, q_to_f64};

/// A tableau's forward, stage-recompute, error and symplectic-adjoint kernels, compiled by
/// Cranelift with the coefficients baked in (see the [module documentation](super)).
///
/// ```
/// use symplode_codegen::jit::{JitOptions, JitTableau};
/// use symplode_codegen::tableau::builtin;
///
/// let rk4 = JitTableau::<f64>::compile(&builtin("rk4")?, &JitOptions::default())?;
/// let x = vec![1.0; 5];
/// let k = vec![vec![2.0; 5]; 4];
/// let mut out = vec![0.0; 5];
/// rk4.update(4, 0.5, &x, &k, &mut out); // x + h Σ b_i k_i = 1 + 0.5·2
/// assert!(out.iter().all(|&v| (v - 2.0).abs() < 1e-15));
/// println!("{}", rk4.report().summary(false));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JitTableau<F: JitFloat> {
    name: String,
    stages: usize,
    effective: usize,
    fsal: bool,
    stage: Vec<Option<Kernel<F>>>,
    update: Vec<Kernel<F>>,
    error: Option<Kernel<F>>,
    adjoint: Vec<Kernel<F>>,
    report: JitReport,
    validate_time: Duration,
}

struct Rounder<'a, F> {
    name: &'a str,
    _f: std::marker::PhantomData<F>,
}

impl<F: JitFloat> Rounder<'_, F> {
    /// The coefficient rounded to `F` (as the interpreter rounds it), `None` when zero.
    fn get(&self, q: &Q, which: String, stage: usize) -> Result<Option<f64>, JitError> {
        let v = F::round(q_to_f64(q)).widen();
        if !v.is_finite() {
            return Err(JitError::Coefficient {
                name: self.name.to_string(),
                which,
                stage,
                value: v,
                ty: F::NAME,
            });
        }
        Ok((v != 0.0).then_some(v))
    }
}

impl<F: JitFloat> JitTableau<F> {
    /// Validates `tableau` (claimed orders within its tolerance unless
    /// [`JitOptions::check_order`] is off, symplectic partner and its pairing proof, finite
    /// coefficients in `F`) and compiles its kernels.
    ///
    /// # Errors
    /// [`JitError::Tableau`] with the failing condition (stage, tree, exact residual),
    /// [`JitError::Coefficient`], or a Cranelift error.
    pub fn compile(tableau: &Tableau, opts: &JitOptions) -> Result<Self, JitError> {
        let start = Instant::now();
        let tol = tableau.tolerance().clone();
        if opts.check_order {
            tableau.check_order_within(tableau.order(), &tol)?;
            if let Some(p) = tableau.embedded_order() {
                tableau.check_embedded_order_within(p, &tol)?;
            }
        }
        let partner = tableau.partner()?;
        let validate_time = start.elapsed();
        let start = Instant::now();
        let r = Rounder::<F> {
            name: tableau.name(),
            _f: std::marker::PhantomData,
        };
        let s = tableau.stages();
        let eff = partner.stages;
        let mut specs: Vec<KernelSpec> = Vec::new();
        // Forward stage inputs.
        for i in 1..s {
            let mut nodes = vec![Node::Init(Source::X)];
            for j in 0..i {
                if let Some(v) =
                    r.get(&tableau.a()[i][j], format!("a_{}{}", i + 1, j + 1), i + 1)?
                {
                    nodes.push(Node::Axpy {
                        coef: Coef::HTimes(v),
                        slot: j,
                    });
                }
            }
            nodes.push(Node::Store);
            specs.push(KernelSpec {
                name: format!("stage_{}", i + 1),
                nodes,
            });
        }
        // Updates over the first m stages.
        let mut b = Vec::with_capacity(s);
        for (j, q) in tableau.b().iter().enumerate() {
            b.push(r.get(q, format!("b_{}", j + 1), j + 1)?);
        }
        for m in 0..=s {
            let mut nodes = vec![Node::Init(Source::X)];
            for (j, v) in b.iter().enumerate().take(m) {
                if let Some(v) = v {
                    nodes.push(Node::Axpy {
                        coef: Coef::HTimes(*v),
                        slot: j,
                    });
                }
            }
            nodes.push(Node::Store);
            specs.push(KernelSpec {
                name: format!("update_{m}"),
                nodes,
            });
        }
        // Error estimate.
        let has_error = if let Some(e) = tableau.error_weights() {
            let mut nodes = vec![Node::Init(Source::Zero)];
            for (j, q) in e.iter().enumerate() {
                if let Some(v) = r.get(q, format!("b_{0} - b_hat_{0}", j + 1), j + 1)? {
                    nodes.push(Node::Axpy {
                        coef: Coef::HTimes(v),
                        slot: j,
                    });
                }
            }
            nodes.push(Node::Store);
            specs.push(KernelSpec {
                name: "error".to_string(),
                nodes,
            });
            true
        } else {
            false
        };
        // Symplectic adjoint cotangents.
        for i in 0..eff {
            let zero_weight = partner.zero_weight[i];
            let mut nodes = vec![Node::Init(if zero_weight {
                Source::Zero
            } else {
                Source::X
            })];
            for j in i + 1..eff {
                let which = format!("coupling_{}{}", i + 1, j + 1);
                if let Some(v) = r.get(&partner.coupling[i][j], which, i + 1)? {
                    nodes.push(Node::Axpy {
                        coef: Coef::Const(v),
                        slot: j,
                    });
                }
            }
            nodes.push(Node::Scale(if zero_weight {
                Coef::H
            } else {
                // b_i ≠ 0 here, and its rounding was checked above; a weight that rounds
                // to zero in F scales by zero, as the interpreter does.
                Coef::HTimes(b[i].unwrap_or(0.0))
            }));
            nodes.push(Node::Store);
            specs.push(KernelSpec {
                name: format!("adjoint_{}", i + 1),
                nodes,
            });
        }

        let mut builder = Builder::new::<F>(opts)?;
        let mut ids = Vec::with_capacity(specs.len());
        for spec in &specs {
            ids.push(builder.define(spec)?);
        }
        let (fma, lanes, target) = (builder.fma(), builder.lanes(), builder.target());
        let functions = std::mem::take(&mut builder.reports);
        let code = CodeMemory::new(builder.finish()?);
        let mut kernels = specs
            .iter()
            .zip(ids)
            .map(|(spec, id)| Kernel::new(&code, id, spec.reads_x(), spec.slots()));
        let mut stage = vec![None];
        for _ in 1..s {
            stage.push(kernels.next());
        }
        let update: Vec<_> = kernels.by_ref().take(s + 1).collect();
        let error = if has_error { kernels.next() } else { None };
        let adjoint: Vec<_> = kernels.collect();
        Ok(JitTableau {
            name: tableau.name().to_string(),
            stages: s,
            effective: eff,
            fsal: tableau.is_fsal(),
            stage,
            update,
            error,
            adjoint,
            report: JitReport {
                compile_time: start.elapsed(),
                float: F::NAME,
                lanes,
                fma,
                target,
                functions,
            },
            validate_time,
        })
    }

    /// The tableau's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of stages s.
    pub fn stages(&self) -> usize {
        self.stages
    }
    /// Effective stages S of the symplectic partner.
    pub fn effective_stages(&self) -> usize {
        self.effective
    }
    /// First same as last.
    pub fn is_fsal(&self) -> bool {
        self.fsal
    }
    /// Whether an error-estimate kernel exists (the tableau has embedded weights).
    pub fn has_error_estimate(&self) -> bool {
        self.error.is_some()
    }
    /// Compile time, functions and (optionally) disassembly.
    pub fn report(&self) -> &JitReport {
        &self.report
    }
    /// Time spent validating before code generation (order claims, partner proof).
    pub fn validate_time(&self) -> Duration {
        self.validate_time
    }

    /// `out = x + h Σ_{j<i} a_ij k_j` for 1 ≤ i < s.
    ///
    /// # Panics
    /// If `i` is 0 or ≥ s, or a slice is shorter than `out`.
    pub fn stage_input<K: AsRef<[F]>>(&self, i: usize, h: F, x: &[F], k: &[K], out: &mut [F]) {
        self.stage[i]
            .as_ref()
            .expect("stage_input: 1 <= i < s")
            .call(h, x, k, out)
    }

    /// `out = x + h Σ_{i<m} b_i k_i` for m ≤ s.
    pub fn update<K: AsRef<[F]>>(&self, m: usize, h: F, x: &[F], k: &[K], out: &mut [F]) {
        self.update[m].call(h, x, k, out)
    }

    /// `out = h Σ_i (b_i − b̂_i) k_i`; zero without embedded weights.
    pub fn error_estimate<K: AsRef<[F]>>(&self, h: F, k: &[K], out: &mut [F]) {
        match &self.error {
            Some(e) => e.call(h, &[], k, out),
            None => out.fill(F::round(0.0)),
        }
    }

    /// The symplectic adjoint's cotangent of effective stage i < S:
    /// `h b_i (λ + Σ_{j>i} G_ij u_j)`, or `h Σ_{j>i} G_ij u_j` when b_i = 0.
    pub fn adjoint_cotangent<K: AsRef<[F]>>(
        &self,
        i: usize,
        h: F,
        lam: &[F],
        u: &[K],
        out: &mut [F],
    ) {
        self.adjoint[i].call(h, lam, u, out)
    }
}
