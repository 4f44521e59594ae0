//! The `#[taskref::remote]` attribute: makes a free `fn` or `async fn`
//! distributable, so that a taskref runtime built against a Ray cluster can run
//! it on the cluster's workers. Use it through `taskref::remote`; see that
//! crate's docs.
//
// The function itself is left as it is (it stays callable, and `rt.remote(f)`
// takes it like any other function). Beside it the attribute emits:
//
// - a thunk, `fn(&[&[u8]]) -> CallFuture`, that decodes each argument from
//   its own bytes (one slice per parameter: on a cluster, an argument that was
//   a ref arrives as the bytes of that ref's value, resolved by Ray on the
//   worker), calls the function (awaiting it if it is async) and encodes the
//   result: what a worker runs when the driver names this function;
// - a registration of the thunk under the function's path (the type name of
//   its item type, `crate::module::name`), collected at link time, so that a
//   worker built from the same code finds it by name, and the runtime can tell
//   from a function's type alone that it is distributable.
//
// Only what can be named and serialized can cross: no generics, no `self`,
// no `unsafe fn`, no patterns in parameters, no references or `impl Trait`
// arguments. Those are refused here, with the span of the offending item,
// rather than failing later. (A method in an `impl` block is not a free
// function: the attribute does not apply there, and the compiler says so,
// less clearly.)

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{format_ident, quote};
use syn::{parse_macro_input, spanned::Spanned, FnArg, Item, ItemFn, Pat, ReturnType, Type};

/// Registers a free function as distributable (see `taskref::remote`).
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new(attr.span(), "`#[taskref::remote]` takes no arguments")
            .to_compile_error()
            .into();
    }
    let expanded = match parse_macro_input!(item as Item) {
        Item::Fn(function) => expand(&function),
        Item::Impl(block) => actor::expand(&block),
        other => Err(syn::Error::new(
            other.span(),
            "`#[taskref::remote]` applies to a free `fn` or `async fn`, or to an `impl` block \
             of an actor's state type",
        )),
    };
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

mod actor;

/// A parameter's type, if a distributed call can carry it: a named binding
/// of an owned type. `what` names the item in the error.
fn parameter_type<'a>(typed: &'a syn::PatType, what: &str) -> syn::Result<&'a Type> {
    if !matches!(&*typed.pat, Pat::Ident(_)) {
        return Err(syn::Error::new(
            typed.pat.span(),
            format!("name each parameter of {what} (no patterns)"),
        ));
    }
    if matches!(&*typed.ty, Type::ImplTrait(_) | Type::Reference(_)) {
        return Err(syn::Error::new(
            typed.ty.span(),
            format!("{what} takes owned, serializable arguments"),
        ));
    }
    Ok(&typed.ty)
}

/// The thunk's names for `count` arguments. Mixed-site: they can never hide
/// the user's items (a function called `input`, a constant called `arg0`).
fn argument_names(count: usize) -> Vec<proc_macro2::Ident> {
    (0..count)
        .map(|index| format_ident!("__taskref_arg{}", index, span = Span::mixed_site()))
        .collect()
}

fn expand(function: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let sig = &function.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a distributable function cannot be generic: workers find it by its name",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new(
            unsafety.span(),
            "an `unsafe fn` cannot be distributed: a worker calls it by name",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "variadic functions cannot be distributed",
        ));
    }
    let mut types = Vec::new();
    for input in sig.inputs.iter() {
        let FnArg::Typed(typed) = input else {
            return Err(syn::Error::new(
                input.span(),
                "a distributable function is a free function: no `self`",
            ));
        };
        types.push(parameter_type(typed, "a distributable function")?);
    }
    let names = argument_names(types.len());
    let ident = &sig.ident;
    let thunk = format_ident!("__taskref_remote_{}", ident);
    let input = quote::format_ident!("__taskref_input", span = Span::mixed_site());
    let arity = names.len();
    let indices: Vec<usize> = (0..arity).collect();
    let call = match sig.asyncness {
        Some(_) => quote! {
            ::taskref::__private::call_async(async move {
                ::taskref::__private::encode(&#ident(#(#names),*).await)
            })
        },
        None => quote! {
            ::taskref::__private::call_blocking(move || {
                ::taskref::__private::encode(&#ident(#(#names),*))
            })
        },
    };
    // The output type must travel back: serializable on the worker,
    // deserializable on the driver; say so where it is written.
    let output = match &sig.output {
        ReturnType::Default => quote! { () },
        ReturnType::Type(_, ty) => {
            if matches!(&**ty, Type::ImplTrait(_)) {
                return Err(syn::Error::new(
                    ty.span(),
                    "a distributable function returns a named, serializable type (not `impl Trait`)",
                ));
            }
            quote! { #ty }
        }
    };
    let output_check = quote! {
        const _: fn() = || {
            fn serializable<T: ::taskref::__private::serde::Serialize
                + ::taskref::__private::serde::de::DeserializeOwned>() {}
            serializable::<#output>();
        };
    };
    let encode_arg = format_ident!("__taskref_encode_arg_{}", ident);
    let decode_result = format_ident!("__taskref_decode_result_{}", ident);
    let index = quote::format_ident!("__taskref_index", span = Span::mixed_site());
    let value = quote::format_ident!("__taskref_value", span = Span::mixed_site());
    Ok(quote! {
        #function

        #output_check

        #[doc(hidden)]
        #[allow(non_snake_case, deprecated, clippy::let_unit_value)]
        fn #thunk(#input: &[&[u8]]) -> ::taskref::__private::CallFuture {
            if #input.len() != #arity {
                return ::taskref::__private::failed(::taskref::__private::arity_error(
                    #arity,
                    #input.len(),
                ));
            }
            #(
                let #names: #types = match ::taskref::__private::decode(#input[#indices]) {
                    ::core::result::Result::Ok(arg) => arg,
                    ::core::result::Result::Err(err) => return ::taskref::__private::failed(err),
                };
            )*
            #call
        }

        // The driver's side: each argument (by position, type-erased, as
        // the runtime holds it) to its bytes, and the result's bytes back.
        #[doc(hidden)]
        #[allow(non_snake_case, deprecated, unreachable_code, unused_variables)]
        fn #encode_arg(
            #index: usize,
            #value: &(dyn ::core::any::Any + ::core::marker::Send),
        ) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
            match #index {
                #( #indices => ::taskref::__private::encode_arg::<#types>(#value), )*
                _ => ::core::result::Result::Err(::taskref::__private::arity_error(#arity, #index + 1)),
            }
        }

        #[doc(hidden)]
        #[allow(non_snake_case, deprecated)]
        fn #decode_result(
            #input: &[u8],
        ) -> ::core::result::Result<
            ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
            ::std::string::String,
        > {
            ::taskref::__private::decode_boxed::<#output>(#input)
        }

        ::taskref::__private::inventory::submit! {
            #[allow(deprecated)]
            ::taskref::__private::Distributable::new(
                // The function item's own type name (what workers look it up
                // by) and type id (what `rt.remote(f)` matches `f` with: type
                // names are not unique, type ids are).
                || ::core::any::type_name_of_val(&#ident),
                || ::taskref::__private::type_id_of_val(&#ident),
                #thunk,
                #encode_arg,
                #decode_result,
            )
        }
    })
}
