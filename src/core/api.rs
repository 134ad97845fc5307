//! How built-in functions are declared: name, parameters, return type, the
//! keys an options map takes, and a doc string, once per function for every
//! arity it has, so `opsh doc`, `opsh check` and the runtime's option checks
//! read them from one place. Registering through here also gives every error
//! a function raises the script position of its call.

use std::any::TypeId;
use std::sync::Arc;

use rhai::{
    Dynamic, Engine, EvalAltResult, FnPtr, FuncRegistration, Map, Module, NativeCallContext,
    Position, RhaiFunc, RhaiNativeFunc, Shared, Variant,
};

use crate::core::context::Context;
use crate::core::options::{Options, RhaiResult};

/// A function's name as a runbook calls it: `ec2::launch`, or `confirm`
/// for a global one.
pub fn qualified_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}::{name}")
    }
}

/// Declares built-ins into a module (`ec2::`) or into the engine itself
/// (global functions and methods), handing each body the run's Context.
pub struct Functions<'a> {
    ctx: Arc<Context>,
    namespace: &'static str,
    target: Target<'a>,
}

enum Target<'a> {
    Module(&'a mut Module),
    Engine(&'a mut Engine),
}

/// The module `namespace::`: the functions `declare` adds, registered as one.
pub fn module(
    engine: &mut Engine,
    ctx: &Arc<Context>,
    namespace: &'static str,
    declare: impl FnOnce(&mut Functions),
) {
    let mut module = Module::new();
    declare(&mut Functions {
        ctx: ctx.clone(),
        namespace,
        target: Target::Module(&mut module),
    });
    engine.register_static_module(namespace, module.into());
}

/// Global functions and methods (`confirm`, `host.run`).
pub fn global<'a>(engine: &'a mut Engine, ctx: &Arc<Context>) -> Functions<'a> {
    Functions {
        ctx: ctx.clone(),
        namespace: "",
        target: Target::Engine(engine),
    }
}

impl<'a> Functions<'a> {
    /// Declare `name`: `params` are `name: Type` pairs followed by the
    /// return type, `doc` what `opsh doc` shows. Its body comes next.
    pub fn add(&mut self, name: &'static str, params: &[&str], doc: &str) -> Builtin<'_, 'a> {
        Builtin {
            to: self,
            name,
            params: params.iter().map(ToString::to_string).collect(),
            doc: doc.to_string(),
        }
    }

    /// Register one arity of `name`: volatile (never run at compile time)
    /// and with its documentation.
    fn register<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
        &mut self,
        name: &str,
        params: Vec<String>,
        doc: &str,
        body: FUNC,
    ) where
        R: Variant + Clone,
        FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
    {
        let comment = doc
            .lines()
            .map(|line| format!("/// {line}").trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let registration = FuncRegistration::new(name)
            .with_params_info(params)
            .with_comments([comment])
            .with_volatility(true)
            .with_purity(false);
        match &mut self.target {
            Target::Module(module) => {
                registration.set_into_module(module, AtCallSite(body));
            }
            Target::Engine(engine) => {
                registration.register_into_engine(engine, AtCallSite(body));
            }
        }
    }
}

/// One built-in, declared: what `opsh doc` shows and `opsh check` holds
/// calls to. Its body decides the arities it registers.
pub struct Builtin<'f, 'a> {
    to: &'f mut Functions<'a>,
    name: &'static str,
    params: Vec<String>,
    doc: String,
}

impl Builtin<'_, '_> {
    /// The `Map` parameter `param` takes these keys (a rule, say): the
    /// declared type shows them and `opsh check` holds map literals to them.
    pub fn keys(mut self, param: &str, keys: &[&str]) -> Self {
        for declared in &mut self.params {
            if let Some((name, ty)) = declared.split_once(':')
                && name == param
                && ty.trim() == "Map"
            {
                *declared = format!("{name}: {}", options_type(keys));
            }
        }
        self
    }

    /// A body that takes the Context and the script's arguments.
    pub fn native<A, R, B: Native<A, R>>(self, body: B) {
        body.register(self.to, self.name, self.params, &self.doc);
    }

