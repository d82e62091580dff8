//! Column codecs: how domain values are written to each backend, so that one SQL
//! text and one row type serve SQLite and PostgreSQL alike.
//!
//! | Rust            | SQLite (STRICT tables)                       | PostgreSQL    |
//! |-----------------|----------------------------------------------|---------------|
//! | [`DbAmount`]    | `TEXT`, exact decimal (`"10000.01"`)         | `NUMERIC`     |
//! | [`DbTime`]      | `TEXT`, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC)  | `TIMESTAMPTZ` |
//! | [`DbUuid`]      | `TEXT`, hyphenated lowercase                 | `UUID`        |
//! | enums           | `TEXT`, their serde wire form (`CASH_DEPOSIT`) | `TEXT`      |
//!
//! Amounts: the domain carries exact [`Money`] (read from a JSON number through its
//! shortest text, see `domain::Money`), stored as its decimal text, so `10000.01`
//! is stored as `10000.01`, summed exactly by PostgreSQL, and read back equal.
//! Parsing already refused what `rust_decimal` cannot hold (more than 28 decimal
//! places).
//!
//! Instants: both backends keep microseconds, so sub-microsecond digits are
//! truncated on write. SQLite's text form has a fixed width and is always UTC, so
//! text order is time order (range queries and indexes work on it).

use std::str::FromStr;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use uuid::Uuid;

use super::DbError;
use crate::domain::Money;

/// An amount as an exact decimal string (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbAmount(String);

impl From<Money> for DbAmount {
    fn from(amount: Money) -> Self {
        Self(amount.to_string())
    }
}

impl DbAmount {
    /// The stored amount.
    pub fn to_money(&self) -> Result<Money, DbError> {
        Money::from_str(&self.0).map_err(|e| DbError::backend("decoding an amount", e.to_string()))
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn to_decimal(&self) -> Result<Decimal, BoxDynError> {
        Ok(Decimal::from_str_exact(&self.0)?)
    }
}

/// An instant truncated to microseconds (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DbTime(DateTime<Utc>);

impl DbTime {
    /// `instant` truncated to microseconds; years outside 1..=9999 are refused.
    pub fn new(field: &str, instant: DateTime<Utc>) -> Result<Self, DbError> {
        if !(1..=9999).contains(&instant.year()) {
            return Err(DbError::invalid(
                field,
                format!("year {} is outside 1..=9999", instant.year()),
            ));
        }
        Ok(Self::truncated(instant))
    }

    /// `instant` clamped into years 1..=9999, for range bounds.
    pub fn clamped(instant: DateTime<Utc>) -> Self {
        let lo = DateTime::<Utc>::from_timestamp(-62_135_596_800, 0); // 0001-01-01T00:00:00Z
        let hi = DateTime::<Utc>::from_timestamp(253_402_300_799, 0); // 9999-12-31T23:59:59Z
        let clamped = match (lo, hi) {
            (Some(lo), _) if instant < lo => lo,
            (_, Some(hi)) if instant > hi => hi,
            _ => instant,
        };
        Self::truncated(clamped)
    }

    pub fn now() -> Self {
        Self::truncated(Utc::now())
    }

    pub fn get(self) -> DateTime<Utc> {
        self.0
    }

    fn truncated(instant: DateTime<Utc>) -> Self {
        let micros = instant.nanosecond() / 1_000 * 1_000;
        Self(instant.with_nanosecond(micros).unwrap_or(instant))
    }

    fn to_sqlite_text(self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }

    fn from_sqlite_text(text: &str) -> Result<Self, BoxDynError> {
        let parsed = DateTime::parse_from_rfc3339(text)
            .map_err(|e| format!("{text:?} is not an RFC 3339 instant: {e}"))?;
        Ok(Self::truncated(parsed.with_timezone(&Utc)))
    }
}

impl std::fmt::Display for DbTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

/// A UUID: `TEXT` in SQLite (readable with the sqlite3 shell), `UUID` in PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DbUuid(pub Uuid);

/// Implements `Type`, `Encode` and `Decode` for `$ty` on `$db` through the
/// representation `$repr`, converting with `$to: fn(&$ty) -> Result<$repr, _>` and
/// `$from: fn($repr) -> Result<$ty, _>`.
macro_rules! column_codec {
    ($ty:ty, $db:ty, $repr:ty, $to:expr, $from:expr) => {
        impl Type<$db> for $ty {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <$repr as Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as sqlx::Database>::TypeInfo) -> bool {
                <$repr as Type<$db>>::compatible(ty)
            }
        }
        impl<'q> Encode<'q, $db> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                let repr: $repr = ($to)(self)?;
                <$repr as Encode<'q, $db>>::encode(repr, buf)
            }
        }
        impl<'r> Decode<'r, $db> for $ty {
            fn decode(value: <$db as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let repr = <$repr as Decode<'r, $db>>::decode(value)?;
                ($from)(repr)
            }
        }
    };
}

