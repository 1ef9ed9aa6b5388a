//! Aligned text tables for human output: a header row, columns padded to
//! their widest cell and two spaces apart; the last column is not padded,
//! so a row is as long as its content.

/// Renders `header` and `rows` as aligned lines, each ending in `\n`.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A list of broker ids as `1,2,3` (`-` when empty).
pub fn ids(ids: &[i32]) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// A byte count in B, KiB, MiB or GiB.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_end_at_their_content() {
        let out = render(
            &["TOPIC", "PARTITION", "LEADER"],
            &[
                vec!["a-long-topic".into(), "0".into(), "1".into()],
                vec!["b".into(), "12".into(), "-".into()],
            ],
        );
        assert_eq!(
            out,
            "TOPIC         PARTITION  LEADER\n\
             a-long-topic  0          1\n\
             b             12         -\n"
        );
        assert_eq!(ids(&[3, 1]), "3,1");
        assert_eq!(ids(&[]), "-");
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
