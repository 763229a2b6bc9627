//! One coefficient as written: the tokens up to the next `,`, read as an exact rational later
//! so that every malformed coefficient gets its own error.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::Token;
use syn::parse::{Parse, ParseStream};

use crate::tableau::{Q, parse_q};

/// The tokens of one coefficient (`-56/15`, `0.25`, `3`, …) up to the next comma.
#[derive(Clone)]
pub struct Coef {
    /// The tokens as written.
    pub tokens: TokenStream,
    /// The span of the first token (used when there are no tokens).
    pub span: Span,
}

impl Parse for Coef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let span = input.span();
        let mut tokens = TokenStream::new();
        while !input.is_empty() && !input.peek(Token![,]) {
            let tt: TokenTree = input.parse()?;
            tokens.extend([tt]);
        }
        if tokens.is_empty() {
            return Err(syn::Error::new(span, "expected a coefficient"));
        }
        Ok(Coef { tokens, span })
    }
}

impl Coef {
    /// The text of the tokens without spaces (`- 56 / 15` → `-56/15`).
    pub fn text(&self) -> String {
        self.tokens
            .clone()
            .into_iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join("")
    }

    /// An error spanning the coefficient's tokens.
    pub fn error(&self, msg: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(self.tokens.to_token_stream(), msg)
    }

    /// The exact value: `-`? (integer | decimal) (`/` integer)?; anything else (identifiers,
    /// suffixes, a zero denominator, `1/2/3`, expressions) is an error on the coefficient.
    pub fn value(&self) -> syn::Result<Q> {
        let toks: Vec<TokenTree> = self.tokens.clone().into_iter().collect();
        let well_formed = {
            let mut k = 0;
            if let Some(TokenTree::Punct(p)) = toks.first()
                && p.as_char() == '-'
            {
                k = 1;
            }
            let num_ok =
                matches!(toks.get(k), Some(TokenTree::Literal(l)) if plain_number(&l.to_string()));
            let rest = &toks[(k + 1).min(toks.len())..];
            let den_ok = match rest {
                [] => true,
                [TokenTree::Punct(p), TokenTree::Literal(l)] => {
                    p.as_char() == '/' && l.to_string().bytes().all(|c| c.is_ascii_digit())
                }
                _ => false,
            };
            num_ok && den_ok
        };
        let text = self.text();
        if !well_formed {
            return Err(self.error(format!(
                "`{text}` is not a rational literal: write a coefficient as `-56/15`, `1/2`, \
                 `0.25` or `3`"
            )));
        }
        parse_q(&text).map_err(|e| self.error(format!("malformed coefficient: {e}")))
    }
}

/// An unsuffixed decimal literal: digits, an optional fraction and exponent.
fn plain_number(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && s.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
}