column_codec!(
    DbAmount,
    Sqlite,
    String,
    |a: &DbAmount| Ok::<_, BoxDynError>(a.0.clone()),
    |s: String| Ok::<_, BoxDynError>(DbAmount(s))
);
column_codec!(
    DbAmount,
    Postgres,
    Decimal,
    DbAmount::to_decimal,
    |d: Decimal| Ok::<_, BoxDynError>(DbAmount(d.to_string()))
);

column_codec!(
    DbTime,
    Sqlite,
    String,
    |t: &DbTime| Ok::<_, BoxDynError>(t.to_sqlite_text()),
    |s: String| DbTime::from_sqlite_text(&s)
);
column_codec!(
    DbTime,
    Postgres,
    DateTime<Utc>,
    |t: &DbTime| Ok::<_, BoxDynError>(t.0),
    |t: DateTime<Utc>| Ok::<_, BoxDynError>(DbTime::truncated(t))
);

column_codec!(
    DbUuid,
    Sqlite,
    String,
    |u: &DbUuid| Ok::<_, BoxDynError>(u.0.hyphenated().to_string()),
    |s: String| {
        Uuid::parse_str(&s)
            .map(DbUuid)
            .map_err(|e| -> BoxDynError { format!("{s:?} is not a UUID: {e}").into() })
    }
);
column_codec!(
    DbUuid,
    Postgres,
    Uuid,
    |u: &DbUuid| Ok::<_, BoxDynError>(u.0),
    |u: Uuid| Ok::<_, BoxDynError>(DbUuid(u))
);

/// The serde wire form of a unit enum (`CASH_DEPOSIT`, `HIGH`, `rules`).
pub(crate) fn enum_text<T: Serialize>(field: &str, value: &T) -> Result<String, DbError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(DbError::invalid(
            field,
            format!("{other} is not a string enum value"),
        )),
        Err(e) => Err(DbError::invalid(field, e.to_string())),
    }
}

/// Parses a stored enum column back; `column` names it in the error.
pub(crate) fn enum_parse<T: DeserializeOwned>(column: &str, text: String) -> Result<T, DbError> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| {
        DbError::backend(
            format!("decoding {column}"),
            format!("unknown stored value: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_stored_as_their_exact_decimal_text() {
        // How JSON numbers become these decimals is `domain::Money`'s business.
        for (x, text) in [(10000.01, "10000.01"), (15000.0, "15000"), (0.1 + 0.2, "0.30000000000000004")] {
            let money = Money::from_f64(x).unwrap();
            let a = DbAmount::from(money);
            assert_eq!(a.as_str(), text);
            assert_eq!(a.to_money().unwrap(), money);
            let d = a.to_decimal().unwrap();
            assert_eq!(DbAmount(d.to_string()).to_money().unwrap(), money, "{text} via Decimal");
        }
        assert!(DbAmount("lots".into()).to_money().is_err());
    }

    #[test]
    fn sqlite_time_text_is_fixed_width_and_ordered() {
        let parse = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let a = DbTime::new("t", parse("2026-03-10T14:20:00Z")).unwrap();
        let b = DbTime::new("t", parse("2026-03-10T14:20:00.5Z")).unwrap();
        let c = DbTime::new("t", parse("2026-03-10T09:20:00.123456789-05:00")).unwrap();
        assert_eq!(a.to_sqlite_text(), "2026-03-10T14:20:00.000000Z");
        assert_eq!(c.to_sqlite_text(), "2026-03-10T14:20:00.123456Z");
        assert!(a.to_sqlite_text() < c.to_sqlite_text() && c.to_sqlite_text() < b.to_sqlite_text());
        assert_eq!(DbTime::from_sqlite_text(&c.to_sqlite_text()).unwrap(), c);
        assert!(DbTime::new("t", parse("0000-12-31T00:00:00Z")).is_err());
        assert_eq!(
            DbTime::clamped(DateTime::<Utc>::MIN_UTC).to_sqlite_text(),
            "0001-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            DbTime::clamped(DateTime::<Utc>::MAX_UTC).to_sqlite_text(),
            "9999-12-31T23:59:59.000000Z"
        );
    }

    #[test]
    fn enums_use_their_wire_form() {
        use crate::domain::TransactionType;
        assert_eq!(
            enum_text("t", &TransactionType::CashDeposit).unwrap(),
            "CASH_DEPOSIT"
        );
        let back: TransactionType = enum_parse("c", "CASH_DEPOSIT".into()).unwrap();
        assert_eq!(back, TransactionType::CashDeposit);
        assert!(enum_parse::<TransactionType>("c", "BITCOIN".into()).is_err());
    }
}
