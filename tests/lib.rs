//! Cross-crate integration tests live in `tests/`; this library holds nothing but
//! lets Cargo build them as one package.
