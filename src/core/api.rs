//! How built-in functions are declared: name, parameters, return type, the
//! keys an options map takes, and a doc string, so `opsh doc`, `opsh check`
//! and the runtime read them from one place. Registering through here also
//! gives every error a function raises the script position of its call.

use std::any::TypeId;

use rhai::{
    Dynamic, Engine, EvalAltResult, FuncRegistration, Module, NativeCallContext, Position,
    RhaiFunc, RhaiNativeFunc, Shared, Variant,
};

/// A function's name as a runbook calls it: `ec2::launch`, or `confirm`
/// for a global one.
pub fn qualified_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}::{name}")
    }
}

/// A volatile function (never run at compile time) with its documentation.
/// `params` are `name: Type` pairs followed by the return type.
pub fn func(name: &str, params: &[&str], doc: &str) -> Declared {
    declare(name, params.iter().map(ToString::to_string).collect(), doc)
}

/// `func` for a function whose `Map` parameter is an options map taking
/// the keys `options` (the list its body hands to `Options::new`). The keys
/// become the parameter's declared type, `options: #{ key, key }`, which
/// `opsh doc` shows and `opsh check` holds every map literal to.
pub fn func_with_options(name: &str, params: &[&str], options: &[&str], doc: &str) -> Declared {
    let params = params
        .iter()
        .map(|param| match param.split_once(':') {
            Some((name, ty)) if ty.trim() == "Map" => format!("{name}: {}", options_type(options)),
            _ => param.to_string(),
        })
        .collect();
    declare(name, params, doc)
}

fn declare(name: &str, params: Vec<String>, doc: &str) -> Declared {
    let comment = doc
        .lines()
        .map(|line| format!("/// {line}").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    Declared(
        FuncRegistration::new(name)
            .with_params_info(params)
            .with_comments([comment])
            .with_volatility(true)
            .with_purity(false),
    )
}

/// A declared function, ready to register with its body.
pub struct Declared(FuncRegistration);

impl Declared {
    /// Register `body` into `module` (a namespace such as `local::`).
    pub fn set_into_module<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
        self,
        module: &mut Module,
        body: FUNC,
    ) where
        R: Variant + Clone,
        FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
    {
        self.0.set_into_module(module, AtCallSite(body));
    }

    /// Register `body` as a global function or method.
    pub fn register_into_engine<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
        self,
        engine: &mut Engine,
        body: FUNC,
    ) where
        R: Variant + Clone,
        FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
    {
        self.0.register_into_engine(engine, AtCallSite(body));
    }
}

/// A native function body whose errors get the position of the call that
/// raised them. Rhai fills it in for some calls (global functions, methods)
/// but not for namespaced ones (`local::run`), and an error without one
/// cannot say where it happened. Only a position still unset is filled, so
/// the error of a script callback keeps its own.
struct AtCallSite<FUNC>(FUNC);

type NativeBody = dyn Fn(Option<NativeCallContext>, &mut [&mut Dynamic]) -> Result<Dynamic, Box<EvalAltResult>>
    + Send
    + Sync;

impl<A: 'static, const N: usize, const X: bool, R: 'static, const F: bool, FUNC>
    RhaiNativeFunc<A, N, X, R, F> for AtCallSite<FUNC>
where
    FUNC: RhaiNativeFunc<A, N, X, R, F>,
{
    fn into_rhai_function(self, is_pure: bool, is_volatile: bool) -> RhaiFunc {
        match self.0.into_rhai_function(is_pure, is_volatile) {
            RhaiFunc::Pure {
                func,
                has_context,
                is_pure,
                is_volatile,
            } => RhaiFunc::Pure {
                func: at_call_site(func, has_context),
                has_context: true,
                is_pure,
                is_volatile,
            },
            RhaiFunc::Method {
                func,
                has_context,
                is_pure,
                is_volatile,
            } => RhaiFunc::Method {
                func: at_call_site(func, has_context),
                has_context: true,
                is_pure,
                is_volatile,
            },
            other => other,
        }
    }

    fn param_types() -> [TypeId; N] {
        FUNC::param_types()
    }

    fn param_names() -> [&'static str; N] {
        FUNC::param_names()
    }

    fn return_type() -> TypeId {
        FUNC::return_type()
    }

    fn return_type_name() -> &'static str {
        FUNC::return_type_name()
    }
}

/// `body`, asking Rhai for the call context (which holds the call's
/// position) and handing it on only if `body` takes it.
fn at_call_site(body: Shared<NativeBody>, takes_context: bool) -> Shared<NativeBody> {
    Shared::new(
        move |ctx: Option<NativeCallContext>, args: &mut [&mut Dynamic]| {
            let call = ctx
                .as_ref()
                .map_or(Position::NONE, NativeCallContext::call_position);
            body(if takes_context { ctx } else { None }, args).map_err(|mut err| {
                if err.position().is_none() {
                    err.set_position(call);
                }
                err
            })
        },
    )
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

    fn fails() -> Result<(), Box<EvalAltResult>> {
        Err(EvalAltResult::ErrorRuntime("no".into(), Position::NONE).into())
    }

    fn error_position(engine: &Engine, script: &str) -> Position {
        engine.run(script).expect_err("the call fails").position()
    }

    #[test]
    fn a_namespaced_call_fails_at_its_call_site() {
        let mut module = Module::new();
        func("fails", &["()"], "Fails.").set_into_module(&mut module, fails);
        let mut engine = Engine::new();
        engine.register_static_module("m", module.into());
        // Rhai places a namespaced call at its name, after the `m::`.
        assert_eq!(
            error_position(&engine, "let a = 1;\n\n  m::fails();"),
            Position::new(3, 6)
        );
    }

    #[test]
    fn a_body_taking_the_context_still_gets_it() {
        let mut engine = Engine::new();
        func("at", &["String"], "Where it was called.")
            .register_into_engine(&mut engine, |ctx: NativeCallContext| {
                ctx.call_position().to_string()
            });
        func("fails", &["()"], "Fails.").register_into_engine(&mut engine, fails);
        assert_eq!(
            engine.eval::<String>("\n at()").expect("at() runs"),
            "line 2, position 2"
        );
        assert_eq!(error_position(&engine, "\n\n fails()"), Position::new(3, 2));
    }

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
