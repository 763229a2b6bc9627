//! Token-level tests of the emitted code.

use quote::quote;

use super::*;

/// Normalises a token stream's text: one token per whitespace-separated word, so that the
/// comparison is at the token level and independent of `Display`'s spacing.
fn tokens(ts: &TokenStream) -> String {
    ts.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The complete expansion of a small model (one dense layer, Euler) against a golden file.
/// Regenerate with `SYMPLODE_BLESS=1 cargo test -p symplode-codegen golden`.
#[test]
fn golden_small_model() {
    let out = expand_neural_ode(quote! {
        /// A linear field.
        pub struct Small {
            float: f64,
            dim: 1,
            time: false,
            layers: [dense(1)],
            tableau: { a: [[1/2]], b: [0, 1], c: [0, 1/2], order: 2 },
            solver: { steps: 2 },
        }
    });
    let got = tokens(&out);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/lower_rust/golden/small_model.tokens"
    );
    if std::env::var_os("SYMPLODE_BLESS").is_some() {
        std::fs::write(path, got.replace(" ; ", " ;\n")).expect("writes the golden file");
        return;
    }
    let want = std::fs::read_to_string(path).expect("golden file exists");
    let want = want.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        got, want,
        "emitted tokens changed; bless with SYMPLODE_BLESS=1 if intended"
    );
}

#[test]
fn kernels_inline_nonzero_coefficients_only() {
    let parsed: crate::dsl::NeuralOde = syn::parse2(quote! {
        struct M { float: f64, dim: 1, layers: [dense(1)], tableau: rk4 }
    })
    .expect("parses");
    let (m, e) = crate::dsl::check_model(&parsed);
    assert!(e.is_empty());
    let k = tokens(&step_kernels::emit(
        &quote::format_ident!("K"),
        &m.tableau,
        true,
    ));
    // rk4 stage 3 reads only k_2 (a_31 = 0 is skipped), with 1/2 inlined.
    assert!(k.contains("2usize => { let __n = out . len () ; let __init = & x [.. __n] ; let __k1 = & k [1usize] [.. __n] ; let __w1 = h * 0.5f64 ;"), "{k}");
    // Stage 1's input is x itself.
    assert!(k.contains("0usize => { let __n = out . len () ; let __init = & x [.. __n] ; for __e in 0 .. __n { let mut __o = __init [__e] ; out [__e] = __o ; } }"), "{k}");
    // No error estimate without embedded weights.
    assert!(k.contains("out . fill (0.0) ;"), "{k}");
}

#[test]
fn fsal_update_arms_are_merged() {
    let parsed: crate::dsl::NeuralOde = syn::parse2(quote! {
        struct M { float: f32, dim: 1, layers: [dense(1)], tableau: dopri5 }
    })
    .expect("parses");
    let (m, _) = crate::dsl::check_model(&parsed);
    let k = tokens(&step_kernels::emit(
        &quote::format_ident!("K"),
        &m.tableau,
        false,
    ));
    // update(6) and update(7) are the same arm: b_7 = 0; it is the catch-all last arm.
    assert!(k.contains("5usize =>") && !k.contains("6usize =>"), "{k}");
    assert!(k.contains("f32"));
}

#[test]
fn errors_come_with_stubs() {
    let out = tokens(&expand_neural_ode(quote! {
        struct M { float: f64, dim: 2, layers: [dense(3)], tableau: rk5 }
    }));
    assert_eq!(out.matches("compile_error !").count(), 2, "{out}");
    assert!(out.contains("struct M"));
    assert!(out.contains("impl :: symplode :: runtime :: Dynamics < f64 > for M"));
}

#[test]
fn tableau_item_emits_a_callback_macro() {
    let out = tokens(&expand_tableau(quote! {
        pub HEUN3 = { a: [[1/3], [0, 2/3]], b: [1/4, 0, 3/4], c: [0, 1/3, 2/3], order: 3 }
    }));
    assert!(out.contains("macro_rules ! HEUN3"), "{out}");
    assert!(
        out.contains(":: symplode :: neural_ode ! { @ tableau HEUN3 valid"),
        "{out}"
    );
    assert!(out.contains("pub (crate) use HEUN3 ;"), "{out}");
    let named = tokens(&expand_neural_ode(quote! {
        struct M { float: f64, dim: 1, layers: [dense(1)], tableau: HEUN3 }
    }));
    assert!(named.starts_with("HEUN3 ! {"), "{named}");
}
