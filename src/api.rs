//! How built-in functions are declared: name, parameters, return type, the
//! keys an options map takes, and a doc string, so `opsh doc`, `opsh check`
//! and the runtime read them from one place.

use rhai::FuncRegistration;

/// A volatile function (never run at compile time) with its documentation.
/// `params` are `name: Type` pairs followed by the return type.
pub fn func(name: &str, params: &[&str], doc: &str) -> FuncRegistration {
    declare(name, params.iter().map(ToString::to_string).collect(), doc)
}

/// `func` for a function whose `Map` parameter is an options map taking
/// the keys `options` (the list its body hands to `Options::new`). The keys
/// become the parameter's declared type, `options: #{ key, key }`, which
/// `opsh doc` shows and `opsh check` holds every map literal to.
pub fn func_with_options(
    name: &str,
    params: &[&str],
    options: &[&str],
    doc: &str,
) -> FuncRegistration {
    let params = params
        .iter()
        .map(|param| match param.split_once(':') {
            Some((name, ty)) if ty.trim() == "Map" => format!("{name}: {}", options_type(options)),
            _ => param.to_string(),
        })
        .collect();
    declare(name, params, doc)
}

fn declare(name: &str, params: Vec<String>, doc: &str) -> FuncRegistration {
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

fn options_type(options: &[&str]) -> String {
    format!("#{{ {} }}", options.join(", "))
}

/// The option keys a declared parameter (`name: Type`, as `opsh doc` shows
/// it) takes, if it is an options map.
pub fn declared_options(param: &str) -> Option<Vec<&str>> {
    let (_, ty) = param.split_once(':')?;
    let keys = ty.trim().strip_prefix("#{")?.strip_suffix('}')?;
    Some(
        keys.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_keys_round_trip_through_the_declared_type() {
        let param = format!("options: {}", options_type(&["tags", "state"]));
        assert_eq!(param, "options: #{ tags, state }");
        assert_eq!(declared_options(&param), Some(vec!["tags", "state"]));
        assert_eq!(declared_options("options: #{  }"), Some(vec![]));
        assert_eq!(declared_options("tags: Map"), None);
        assert_eq!(declared_options("Array"), None);
    }
}
