//! Text for a terminal: times, expiries and aligned columns.

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};

pub(crate) fn minutes_left(expires_at: i64, now: i64) -> i64 {
    (expires_at - now).div_euclid(60)
}

/// Unix seconds as an RFC 3339 UTC time.
pub fn utc(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

pub(crate) fn expiry(expires_at: Option<i64>, minutes_left: Option<i64>) -> (String, String) {
    match (expires_at, minutes_left) {
        (Some(at), Some(left)) if left >= 0 => (utc(at), format!("{left} min")),
        (Some(at), _) => (utc(at), "expired".into()),
        _ => ("-".into(), "-".into()),
    }
}

/// Terminal columns of `text`: CJK and full-width characters take two.
pub(crate) fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// Rows as aligned columns, two spaces apart; the last column is not padded.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| display_width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - display_width(cell) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_wide_characters() {
        let rows = vec![
            vec!["A".to_owned(), "B".to_owned(), "C".to_owned()],
            vec!["晨读小站".to_owned(), "x".to_owned(), "y".to_owned()],
        ];
        assert_eq!(table(&rows), "A         B  C\n晨读小站  x  y\n");
        assert_eq!(display_width("晨读ab"), 6);
    }

    #[test]
    fn times_and_expiry_read_naturally() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(minutes_left(1_000 + 7_199, 1_000), 119);
        assert_eq!(minutes_left(1_000, 1_001), -1);
        assert_eq!(
            expiry(Some(60), Some(-1)),
            ("1970-01-01T00:01:00Z".into(), "expired".into())
        );
        assert_eq!(expiry(None, None), ("-".into(), "-".into()));
    }
}
