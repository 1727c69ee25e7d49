//! Amounts as bitcoind shows and reads them: coins with 8 decimals.

use kestrel_interfaces::{Amount, COIN};

/// Most coins an amount may hold (bitcoind's MAX_MONEY).
pub const MAX_MONEY: Amount = 21_000_000 * COIN;

const DECIMALS: i32 = 8;

/// `-1.5` coins for -150000000 base units, always with 8 decimals.
pub fn format_amount(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    format!("{sign}{}.{:08}", abs / COIN, abs % COIN)
}

/// The JSON number for an amount. It is written with 8 decimals by
/// [`crate::json`], which is why every float the RPC emits is an amount.
pub fn amount_to_json(units: i64) -> serde_json::Value {
    // Exact: |units| <= MAX_MONEY < 2^53, and dividing by 1e8 rounds to the
    // nearest double, which prints back as the same 8 decimals.
    serde_json::Value::from(units as f64 / COIN as f64)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("Invalid amount")]
    Malformed,
    #[error("Invalid amount: more than 8 decimal places")]
    TooPrecise,
    #[error("Amount out of range")]
    OutOfRange,
}

/// Parses a decimal number of coins (`1`, `0.5`, `1e-8`, `"2.00000000"`)
/// into base units, exactly, as bitcoind's ParseFixedPoint does.
pub fn parse_amount(text: &str) -> Result<Amount, AmountError> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().map_err(|_| AmountError::Malformed)?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(AmountError::Malformed);
    }
    // The number is digits * 10^(exponent - frac_len); base units are that
    // times 10^8.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(exponent) - frac_part.len() as i64 + i64::from(DECIMALS);
    let units = if digits.is_empty() {
        0
    } else if shift >= 0 {
        if digits.len() as i64 + shift > 17 {
            return Err(AmountError::OutOfRange);
        }
        digits.parse::<u64>().map_err(|_| AmountError::OutOfRange)? * 10u64.pow(shift as u32)
    } else {
        let drop = (-shift) as usize;
        let (kept, dropped) = digits.split_at(digits.len().saturating_sub(drop));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(AmountError::TooPrecise);
        }
        if kept.len() > 17 {
            return Err(AmountError::OutOfRange);
        }
        if kept.is_empty() {
            0
        } else {
            kept.parse::<u64>().map_err(|_| AmountError::OutOfRange)?
        }
    };
    if negative && units != 0 {
        return Err(AmountError::OutOfRange);
    }
    if units > MAX_MONEY {
        return Err(AmountError::OutOfRange);
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_eight_decimals() {
        assert_eq!(format_amount(0), "0.00000000");
        assert_eq!(format_amount(50 * COIN as i64), "50.00000000");
        assert_eq!(format_amount(1), "0.00000001");
        assert_eq!(format_amount(-150_000_000), "-1.50000000");
        assert_eq!(format_amount(MAX_MONEY as i64), "21000000.00000000");
    }

    #[test]
    fn parses_decimal_forms_exactly() {
        assert_eq!(parse_amount("1"), Ok(COIN));
        assert_eq!(parse_amount("0.1"), Ok(10_000_000));
        assert_eq!(parse_amount(".5"), Ok(50_000_000));
        assert_eq!(parse_amount("5."), Ok(5 * COIN));
        assert_eq!(parse_amount("0.00000001"), Ok(1));
        assert_eq!(parse_amount("1e-8"), Ok(1));
        assert_eq!(parse_amount("1.5E2"), Ok(150 * COIN));
        assert_eq!(parse_amount("12.345678900"), Ok(1_234_567_890));
        assert_eq!(parse_amount("21000000"), Ok(MAX_MONEY));
        assert_eq!(parse_amount("0"), Ok(0));
    }

    #[test]
    fn rejects_bad_amounts() {
        assert_eq!(parse_amount(""), Err(AmountError::Malformed));
        assert_eq!(parse_amount("."), Err(AmountError::Malformed));
        assert_eq!(parse_amount("abc"), Err(AmountError::Malformed));
        assert_eq!(parse_amount("1.2.3"), Err(AmountError::Malformed));
        assert_eq!(parse_amount("1e"), Err(AmountError::Malformed));
        assert_eq!(parse_amount("0.000000001"), Err(AmountError::TooPrecise));
        assert_eq!(
            parse_amount("21000000.00000001"),
            Err(AmountError::OutOfRange)
        );
        assert_eq!(parse_amount("1e30"), Err(AmountError::OutOfRange));
        assert_eq!(parse_amount("-1"), Err(AmountError::OutOfRange));
    }

    #[test]
    fn json_numbers_round_trip_through_display() {
        for units in [1i64, 10_000_000, 123_456_789, MAX_MONEY as i64] {
            let json = amount_to_json(units);
            assert_eq!(parse_amount(&json.to_string()), Ok(units as u64), "{json}");
        }
    }
}
