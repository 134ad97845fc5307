//! The value types runbooks hold (Instance, Volume, Result, Host...),
//! declared once with `record!`: their fields are their read-only
//! properties in scripts and their JSON, and the declaration names the
//! table row each one is when a list of them is shown.

use std::collections::BTreeMap;

use rhai::{Array, Dynamic, ImmutableString, Map};

/// A value type of a domain: JSON by its fields, and a table row each when
/// a list of them is shown. `record!` implements it.
pub trait Record: serde::Serialize + Clone + Send + Sync + 'static {
    /// The type and its fields, for `opsh doc TYPE`.
    fn type_doc() -> TypeDoc;

    /// Add the type to `engine`: its name, a getter per field (with the
    /// field's type and doc as the getter's metadata), `to_string`, `to_debug`.
    fn register(engine: &mut rhai::Engine);

    /// Column names with this record's values, for tables.
    fn row(&self) -> Vec<(&'static str, String)>;

    /// How one such value reads in text mode, if not as its JSON.
    fn text(&self) -> Option<String> {
        None
    }
}

/// A type a runbook can hold, as `opsh doc` describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TypeDoc {
    pub name: String,
    pub doc: String,
    pub fields: Vec<FieldDoc>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldDoc {
    pub name: String,
    /// As a reader says it: `String or ()`, `Array of String`.
    #[serde(rename = "type")]
    pub ty: String,
    pub doc: String,
}

impl FieldDoc {
    pub fn new(name: &str, ty: &str, doc: &str) -> Self {
        Self {
            name: name.into(),
            ty: ty.into(),
            doc: doc.into(),
        }
    }
}

/// A doc comment's lines (`#[doc]` texts) as one paragraph.
pub fn doc_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Register the read-only property `field` of `T`.
pub fn getter<T: rhai::Variant + Clone, R: rhai::Variant + Clone>(
    engine: &mut rhai::Engine,
    field: &FieldDoc,
    get: impl Fn(&mut T) -> R + Send + Sync + 'static,
) {
    engine.register_get(&field.name, get);
}

/// How a field's Rust type reads in scripts.
pub trait ScriptType {
    fn described() -> String;
}

impl ScriptType for String {
    fn described() -> String {
        "String".into()
    }
}

impl ScriptType for ImmutableString {
    fn described() -> String {
        "String".into()
    }
}

impl ScriptType for i64 {
    fn described() -> String {
        "int".into()
    }
}

impl ScriptType for u16 {
    fn described() -> String {
        "int".into()
    }
}

impl ScriptType for bool {
    fn described() -> String {
        "bool".into()
    }
}

impl<T: ScriptType> ScriptType for Option<T> {
    fn described() -> String {
        format!("{} or ()", T::described())
    }
}

impl<T: ScriptType> ScriptType for Vec<T> {
    fn described() -> String {
        format!("Array of {}", T::described())
    }
}

impl ScriptType for BTreeMap<String, String> {
    fn described() -> String {
        "Map of String".into()
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
/// (a field `as "name"` is called that in scripts and JSON; every field has
/// a doc comment, which `opsh doc Name` shows), optionally
/// `hidden { fields }` (Rust's alone: neither a property nor JSON), then
/// `row(x) [ "column" => cell, .. ]`; optionally `text(x) => text;` for how
/// one reads in text mode (else as its JSON) and `debug(x) => text;` for
/// `to_debug` (else it is the Display, as `to_string` is).
macro_rules! record {
    (
        $(#[$($meta:tt)*])*
        $vis:vis struct $type:ident as $script:literal {
            $(
                $(#[$($field_attr:tt)*])*
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
        $(#[$($meta)*])*
        #[derive(Debug, Clone, serde::Serialize)]
        $vis struct $type {
            $(
                $(#[$($field_attr)*])*
                $(#[serde(rename = $field_name)])?
                $field_vis $field: $field_type,
            )*
            $($(
                $(#[$hidden_meta])*
                #[serde(skip)]
                $hidden_vis $hidden: $hidden_type,
            )*)?
        }

        impl $crate::core::record::Record for $type {
            fn type_doc() -> $crate::core::record::TypeDoc {
                $crate::core::record::TypeDoc {
                    name: $script.to_string(),
                    doc: $crate::core::record::record!(@doc [] $(#[$($meta)*])*),
                    fields: vec![$(
                        $crate::core::record::FieldDoc {
                            name: [$($field_name,)? stringify!($field)][0].to_string(),
                            ty: <$field_type as $crate::core::record::ScriptType>::described(),
                            doc: $crate::core::record::record!(@doc [] $(#[$($field_attr)*])*),
                        },
                    )*],
                }
            }

            fn register(engine: &mut rhai::Engine) {
                engine.register_type_with_name::<Self>($script);
                let doc = <Self as $crate::core::record::Record>::type_doc();
                let mut fields = doc.fields.iter();
                $(
                    if let Some(field) = fields.next() {
                        $crate::core::record::getter(engine, field, |x: &mut Self| {
                            $crate::core::record::ToScript::to_script(&x.$field)
                        });
                    }
                )*
                engine.register_fn("to_string", |x: &mut Self| x.to_string());
                engine.register_fn("to_debug", |x: &mut Self| {
                    $crate::core::record::record!(@debug x $($debug $debug_text)?)
                });
            }

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
    (@doc [$($line:literal)*]) => {
        $crate::core::record::doc_text(&[$($line),*])
    };
    (@doc [$($line:literal)*] #[doc = $next:literal] $($rest:tt)*) => {
        $crate::core::record::record!(@doc [$($line)* $next] $($rest)*)
    };
    (@doc [$($line:literal)*] #[$($other:tt)*] $($rest:tt)*) => {
        $crate::core::record::record!(@doc [$($line)*] $($rest)*)
    };
    (@debug $x:ident) => { $x.to_string() };
    (@debug $x:ident $debug:ident $text:expr) => {{
        let $debug = &*$x;
        $text
    }};
}
pub(crate) use record;
