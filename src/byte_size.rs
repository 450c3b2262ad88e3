//! Parses the human sizes that `--memory-limit` takes (`512M`, `4G`, `1.5GiB`, `1073741824`),
//! and prints sizes back the same way in messages.

use crate::error::{Error, Result};

/// Binary multiples: `4G` is 4 GiB, as memory limits are usually meant.
pub fn parse_byte_size(text: &str) -> Result<usize> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        Error::usage(format!(
            "invalid size '{text}': expected a number with an optional unit, e.g. 512M or 4G"
        ))
    })?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(Error::usage(format!(
                "invalid size '{text}': unknown unit '{other}' (use K, M, G or T)"
            )));
        }
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(Error::usage(format!(
            "invalid size '{text}': must be at least one byte"
        )));
    }
    Ok(bytes as usize)
}

/// `1536` -> `1.5 KiB`: binary units, like the ones `parse_byte_size` reads.
pub fn format_byte_size(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::{format_byte_size, parse_byte_size};

    #[test]
    fn formats_units() {
        assert_eq!(format_byte_size(100), "100 B");
        assert_eq!(format_byte_size(1536), "1.5 KiB");
        assert_eq!(format_byte_size(4 << 30), "4.0 GiB");
    }

    #[test]
    fn parses_units() {
        assert_eq!(parse_byte_size("1024").unwrap(), 1024);
        assert_eq!(parse_byte_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_byte_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_byte_size("1.5GiB").unwrap(), 3 << 29);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "G", "4X", "-1G", "0"] {
            let err = parse_byte_size(bad).unwrap_err().to_string();
            assert!(err.contains("invalid size"), "{bad}: {err}");
        }
    }
}
