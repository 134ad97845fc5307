//! The value types runbooks hold (Instance, Volume, Result, Host...),
//! declared once with `record!`: their fields are their read-only
//! properties in scripts and their JSON, and the declaration names the
//! table row each one is when a list of them is shown.

use std::collections::BTreeMap;

use rhai::{Array, Dynamic, ImmutableString, Map};

/// A value type of a domain: JSON by its fields, and a table row each when
/// a list of them is shown. `record!` implements it.
pub trait Record: serde::Serialize + Clone + Send + Sync + 'static {
    /// Column names with this record's values, for tables.
    fn row(&self) -> Vec<(&'static str, String)>;

    /// How one such value reads in text mode, if not as its JSON.
    fn text(&self) -> Option<String> {
        None
    }
}

/// A field as a script reads it: absent values as `()`, tags as a map.
pub trait ToScript {
    fn to_script(&self) -> Dynamic;
}

impl ToScript for String {
    fn to_script(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }
}

impl ToScript for ImmutableString {
    fn to_script(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }
}

impl ToScript for i64 {
    fn to_script(&self) -> Dynamic {
        Dynamic::from(*self)
    }
}

impl ToScript for u16 {
    fn to_script(&self) -> Dynamic {
        Dynamic::from(rhai::INT::from(*self))
    }
}

impl ToScript for bool {
    fn to_script(&self) -> Dynamic {
        Dynamic::from(*self)
    }
}

impl<T: ToScript> ToScript for Option<T> {
    fn to_script(&self) -> Dynamic {
        self.as_ref().map_or(Dynamic::UNIT, ToScript::to_script)
    }
}

impl<T: ToScript> ToScript for Vec<T> {
    fn to_script(&self) -> Dynamic {
        Dynamic::from_array(self.iter().map(ToScript::to_script).collect::<Array>())
    }
}

impl ToScript for BTreeMap<String, String> {
    fn to_script(&self) -> Dynamic {
        Dynamic::from_map(
            self.iter()
                .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
                .collect::<Map>(),
        )
    }
}

/// Declares a record type once: `struct Name as "ScriptName" { fields }`
/// (a field `as "name"` is called that in scripts and JSON), optionally
/// `hidden { fields }` (Rust's alone: neither a property nor JSON), then
/// `row(x) [ "column" => cell, .. ]`; optionally `text(x) => text;` for how
/// one reads in text mode (else as its JSON) and `debug(x) => text;` for
/// `to_debug` (else it is the Display, as `to_string` is).
macro_rules! record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $type:ident as $script:literal {
            $(
                $(#[$field_meta:meta])*
                $field_vis:vis $field:ident: $field_type:ty $(as $field_name:literal)?
            ),* $(,)?
        }
        $(hidden {
            $(
                $(#[$hidden_meta:meta])*
                $hidden_vis:vis $hidden:ident: $hidden_type:ty
            ),* $(,)?
        })?
        row($row:ident) [ $($column:literal => $cell:expr),* $(,)? ]
        $(text($text_of:ident) => $text:expr;)?
        $(debug($debug:ident) => $debug_text:expr;)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Serialize)]
        $vis struct $type {
            $(
                $(#[$field_meta])*
                $(#[serde(rename = $field_name)])?
                $field_vis $field: $field_type,
            )*
            $($(
                $(#[$hidden_meta])*
                #[serde(skip)]
                $hidden_vis $hidden: $hidden_type,
            )*)?
        }

        impl rhai::CustomType for $type {
            fn build(mut builder: rhai::TypeBuilder<Self>) {
                builder.with_name($script);
                $(
                    builder.with_get([$($field_name,)? stringify!($field)][0], |x: &mut Self| {
                        $crate::core::record::ToScript::to_script(&x.$field)
                    });
                )*
                builder.with_fn("to_string", |x: &mut Self| x.to_string());
                builder.with_fn("to_debug", |x: &mut Self| {
                    $crate::core::record::record!(@debug x $($debug $debug_text)?)
                });
            }
        }

        impl $crate::core::record::Record for $type {
            fn row(&self) -> Vec<(&'static str, String)> {
                let $row = self;
                vec![$(($column, $cell)),*]
            }

            $(fn text(&self) -> Option<String> {
                let $text_of = self;
                Some($text)
            })?
        }
    };
    (@debug $x:ident) => { $x.to_string() };
    (@debug $x:ident $debug:ident $text:expr) => {{
        let $debug = &*$x;
        $text
    }};
}
pub(crate) use record;
