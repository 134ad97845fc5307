//! The lab (moto + an sshd fleet on loopback) for tests that need AWS or SSH.
//! `scripts/lab up` is idempotent: the first test to need it starts it, and
//! later tests and test binaries reuse it. A lab that cannot start fails the
//! test loudly; it is never skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Lab {
    pub env: BTreeMap<String, String>,
}

impl Lab {
    pub fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("`scripts/lab env --json` has no {key}"))
    }

    pub fn ssh_config(&self) -> PathBuf {
        PathBuf::from(self.var("OPSH_SSH_CONFIG"))
    }

    /// The port every lab host's sshd listens on.
    pub fn ssh_port(&self) -> &str {
        self.var("OPSH_LAB_SSH_PORT")
    }

    /// The lab venv's python (it has boto3), not whatever python3 is on PATH.
    pub fn python(&self) -> PathBuf {
        PathBuf::from(self.var("OPSH_LAB_VENV")).join("bin/python")
    }
}

/// The state directory of lab host `name` ("lab-3"): what its machine holds.
pub fn host_dir(name: &str) -> PathBuf {
    PathBuf::from(lab().var("OPSH_LAB_DIR"))
        .join("hosts")
        .join(name)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/lab")
}

pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let status = Command::new(script())
            .arg("up")
            .status()
            .expect("run scripts/lab up");
        assert!(
            status.success(),
            "scripts/lab up failed ({status}); see its output above"
        );
        let out = Command::new(script())
            .args(["env", "--json"])
            .output()
            .expect("run scripts/lab env --json");
        assert!(
            out.status.success(),
            "scripts/lab env --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env: BTreeMap<String, String> = serde_json::from_slice(&out.stdout)
            .expect("scripts/lab env --json prints a JSON object of strings");
        Lab { env }
    })
}

/// A name no other test (or earlier run) uses, for tags and resource names.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000
    )
}

impl super::Test {
    /// Point opsh at the lab: AWS endpoint, credentials, region, ssh_config.
    pub fn lab(mut self) -> Self {
        for (key, value) in &lab().env {
            self = self.env(key, value);
        }
        self
    }
}
