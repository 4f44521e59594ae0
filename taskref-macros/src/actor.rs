//! `#[taskref::remote]` on an `impl` block: the state type of an actor that a
//! runtime on a Ray cluster runs as a Ray actor.
//
// Each constructor (an associated fn without receiver that returns `Self`)
// and each method (`&mut self`, with at most one argument besides
// the receiver: `call_with` passes one value, a tuple for several) is
// registered by the type name and type id of its fn item, as free functions
// are, so that `spawn_with(Counter::new, ..)` and `call_with(x, Counter::add)`
// can tell from the fn item's type that it has a registration. Beside each:
// the worker's thunk (construct the state from encoded arguments / run the
// method on the state) and the driver's codecs. Other associated items are
// left alone.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{spanned::Spanned, FnArg, ImplItem, ItemImpl, ReturnType, Type};

pub(crate) fn expand(block: &ItemImpl) -> syn::Result<TokenStream> {
    if let Some((_, path, _)) = &block.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "`#[taskref::remote]` applies to an inherent `impl` block, not a trait impl",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(syn::Error::new(
            block.generics.span(),
            "an actor's state type cannot be generic: workers find it by its name",
        ));
    }
    let ty = &block.self_ty;
    let mut registrations = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(method) = item else { continue };
        let sig = &method.sig;
        let receiver = sig.receiver();
        let returns_self = match &sig.output {
            ReturnType::Type(_, out) => is_self(out, ty),
            ReturnType::Default => false,
        };
        if receiver.is_none() && !returns_self {
            continue; // an associated function that is neither: not ours
        }
        if let Some(asyncness) = &sig.asyncness {
            return Err(syn::Error::new(
                asyncness.span(),
                "an actor method on a Ray cluster is a plain `fn` (async methods are not supported)",
            ));
        }
        if !sig.generics.params.is_empty() {
            return Err(syn::Error::new(
                sig.generics.span(),
                "an actor's method or constructor cannot be generic",
            ));
        }
        if let Some(receiver) = receiver {
            if receiver.reference.is_none() || receiver.mutability.is_none() {
                return Err(syn::Error::new(
                    receiver.span(),
                    "an actor method takes `&mut self` (as the closures of `call` take `&mut S`)",
                ));
            }
        }
        let mut types = Vec::new();
        for input in sig.inputs.iter() {
            let FnArg::Typed(typed) = input else { continue };
            types.push(crate::parameter_type(
                typed,
                "an actor's method or constructor",
            )?);
        }
        let ident = &sig.ident;
        let names = crate::argument_names(types.len());
        let indices: Vec<usize> = (0..types.len()).collect();
        let arity = types.len();
        let input = format_ident!("__taskref_input", span = Span::mixed_site());
        let state = format_ident!("__taskref_state", span = Span::mixed_site());
        let index = format_ident!("__taskref_index", span = Span::mixed_site());
        let value = format_ident!("__taskref_value", span = Span::mixed_site());
        let decode_args = quote! {
            if #input.len() != #arity {
                return ::core::result::Result::Err(::taskref::__private::CallError::Arguments(
                    ::taskref::__private::arity_error(#arity, #input.len()),
                ));
            }
            #(
                let #names: #types = ::taskref::__private::decode(#input[#indices])
                    .map_err(::taskref::__private::CallError::Arguments)?;
            )*
        };
        let encode_arg = quote! {
            |#index: usize, #value: &(dyn ::core::any::Any + ::core::marker::Send)| {
                match #index {
                    #( #indices => ::taskref::__private::encode_arg::<#types>(#value), )*
                    _ => ::core::result::Result::Err(::taskref::__private::arity_error(#arity, #index + 1)),
                }
            }
        };
        let item_name = quote! { || ::core::any::type_name_of_val(&<#ty>::#ident) };
        let item_id = quote! { || ::taskref::__private::type_id_of_val(&<#ty>::#ident) };
        if receiver.is_none() {
            registrations.push(quote! {
                ::taskref::__private::inventory::submit! {
                    #[allow(deprecated)]
                    ::taskref::__private::ActorPart::constructor(
                        #item_name,
                        #item_id,
                        |#input: &[&[u8]]| {
                            #decode_args
                            ::taskref::__private::construct(move || {
                                ::std::boxed::Box::new(<#ty>::#ident(#(#names),*))
                                    as ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>
                            })
                        },
                        #encode_arg,
                    )
                }
            });
            continue;
        }
        if arity > 1 {
            return Err(syn::Error::new(
                sig.inputs.span(),
                "an actor method called with `call_with` takes one argument besides the \\
                 receiver: pass a tuple or a struct for several",
            ));
        }
        let output = match &sig.output {
            ReturnType::Default => quote! { () },
            ReturnType::Type(_, out) => quote! { #out },
        };
        registrations.push(quote! {
            const _: fn() = || {
                fn serializable<T: ::taskref::__private::serde::Serialize
                    + ::taskref::__private::serde::de::DeserializeOwned>() {}
                serializable::<#output>();
            };
            ::taskref::__private::inventory::submit! {
                #[allow(deprecated)]
                ::taskref::__private::ActorPart::method(
                    #item_name,
                    #item_id,
                    |#state: &mut (dyn ::core::any::Any + ::core::marker::Send), #input: &[&[u8]]| {
                        let ::core::option::Option::Some(#state) = #state.downcast_mut::<#ty>() else {
                            return ::core::result::Result::Err(
                                ::taskref::__private::CallError::UnknownFunction(::std::format!(
                                    "this actor's state is not a `{}`",
                                    ::core::any::type_name::<#ty>()
                                )),
                            );
                        };
                        #decode_args
                        ::taskref::__private::run_method(move || {
                            ::taskref::__private::encode(&<#ty>::#ident(#state, #(#names),*))
                        })
                    },
                    #encode_arg,
                    |#input: &[u8]| ::taskref::__private::decode_boxed::<#output>(#input),
                )
            }
        });
    }
    Ok(quote! {
        #block
        #(#registrations)*
    })
}

/// Whether `out` is `Self` or the block's own type.
fn is_self(out: &Type, ty: &Type) -> bool {
    let text = quote!(#out).to_string();
    text == "Self" || text == quote!(#ty).to_string()
}
