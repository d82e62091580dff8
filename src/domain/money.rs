//! Exact money: [`Money`], a decimal amount (no binary fractions), how it is read
//! from the wire and how it is printed.
//!
//! JSON carries amounts as numbers, which serde_json hands over as `f64` (the
//! workspace does not enable `arbitrary_precision`). [`Money::from_f64`] reads
//! such a number through its shortest round-trip text (Rust's `Display` for
//! `f64`: never an exponent, never binary noise), so `10000.01` becomes exactly
//! 10000.01 and sums of amounts are exact. Serialization writes the nearest `f64`
//! again, so the JSON an amount came in with is the JSON it goes out with.
//!
//! Printing: [`Money::usd`] (`$10,000.01`), [`Money::grouped`] (`10,000.01`) and
//! [`Money::in_currency`] (`$9,600.00` for USD, `EUR 9,600.00` otherwise), all
//! rounded to cents half away from zero.

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::CurrencyCode;

/// An exact decimal amount of money, in the units of some currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Money(Decimal);

/// Why a number is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a finite number")]
    NotFinite,
    #[error("{text} cannot be represented as an exact decimal ({reason}); use at most 28 decimal places")]
    NotExact { text: String, reason: String },
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// The exact decimal a JSON number (an `f64`) was written as: its shortest
    /// round-trip text, read as a decimal.
    pub fn from_f64(value: f64) -> Result<Self, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError::NotFinite);
        }
        format!("{value}").parse()
    }

    pub const fn from_decimal(value: Decimal) -> Self {
        Self(value)
    }

    /// `cents` hundredths of a unit.
    pub fn from_cents(cents: i64) -> Self {
        Self(Decimal::new(cents, 2))
    }

    pub const fn decimal(self) -> Decimal {
        self.0
    }

    /// The nearest `f64` (the original one for an amount read by [`Money::from_f64`]).
    pub fn to_f64(self) -> f64 {
        // Through the text: correctly rounded, unlike digit-by-digit arithmetic.
        f64::from_str(&self.0.to_string()).unwrap_or(0.0)
    }

    /// Whole cents, rounded half away from zero (saturating at the `i64` bounds,
    /// far above any accepted amount).
    pub fn cents(self) -> i64 {
        let cents = (self.0.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero) * Decimal::ONE_HUNDRED).trunc();
        cents.to_i64().unwrap_or(if cents.is_sign_negative() { i64::MIN } else { i64::MAX })
    }

    /// This amount rounded to whole cents (two decimal places).
    pub fn rounded_to_cents(self) -> Self {
        Self::from_cents(self.cents())
    }

    /// This amount times `rate` (e.g. US dollars per unit), exactly; `None` on overflow.
    pub fn times(self, rate: Decimal) -> Option<Self> {
        self.0.checked_mul(rate).map(Self)
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// `$12,345.67` (a negative amount with a leading minus: `-$1.50`).
    pub fn usd(self) -> String {
        let (sign, grouped) = self.sign_and_grouped();
        format!("{sign}${grouped}")
    }

    /// `12,345.67`, rounded to cents.
    pub fn grouped(self) -> String {
        let (sign, grouped) = self.sign_and_grouped();
        format!("{sign}{grouped}")
    }

    /// `$9,600.00` in US dollars, `EUR 9,600.00` in any other currency.
    pub fn in_currency(self, currency: &CurrencyCode) -> String {
        if currency.is_usd() {
            self.usd()
        } else {
            format!("{currency} {}", self.grouped())
        }
    }

    fn sign_and_grouped(self) -> (&'static str, String) {
        let cents = self.cents();
        let sign = if cents < 0 { "-" } else { "" };
        let abs = cents.unsigned_abs();
        let units = (abs / 100).to_string();
        let mut grouped = String::with_capacity(units.len() + units.len() / 3 + 3);
        for (i, ch) in units.chars().enumerate() {
            if i > 0 && (units.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        (sign, format!("{grouped}.{:02}", abs % 100))
    }
}

/// The decimal as written, e.g. `10000.01` or `15000` (no grouping, no rounding).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A plain decimal (`10000.01`); no exponent, at most 28 decimal places.
impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Decimal::from_str_exact(text)
            .map(Self)
            .map_err(|e| MoneyError::NotExact { text: text.to_owned(), reason: e.to_string() })
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Self {
        Self(iter.map(|m| m.0).sum())
    }
}

/// A JSON number, as amounts have always been sent.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_f64())
    }
}

