//! Parsing Docker's human units: `--memory 512m`, `--cpus 1.5`.
//!
//! Docker (go-units `RAMInBytes`) accepts an optionally fractional number
//! followed by `b`, `k`, `m`, `g`, `t` or `p`, optionally followed by `b`,
//! case-insensitive, with binary (1024) multiples.

/// Parses a memory size such as `512m`, `1.5g`, `1048576` into bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    if number.is_empty() {
        return Err("expected a number optionally followed by b, k, m, g, t or p".into());
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    let shift = match unit.strip_suffix('b').unwrap_or(unit) {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ if unit == "b" => 0,
        _ => return Err(format!("unknown unit {unit:?}: use b, k, m, g, t or p")),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err("too large".into());
    }
    Ok(bytes as u64)
}

/// Parses `--cpus` (a positive decimal number of CPUs) into nano-CPUs.
pub fn parse_cpus(text: &str) -> Result<u64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a decimal number"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err("must be a positive number of CPUs".into());
    }
    Ok((value * 1e9).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("10k").unwrap(), 10 << 10);
        assert_eq!(parse_bytes("7b").unwrap(), 7);
        for bad in ["10q", "", "m", "1.2.3m", "-5m", "5 mb x"] {
            assert!(parse_bytes(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("0.01").unwrap(), 10_000_000);
        for bad in ["0", "-1", "x", "nan", "inf"] {
            assert!(parse_cpus(bad).is_err(), "{bad} should be refused");
        }
    }
}
