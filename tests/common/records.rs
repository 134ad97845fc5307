//! What the lab hosts recorded during one test. The lab keeps each host's
//! records.log across tests and runs, so a test takes a mark when it starts
//! and looks only at the records added after it:
//!
//! ```ignore
//! let mark = RecordsMark::now();
//! /* run opsh */
//! let records = mark.since(&lab::host_dir("lab-8"));
//! assert!(records.iter().any(|r| r.tool == "sudo" && r.user == "postgres"), "{records:#?}");
//! ```
//!
//! Tests in one binary run in parallel: a host another test also uses may
//! carry its records too, so a test still looks for its own unique names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::lab::lab;

/// One stand-in call: `tool<TAB>effective-user<TAB>args` in records.log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub tool: String,
    /// `opsh-lab`, or whom `sudo` ran the tool as.
    pub user: String,
    /// The arguments, shell-quoted and joined by spaces.
    pub args: String,
}

impl Record {
    fn parse(line: &str) -> Self {
        let mut fields = line.splitn(3, '\t');
        let mut next = || fields.next().unwrap_or_default().to_string();
        Self {
            tool: next(),
            user: next(),
            args: next(),
        }
    }
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\t{}\t{}", self.tool, self.user, self.args)
    }
}

/// Where every lab host's records.log ended when the mark was taken.
pub struct RecordsMark {
    ends: BTreeMap<PathBuf, u64>,
}

impl RecordsMark {
    /// Mark every lab host (the lab is started first if need be).
    pub fn now() -> Self {
        let hosts = PathBuf::from(lab().var("OPSH_LAB_DIR")).join("hosts");
        let ends = std::fs::read_dir(&hosts)
            .unwrap_or_else(|e| panic!("{}: {e}", hosts.display()))
            .filter_map(|entry| {
                let dir = entry.ok()?.path();
                let len = std::fs::metadata(dir.join("records.log")).ok()?.len();
                Some((dir, len))
            })
            .collect();
        Self { ends }
    }

    /// The records the host kept in `host_dir` added since the mark, oldest
    /// first. A log shorter than at the mark was emptied (`scripts/lab
    /// reset`): all of it is new.
    pub fn since(&self, host_dir: &Path) -> Vec<Record> {
        let path = host_dir.join("records.log");
        let log = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let end = self.ends.get(host_dir).copied().unwrap_or(0);
        let start = usize::try_from(end)
            .ok()
            .filter(|&start| start <= log.len())
            .unwrap_or(0);
        String::from_utf8_lossy(&log[start..])
            .lines()
            .map(Record::parse)
            .collect()
    }
}
