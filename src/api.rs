//! How built-in functions are declared: name, parameters, return type and a
//! doc string, so `opsh doc` and `opsh check` read them from one place.

use rhai::FuncRegistration;

/// A volatile function (never run at compile time) with its documentation.
/// `params` are `name: Type` pairs followed by the return type.
pub fn func(name: &str, params: &[&str], doc: &str) -> FuncRegistration {
    let comment = doc
        .lines()
        .map(|line| format!("/// {line}").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    FuncRegistration::new(name)
        .with_params_info(params)
        .with_comments([comment])
        .with_volatility(true)
        .with_purity(false)
}