    /// A body that also takes options: registered without an options map
    /// (it gets none) and with one, its keys checked against `keys`, which
    /// `opsh doc` shows and `opsh check` holds map literals to.
    pub fn options<A, R, B: WithOptions<A, R>>(self, keys: &'static [&'static str], body: B) {
        let with_map = self.with_map(keys);
        body.register(
            self.to,
            self.name,
            Some(self.params),
            with_map,
            &self.doc,
            keys,
        );
    }

    /// A body that calls back into the script: `f(target, options, closure)`
    /// (ssh::rollout). It gets the call's context, through which the
    /// closure is called; registered with and without the options map,
    /// which comes before the closure.
    pub fn callback<R, B>(self, keys: &'static [&'static str], body: B)
    where
        R: Variant + Clone,
        B: Fn(&Context, &NativeCallContext, Dynamic, Options, FnPtr) -> RhaiResult<R>
            + Send
            + Sync
            + 'static,
    {
        let mut with_map = self.params.clone();
        let at = with_map.len().saturating_sub(2);
        with_map.insert(at, format!("options: {}", options_type(keys)));
        let body = Arc::new(body);
        let function = qualified_name(self.to.namespace, self.name);
        let (ctx, plain, name) = (self.to.ctx.clone(), body.clone(), function.clone());
        self.to.register(
            self.name,
            self.params,
            &self.doc,
            move |call: NativeCallContext, target: Dynamic, f: FnPtr| {
                plain(&ctx, &call, target, Options::empty(&name), f)
            },
        );
        let ctx = self.to.ctx.clone();
        self.to.register(
            self.name,
            with_map,
            &self.doc,
            move |call: NativeCallContext, target: Dynamic, map: Map, f: FnPtr| {
                body(&ctx, &call, target, Options::new(&function, map, keys)?, f)
            },
        );
    }

    /// `options`, for a function that needs its options map (ec2::launch).
    pub fn required_options<A, R, B: WithOptions<A, R>>(
        self,
        keys: &'static [&'static str],
        body: B,
    ) {
        let with_map = self.with_map(keys);
        body.register(self.to, self.name, None, with_map, &self.doc, keys);
    }

    /// The parameters with the options map before the return type.
    fn with_map(&self, keys: &[&str]) -> Vec<String> {
        let mut params = self.params.clone();
        let at = params.len().saturating_sub(1);
        params.insert(at, format!("options: {}", options_type(keys)));
        params
    }
}

/// Marks a method's object, which the body takes by reference (`host` in
/// `host.run(..)`). Not Clone, so it is never an argument by value.
pub struct This<T>(T);

/// A body without options: `Fn(&Context, args..) -> RhaiResult<R>`, the
/// first argument a `&mut T` for a method.
pub trait Native<A, R> {
    fn register(self, to: &mut Functions, name: &str, params: Vec<String>, doc: &str);
}

/// A body with options: `Fn(&Context, args.., Options) -> RhaiResult<R>`.
pub trait WithOptions<A, R> {
    fn register(
        self,
        to: &mut Functions,
        name: &str,
        plain: Option<Vec<String>>,
        with_map: Vec<String>,
        doc: &str,
        keys: &'static [&'static str],
    );
}

