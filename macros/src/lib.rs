//! Procedural macros of symplode (`neural_ode!`, `tableau!`): a thin shim over `symplode-codegen`.
//! The macros themselves arrive with the macro issue; this crate builds so the workspace is whole.
#![deny(missing_docs)]

use proc_macro::TokenStream;

/// Reserved for `neural_ode!`; currently expands to a compile error explaining it is not yet
/// available.
#[proc_macro]
pub fn neural_ode(_input: TokenStream) -> TokenStream {
    quote::quote!(compile_error!(
        "neural_ode! is not implemented yet in this version of symplode"
    ))
    .into()
}
