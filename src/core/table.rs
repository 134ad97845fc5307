//! Tables as every command draws them: a header, a rule under it, one line
//! per row. A row never wraps (a wrapped cell could split a secret across
//! lines, and a listing should stay one line per item): cells that do not fit
//! the terminal are cut with "…", and `--output json` keeps full values.

use std::io::IsTerminal;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

const GAP: &str = "  ";
/// No column is cut narrower than this (or its header).
const MIN_COLUMN: usize = 6;

/// The rows under `header`, fitted to `width` columns when given.
pub fn render(header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    if let Some(width) = width {
        fit(&mut widths, header, width);
    }
    let mut out = String::new();
    line(&mut out, header.iter().copied(), &widths);
    let rules: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    line(&mut out, rules.iter().map(String::as_str), &widths);
    for row in &cells {
        line(&mut out, row.iter().map(String::as_str), &widths);
    }
    out
}

/// The width tables fit on standard output: the terminal's, else
/// `$COLUMNS`, else none (a pipe gets whole cells).
pub fn stdout_width() -> Option<usize> {
    if std::io::stdout().is_terminal() {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize into the one it is given.
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
        if ok && size.ws_col > 0 {
            return Some(usize::from(size.ws_col));
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
}

/// Line breaks and tabs inside a cell read as spaces.
fn one_line(cell: &str) -> String {
    cell.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Narrow the widest columns until the line fits `width`, as far as the
/// minimum widths allow.
fn fit(widths: &mut [usize], header: &[&str], width: usize) {
    let gaps = GAP.len().saturating_mul(widths.len().saturating_sub(1));
    let floor: Vec<usize> = widths
        .iter()
        .zip(header)
        .map(|(w, h)| (*w).min(h.width().max(MIN_COLUMN)))
        .collect();
    let mut total = widths.iter().sum::<usize>().saturating_add(gaps);
    while total > width {
        let Some((widest, _)) = widths
            .iter()
            .enumerate()
            .filter(|(i, w)| **w > floor[*i])
            .max_by_key(|(i, w)| (**w, std::cmp::Reverse(*i)))
        else {
            break;
        };
        widths[widest] -= 1;
        total -= 1;
    }
}

fn line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>, widths: &[usize]) {
    let mut text = String::new();
    for (i, (cell, width)) in cells.zip(widths).enumerate() {
        if i > 0 {
            text.push_str(GAP);
        }
        let cell = cut(cell, *width);
        let pad = width.saturating_sub(cell.width());
        text.push_str(&cell);
        text.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

/// `cell` in at most `width` columns, "…" marking a cut.
fn cut(cell: &str, width: usize) -> String {
    if cell.width() <= width {
        return cell.to_string();
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in cell.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    kept.push('…');
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
        cells
            .iter()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect()
    }

    #[test]
    fn a_rule_under_the_header_only() {
        let table = render(
            &["id", "state"],
            &rows(&[&["i-1", "running"], &["i-22", "stopped"]]),
            None,
        );
        assert_eq!(
            table,
            "id    state\n────  ───────\ni-1   running\ni-22  stopped\n"
        );
    }

    #[test]
    fn long_cells_are_cut_to_fit_and_short_ones_kept() {
        let long = "x".repeat(200);
        let table = render(&["id", "error"], &rows(&[&["i-1", &long]]), Some(40));
        for line in table.lines() {
            assert!(line.width() <= 40, "{line:?} is wider than 40");
        }
        assert!(table.contains("i-1  xxx"), "{table}");
        assert!(
            table.lines().nth(2).is_some_and(|l| l.ends_with('…')),
            "{table}"
        );
    }

    #[test]
    fn a_cell_never_wraps() {
        let table = render(&["out"], &rows(&[&["one\ntwo"]]), None);
        assert_eq!(table, "out\n───────\none two\n");
    }

    #[test]
    fn wide_characters_count_twice() {
        assert_eq!(cut("日本語テキスト", 7), "日本語…");
    }

    #[test]
    fn too_narrow_a_terminal_keeps_the_minimum() {
        let table = render(
            &["name", "value"],
            &rows(&[&["abcdefghij", "klmnopqrst"]]),
            Some(5),
        );
        assert!(table.contains("abcde…"), "{table}");
    }
}