/// The impls of Native and WithOptions for bodies of up to three script
/// arguments, each as a function and as a method (`[this]`).
macro_rules! bodies {
    ($($arg:ident: $ty:ident),*) => {
        bodies!(@impl [] [] []; $($arg: $ty),*);
        bodies!(@impl [T] [This<T>] [this: &mut T]; $($arg: $ty),*);
    };
    (@impl [$($t:ident)?] [$($marker:ty)?] [$($this:ident: $this_ty:ty)?]; $($arg:ident: $ty:ident),*) => {
        impl<FUNC, R, $($t,)? $($ty),*> Native<($($marker,)? $($ty,)*), R> for FUNC
        where
            FUNC: Fn(&Context, $($this_ty,)? $($ty),*) -> RhaiResult<R> + Send + Sync + 'static,
            R: Variant + Clone,
            $($t: Variant + Clone,)?
            $($ty: Variant + Clone,)*
        {
            fn register(self, to: &mut Functions, name: &str, params: Vec<String>, doc: &str) {
                let ctx = to.ctx.clone();
                to.register(name, params, doc, move |$($this: $this_ty,)? $($arg: $ty),*| {
                    self(&ctx, $($this,)? $($arg),*)
                });
            }
        }

        impl<FUNC, R, $($t,)? $($ty),*> WithOptions<($($marker,)? $($ty,)*), R> for FUNC
        where
            FUNC: Fn(&Context, $($this_ty,)? $($ty,)* Options) -> RhaiResult<R> + Send + Sync + 'static,
            R: Variant + Clone,
            $($t: Variant + Clone,)?
            $($ty: Variant + Clone,)*
        {
            fn register(
                self,
                to: &mut Functions,
                name: &str,
                plain: Option<Vec<String>>,
                with_map: Vec<String>,
                doc: &str,
                keys: &'static [&'static str],
            ) {
                let body = Arc::new(self);
                let function = qualified_name(to.namespace, name);
                if let Some(params) = plain {
                    let (ctx, body, function) = (to.ctx.clone(), body.clone(), function.clone());
                    to.register(name, params, doc, move |$($this: $this_ty,)? $($arg: $ty),*| {
                        body(&ctx, $($this,)? $($arg,)* Options::empty(&function))
                    });
                }
                let ctx = to.ctx.clone();
                to.register(name, with_map, doc, move |$($this: $this_ty,)? $($arg: $ty,)* map: Map| {
                    body(&ctx, $($this,)? $($arg,)* Options::new(&function, map, keys)?)
                });
            }
        }
    };
}

bodies!();
bodies!(a: A);
bodies!(a: A, b: B);
bodies!(a: A, b: B, c: C);

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
    use crate::core::failure::describe;

    fn fails() -> Result<(), Box<EvalAltResult>> {
        Err(EvalAltResult::ErrorRuntime("no".into(), Position::NONE).into())
    }

    fn error_position(engine: &Engine, script: &str) -> Position {
        engine.run(script).expect_err("the call fails").position()
    }

    #[test]
    fn a_namespaced_call_fails_at_its_call_site() {
        let mut module = Module::new();
        FuncRegistration::new("fails").set_into_module(&mut module, AtCallSite(fails));
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
        FuncRegistration::new("at").register_into_engine(
            &mut engine,
            AtCallSite(|ctx: NativeCallContext| ctx.call_position().to_string()),
        );
        FuncRegistration::new("fails").register_into_engine(&mut engine, AtCallSite(fails));
        assert_eq!(
            engine.eval::<String>("\n at()").expect("at() runs"),
            "line 2, position 2"
        );
        assert_eq!(error_position(&engine, "\n\n fails()"), Position::new(3, 2));
    }

    #[test]
    fn one_declaration_registers_both_arities_and_checks_the_keys() {
        let mut engine = Engine::new();
        let ctx = Context::for_tests();
        module(&mut engine, &ctx, "m", |m| {
            m.add("f", &["x: int", "String"], "Echo.")
                .options(&["a"], |_: &Context, x: rhai::INT, opts: Options| {
                    Ok(format!("{x} {:?}", opts.int("a")?))
                });
        });
        let run = |script: &str| engine.eval::<String>(script).map_err(|e| describe(&e));
        assert_eq!(run("m::f(1)"), Ok("1 None".to_string()));
        assert_eq!(run("m::f(1, #{ a: 2 })"), Ok("1 Some(2)".to_string()));
        let err = run("m::f(1, #{ b: 2 })").unwrap_err();
        assert!(
            err.contains("m::f: unknown option `b`; expected one of: a"),
            "{err}"
        );
        let mut declared: Vec<String> = engine.collect_fn_metadata(
            None,
            |info| (info.namespace == "m").then(|| info.metadata.params_info.join(", ")),
            true,
        );
        declared.sort();
        assert_eq!(declared, ["x: int", "x: int, options: #{ a }"]);
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
