//! Amounts in base units, so balances compare exactly; the RPC shows them
//! as JSON numbers of coins with 8 decimals.

use std::fmt;

use serde_json::Value;

/// Base units in one coin.
pub const COIN: i64 = 100_000_000;

/// An amount (or a signed balance change) in base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(pub i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub const fn coins(coins: i64) -> Amount {
        Amount(coins * COIN)
    }

    pub const fn sats(self) -> i64 {
        self.0
    }

    /// Reads an RPC amount: a JSON number (or decimal string) of coins.
    /// Exact for every amount up to 21 million coins: they fit a double's
    /// 53 bits once scaled to base units.
    pub fn from_json(value: &Value) -> Result<Amount, String> {
        let coins = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse::<f64>().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("{value} is not an amount"))?;
        let units = coins * COIN as f64;
        let rounded = units.round();
        if (units - rounded).abs() > 1e-3 {
            return Err(format!("{value} has more than 8 decimals"));
        }
        Ok(Amount(rounded as i64))
    }

    /// The amount as an RPC parameter: a decimal string, so no float
    /// rounding happens on the way.
    pub fn to_json(self) -> Value {
        Value::String(self.to_string())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&kestrel_common::amount::format_amount(self.0))
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, other: Amount) -> Amount {
        Amount(self.0 + other.0)
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, other: Amount) -> Amount {
        Amount(self.0 - other.0)
    }
}

impl std::ops::Neg for Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        Amount(-self.0)
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        Amount(iter.map(|a| a.0).sum())
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Amount::from_json(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_rpc_numbers_exactly() {
        assert_eq!(Amount::from_json(&json!(50.0)), Ok(Amount::coins(50)));
        assert_eq!(
            Amount::from_json(&json!(39.99998)),
            Ok(Amount(3_999_998_000))
        );
        assert_eq!(Amount::from_json(&json!(0.00000001)), Ok(Amount(1)));
        assert_eq!(
            Amount::from_json(&json!(20999999.99999999)),
            Ok(Amount(2_099_999_999_999_999))
        );
        assert_eq!(Amount::from_json(&json!(-0.5)), Ok(Amount(-50_000_000)));
        assert_eq!(Amount::from_json(&json!("1.5")), Ok(Amount(150_000_000)));
        assert!(Amount::from_json(&json!(0.000000001)).is_err());
        assert!(Amount::from_json(&json!(true)).is_err());
    }

    #[test]
    fn writes_eight_decimals() {
        assert_eq!(Amount::coins(10).to_json(), json!("10.00000000"));
        assert_eq!(Amount(-1_000).to_string(), "-0.00001000");
        assert_eq!(Amount(1).to_string(), "0.00000001");
    }
}
