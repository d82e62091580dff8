//! Country and currency codes: the ISO lists and the [`CountryCode`] and
//! [`CurrencyCode`] newtypes. Deserialization keeps any string so that the
//! request's `parse` can name the field of a bad one.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// All 249 officially assigned ISO 3166-1 alpha-2 codes (sorted, so lookups
/// use binary search). User-assigned codes such as `XK` are not included.
pub const ISO_3166_1_ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// True if `code` is an officially assigned ISO 3166-1 alpha-2 code
/// (uppercase, exactly as listed).
pub fn is_iso_country(code: &str) -> bool {
    ISO_3166_1_ALPHA2.binary_search(&code).is_ok()
}

/// An ISO 3166-1 alpha-2 country code.
///
/// [`CountryCode::parse`] validates; deserialization keeps the raw string so
/// that a request's `parse` can report the field. One inside a validated type
/// (`ValidTransaction`, `ValidCustomer`) has been checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    /// A validated country code (uppercase alpha-2 from the ISO list).
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let c = Self(code.to_owned());
        match c.check() {
            Ok(()) => Ok(c),
            Err(message) => Err(ValidationError::new("country", message)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    pub(super) fn check(&self) -> Result<(), String> {
        if is_iso_country(&self.0) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not an ISO 3166-1 alpha-2 country code (two uppercase letters, e.g. \"US\")",
                self.0
            ))
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The active ISO 4217 alphabetic codes (list one, amendments to 2025), sorted:
/// national currencies, the fund codes (`BOV`, `CHE`, `CHW`, `CLF`, `COU`, `MXV`,
/// `USN`, `UYI`, `UYW`), precious metals, `XDR`, `XSU`, `XUA` and the bond-market
/// units. Left out: `XTS` (testing) and `XXX` (no currency), which no transaction is
/// in, and withdrawn codes such as `HRK`, `ANG` (now `XCG`), `SLL` (now `SLE`) and
/// `ZWL` (now `ZWG`).
pub const ISO_4217_ACTIVE: [&str; 175] = [
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
    "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT",
    "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG",
];

/// True if `code` is an active ISO 4217 code (uppercase, exactly as listed).
pub fn is_iso_currency(code: &str) -> bool {
    ISO_4217_ACTIVE.binary_search(&code).is_ok()
}

/// A currency code from the ISO 4217 list ([`ISO_4217_ACTIVE`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let c = Self(code.to_owned());
        match c.check() {
            Ok(()) => Ok(c),
            Err(message) => Err(ValidationError::new("currency", message)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    pub fn is_usd(&self) -> bool {
        self.0 == "USD"
    }

    pub(super) fn check(&self) -> Result<(), String> {
        if is_iso_currency(&self.0) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not an active ISO 4217 currency code (three uppercase letters, e.g. \"USD\")",
                self.0
            ))
        }
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
