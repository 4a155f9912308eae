//! A table of C entry points resolved by name from a shared library.

/// Declares a struct with one optional function pointer per entry point, a
/// resolver that looks each one up by its own name, and a compile-time check that
/// every signature equals the bindgen declaration of the same name.
///
/// Entry points are optional so that an older runtime missing a recent one still
/// loads; calling an absent one is an error at the call, not a panic at load.
macro_rules! fn_table {
    (
        $(#[$meta:meta])*
        pub struct $table:ident checked against $bindings:path {
            $( fn $name:ident ( $($arg:ty),* $(,)? ) -> $ret:ty; )*
        }
    ) => {
        $(#[$meta])*
        #[allow(non_snake_case)]
        #[derive(Clone, Copy, Debug)]
        pub struct $table {
            $(
                #[doc = concat!("`", stringify!($name), "`, if the library exports it.")]
                pub $name: Option<unsafe extern "C" fn($($arg),*) -> $ret>,
            )*
        }

        impl $table {
            /// Looks up every entry point by name; absent ones stay `None`.
            ///
            /// # Safety
            /// `library` must export these names with exactly these C signatures
            /// (the vendor's ABI, which the bindgen check below pins).
            pub(crate) unsafe fn resolve(library: &libloading::Library) -> Self {
                Self {
                    $(
                        // SAFETY: the caller guarantees the symbol, if present, has
                        // this signature; the pointer stays valid while `library` lives.
                        $name: unsafe {
                            library.get::<unsafe extern "C" fn($($arg),*) -> $ret>(
                                concat!(stringify!($name), "\0").as_bytes(),
                            )
                        }
                        .ok()
                        .map(|symbol| *symbol),
                    )*
                }
            }
        }

        // Never instantiated, so nothing is linked: only type-checked, which makes a
        // signature that drifts from the generated declaration a compile error.
        #[allow(dead_code, non_snake_case, clippy::extra_unused_type_parameters)]
        fn _signatures_match_bindings<T>() {
            use $bindings as declared;
            $( let _: unsafe extern "C" fn($($arg),*) -> $ret = declared::$name; )*
        }
    };
}