/// A number (read through its shortest text, see [`Money::from_f64`]) or a
/// decimal string (read exactly).
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount (a number or a decimal string)")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                Ok(Money(Decimal::from(v)))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                Ok(Money(Decimal::from(v)))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                Money::from_f64(v).map_err(E::custom)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                v.trim().parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Money {
        text.parse().unwrap()
    }

    #[test]
    fn json_numbers_are_read_through_their_shortest_text() {
        for (x, text) in [
            (10000.01, "10000.01"),
            (9999.99, "9999.99"),
            (0.01, "0.01"),
            (15000.0, "15000"),
            (1e13, "10000000000000"),
            (1234.567, "1234.567"),
            (9999999999999.998, "9999999999999.998"),
        ] {
            let money = Money::from_f64(x).unwrap();
            assert_eq!(money.to_string(), text);
            assert_eq!(money.to_f64().to_bits(), x.to_bits(), "{text} round-trips");
        }
    }

    #[test]
    fn sums_are_exact_where_f64_sums_are_not() {
        let (a, b) = (Money::from_f64(0.1).unwrap(), Money::from_f64(0.2).unwrap());
        assert_ne!(0.1 + 0.2, 0.3);
        assert_eq!(a.checked_add(b), Some(m("0.3")));
        let ten_cents: Money = std::iter::repeat_n(a, 10).sum();
        assert_eq!(ten_cents, m("1"));
        let thirds = [m("3333.33"), m("3333.33"), m("3333.34")];
        assert_eq!(thirds.into_iter().sum::<Money>(), m("10000.00"));
    }

    #[test]
    fn threshold_comparisons_are_exact() {
        let threshold = m("10000");
        assert!(m("10000.00") <= threshold, "10,000.00 is not more than 10,000");
        assert!(m("10000.01") > threshold);
        assert!(Money::from_f64(10000.01).unwrap() > threshold);
        assert_eq!(Money::from_f64(10000.01).unwrap().cents(), 1_000_001);
        assert_eq!(Money::from_f64(0.1 + 0.2).unwrap().cents(), 30);
    }

    #[test]
    fn foreign_amounts_convert_exactly() {
        // 8,003.50 at 1.17 is 9,364.095 exactly: 9,364.10 (f64 arithmetic gives 9,364.09).
        let usd = m("8003.50").times(Decimal::from_str("1.17").unwrap()).unwrap();
        assert_eq!(usd, m("9364.095"));
        assert_eq!(usd.cents(), 936_410);
        assert_eq!((8003.5_f64 * 1.17 * 100.0).round() as i64, 936_409);
        // 20,000.01 at 0.5 is $10,000.005: $10,000.01, more than $10,000 (f64: $10,000.00).
        let usd = Money::from_f64(20000.01).unwrap().times(Decimal::from_str("0.5").unwrap()).unwrap();
        assert_eq!(usd.cents(), 1_000_001);
        assert!(usd.cents() > Money::from_f64(10000.0).unwrap().cents());
        assert_eq!(m("0.005").cents(), 1, "half a cent rounds away from zero");
        assert_eq!(m("1.015").rounded_to_cents().decimal().to_string(), "1.02");
        assert_eq!(m("7").rounded_to_cents().decimal().to_string(), "7.00");
        assert_eq!(m("-0.005").cents(), -1);
        assert_eq!(Money::from_cents(i64::MAX).times(Decimal::MAX), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(m("10000.01").usd(), "$10,000.01");
        assert_eq!(m("0.5").usd(), "$0.50");
        assert_eq!(m("1234567").usd(), "$1,234,567.00");
        assert_eq!(m("999.999").usd(), "$1,000.00");
        assert_eq!(Money::from_cents(-150).usd(), "-$1.50");
        assert_eq!(m("1234567.891").grouped(), "1,234,567.89");
        assert_eq!(m("100").grouped(), "100.00");
        let eur = CurrencyCode::parse("EUR").unwrap();
        let usd = CurrencyCode::parse("USD").unwrap();
        assert_eq!(m("9600").in_currency(&eur), "EUR 9,600.00");
        assert_eq!(m("9600").in_currency(&usd), "$9,600.00");
    }

    #[test]
    fn non_finite_and_unrepresentable_numbers_are_refused() {
        assert_eq!(Money::from_f64(f64::NAN), Err(MoneyError::NotFinite));
        assert_eq!(Money::from_f64(f64::NEG_INFINITY), Err(MoneyError::NotFinite));
        assert!(matches!(Money::from_f64(1e30), Err(MoneyError::NotExact { .. })));
        assert!(matches!(Money::from_f64(1e-30), Err(MoneyError::NotExact { .. })));
        assert!("1e5".parse::<Money>().is_err());
        assert!("lots".parse::<Money>().is_err());
    }

    #[test]
    fn serde_keeps_the_json_number() {
        let money: Money = serde_json::from_str("10000.01").unwrap();
        assert_eq!(money, m("10000.01"));
        assert_eq!(serde_json::to_string(&money).unwrap(), "10000.01");
        let whole: Money = serde_json::from_str("15000").unwrap();
        assert_eq!(serde_json::to_string(&whole).unwrap(), serde_json::to_string(&15000.0_f64).unwrap());
        let text: Money = serde_json::from_str("\"0.30\"").unwrap();
        assert_eq!(text, m("0.3"));
        assert!(serde_json::from_str::<Money>("\"lots\"").is_err());
    }
}
