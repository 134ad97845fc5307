//! The text of every script loaded in this run, by source name, so an error
//! can quote the line it happened on; and the one way a script file is read.

use std::collections::HashMap;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub struct Sources {
    texts: HashMap<String, String>,
}

impl Sources {
    pub fn insert(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.texts.insert(name.into(), text.into());
    }

    pub fn line(&self, name: &str, line: usize) -> Option<&str> {
        self.texts.get(name)?.lines().nth(line.checked_sub(1)?)
    }
}

/// The text of the script file at `path`. Anything but a regular file (a
/// directory, a fifo, a device such as /dev/zero) is refused before it is
/// opened: opening a fifo blocks, and a device may never end.
pub fn read_script(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a named pipe (fifo)"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!("{shown} is {what}, not a regular file"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.rhai");
        std::fs::write(&file, "1").unwrap();
        assert_eq!(read_script(&file).unwrap(), "1");
        assert!(
            read_script(dir.path())
                .unwrap_err()
                .contains("is a directory")
        );
        assert!(
            read_script(Path::new("/dev/zero"))
                .unwrap_err()
                .contains("is a device")
        );
        assert!(read_script(&dir.path().join("missing")).is_err());
    }
}
