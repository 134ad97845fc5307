//! The Rhai helpers in stdlib/, embedded so the binary works from any
//! directory. Their functions are global in every runbook.

pub struct StdlibFile {
    /// The name errors and `import` use, e.g. `stdlib/util.rhai`.
    pub source: &'static str,
    pub text: &'static str,
}

macro_rules! stdlib {
    ($($name:literal),* $(,)?) => {
        &[$(StdlibFile {
            source: concat!("stdlib/", $name, ".rhai"),
            text: include_str!(concat!("../../stdlib/", $name, ".rhai")),
        }),*]
    };
}

pub const FILES: &[StdlibFile] = stdlib![
    "util", "node", "packages", "files", "postgres", "deploy", "volumes"
];

/// The stdlib file `import "util"` or `import "stdlib/util"` names.
pub fn find(path: &str) -> Option<&'static StdlibFile> {
    let name = path.strip_prefix("stdlib/").unwrap_or(path);
    let name = name.strip_suffix(".rhai").unwrap_or(name);
    FILES
        .iter()
        .find(|f| f.source == format!("stdlib/{name}.rhai"))
}
