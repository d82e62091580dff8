//! Step 1 of a batch: file → typed rows. A CSV file (header row of column names) or
//! JSON lines (one `{"transaction": {…}, "customer": {…}}` object per line, the
//! analyze API's objects) becomes the same [`Transaction`] and [`Customer`] the API
//! decodes, validated by the same code, so a rejected row names the same field
//! (`transaction.amount`) the API would. A bad row is reported with its line and
//! never stops the file; only an unusable header does.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{Customer, Transaction, ValidationError, serde_field};

/// How a file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// By the file name's extension (`.csv`, `.jsonl`, `.ndjson`, `.json`), else by
    /// the first non-blank byte (`{` for JSON lines).
    pub fn detect(name: &str, bytes: &[u8]) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            return Self::Csv;
        }
        if [".jsonl", ".ndjson", ".json"].iter().any(|e| lower.ends_with(e)) {
            return Self::JsonLines;
        }
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Self::JsonLines,
            _ => Self::Csv,
        }
    }
}

/// One accepted row of a transaction file.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line in the file (a CSV record's first line).
    pub line: u64,
    pub transaction: Transaction,
    /// The customer, when the row carries one (else it must be stored already).
    pub customer: Option<Customer>,
}

/// A row left out, with the field at fault (`row` when the row as a whole is unreadable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl Rejected {
    pub fn new(line: u64, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { line, field: field.into(), message: message.into() }
    }

    fn from_validation(line: u64, e: ValidationError) -> Self {
        Self::new(line, e.field, e.message)
    }
}

/// The file cannot be read as a whole (its header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

/// Columns of a transaction, as in the analyze API's `transaction`.
const TRANSACTION_COLUMNS: [&str; 13] = [
    "transaction_id",
    "customer_id",
    "amount",
    "currency",
    "transaction_type",
    "direction",
    "origin_country",
    "destination_country",
    "counterparty_name",
    "counterparty_customer_id",
    "description",
    "timestamp",
    "risk_score",
];

/// Columns of a customer besides `customer_id`, as in the analyze API's `customer`.
const CUSTOMER_COLUMNS: [&str; 10] = [
    "name",
    "customer_type",
    "risk_rating",
    "kyc_status",
    "is_pep",
    "pep_type",
    "private_banking",
    "ctr_exempt",
    "last_sar_filed_on",
    "country",
];

const NUMBER_COLUMNS: [&str; 2] = ["amount", "risk_score"];
const BOOL_COLUMNS: [&str; 3] = ["is_pep", "private_banking", "ctr_exempt"];

/// A transaction file's row on the wire (JSON lines), and a CSV row once typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionWire {
    transaction: Transaction,
    #[serde(default)]
    customer: Option<Customer>,
}

/// A customer file's row.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerWire {
    customer: Customer,
}

/// Rows of a file: accepted and rejected, in file order.
#[derive(Debug)]
pub struct Parsed<T> {
    pub rows: Vec<T>,
    pub rejected: Vec<Rejected>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Self { rows: Vec::new(), rejected: Vec::new() }
    }
}

impl<T> Parsed<T> {
    /// Adds the unreadable lines, keeping the rejections in line order.
    fn merge(&mut self, unreadable: Vec<Rejected>) {
        self.rejected.extend(unreadable);
        self.rejected.sort_by_key(|r| r.line);
    }
}

/// Reads a transaction file.
pub fn parse_transactions(bytes: &[u8], format: Format) -> Result<Parsed<Row>, FileError> {
    let mut out = Parsed::default();
    let unreadable = each_object(bytes, format, Layout::Transactions, |line, value| match typed_transaction(value) {
        Ok((transaction, customer)) => out.rows.push(Row { line, transaction, customer }),
        Err(e) => out.rejected.push(Rejected::from_validation(line, e)),
    })?;
    out.merge(unreadable);
    Ok(out)
}

/// Reads a customer file (`reagent batch customers`): CSV with `customer_id` and the
/// customer columns, or JSON lines of `{"customer": {…}}`. Each row is `(line, customer)`.
pub fn parse_customers(bytes: &[u8], format: Format) -> Result<Parsed<(u64, Customer)>, FileError> {
    let mut out = Parsed::default();
    let unreadable = each_object(bytes, format, Layout::Customers, |line, value| match typed_customer(value) {
        Ok(customer) => out.rows.push((line, customer)),
        Err(e) => out.rejected.push(Rejected::from_validation(line, e)),
    })?;
    out.merge(unreadable);
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Transactions,
    Customers,
}

/// Calls `row` with each line's object (`{"transaction": …, "customer": …}` or
/// `{"customer": …}`); returns the lines that are not one.
fn each_object(bytes: &[u8], format: Format, layout: Layout, mut row: impl FnMut(u64, Value)) -> Result<Vec<Rejected>, FileError> {
    let mut unreadable = Vec::new();
    let mut bad = |r: Rejected| unreadable.push(r);
    match format {
        Format::JsonLines => {
            for (i, text) in bytes.split(|b| *b == b'\n').enumerate() {
                let line = i as u64 + 1;
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Value>(text) {
                    Ok(value @ Value::Object(_)) => row(line, value),
                    Ok(_) => bad(Rejected::new(line, "row", "is not a JSON object")),
                    Err(e) => bad(Rejected::new(line, "row", format!("is not valid JSON: {e}"))),
                }
            }
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| FileError(format!("reading the CSV header: {e}")))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            check_header(&header, layout)?;
            for record in reader.records() {
                match record {
                    Ok(record) => {
                        let line = record.position().map_or(0, |p| p.line());
                        row(line, csv_object(&header, &record, layout));
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        bad(Rejected::new(line, "row", format!("is not a CSV record of the header's columns: {e}")));
                    }
                }
            }
        }
    }
    Ok(unreadable)
}

/// Every column known, none twice, and the required ones of `layout` present.
fn check_header(header: &[String], layout: Layout) -> Result<(), FileError> {
    let known: HashSet<&str> = match layout {
        Layout::Transactions => TRANSACTION_COLUMNS.iter().chain(&CUSTOMER_COLUMNS).copied().collect(),
        Layout::Customers => std::iter::once("customer_id").chain(CUSTOMER_COLUMNS).collect(),
    };
    let mut seen = HashSet::new();
    for h in header {
        if !known.contains(h.as_str()) {
            let mut names: Vec<&str> = known.iter().copied().collect();
            names.sort_unstable();
            return Err(FileError(format!("unknown column {h:?}; the columns are {}", names.join(", "))));
        }
        if !seen.insert(h.as_str()) {
            return Err(FileError(format!("column {h:?} appears twice")));
        }
    }
    let required: &[&str] = match layout {
        Layout::Transactions => &TRANSACTION_COLUMNS[..8],
        Layout::Customers => &["customer_id", "name", "customer_type", "risk_rating", "kyc_status", "is_pep", "country"],
    };
    let required = required.iter().chain(matches!(layout, Layout::Transactions).then_some(&"timestamp"));
    for r in required {
        if !seen.contains(r) {
            return Err(FileError(format!("the header has no {r:?} column")));
        }
    }
    Ok(())
}

/// A CSV record as the JSON object the wire types decode: empty cells left out,
/// numbers and booleans typed (a cell that is neither stays a string, so the
/// decoder names its field).
fn csv_object(header: &[String], record: &csv::StringRecord, layout: Layout) -> Value {
    let mut transaction = Map::new();
    let mut customer = Map::new();
    for (name, cell) in header.iter().zip(record.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let value = if NUMBER_COLUMNS.contains(&name.as_str()) {
            cell.parse::<f64>().ok().and_then(|n| serde_json::Number::from_f64(n)).map_or_else(|| Value::from(cell), Value::Number)
        } else if BOOL_COLUMNS.contains(&name.as_str()) {
            match cell.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => Value::from(cell),
            }
        } else {
            Value::from(cell)
        };
        if name == "customer_id" {
            customer.insert(name.clone(), value.clone());
        }
        if TRANSACTION_COLUMNS.contains(&name.as_str()) && layout == Layout::Transactions {
            transaction.insert(name.clone(), value);
        } else if name != "customer_id" {
            customer.insert(name.clone(), value);
        }
    }
    let mut object = Map::new();
    // A transaction row carries a customer when any customer column besides the id is filled.
    if layout == Layout::Customers || customer.len() > 1 {
        object.insert("customer".into(), Value::Object(customer));
    }
    if layout == Layout::Transactions {
        object.insert("transaction".into(), Value::Object(transaction));
    }
    Value::Object(object)
}

/// Decodes `value`, naming the field at fault like the API does.
fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        ValidationError::new(serde_field(&path, &message).unwrap_or_else(|| "row".into()), message)
    })
}

fn typed_transaction(value: Value) -> Result<(Transaction, Option<Customer>), ValidationError> {
    let wire: TransactionWire = decode(value)?;
    // Parsing also refuses what the database could not store exactly (an amount
    // with more than 28 decimal places).
    wire.transaction.parse()?;
    if let Some(c) = &wire.customer {
        c.parse()?;
        if c.customer_id != wire.transaction.customer_id {
            return Err(ValidationError::new(
                "customer.customer_id",
                format!("{:?} does not match transaction.customer_id {:?}", c.customer_id, wire.transaction.customer_id),
            ));
        }
    }
    Ok((wire.transaction, wire.customer))
}

fn typed_customer(value: Value) -> Result<Customer, ValidationError> {
    let wire: CustomerWire = decode(value)?;
    wire.customer.parse()?;
    Ok(wire.customer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "transaction_id,customer_id,amount,currency,transaction_type,direction,origin_country,destination_country,timestamp";

    #[test]
    fn csv_rows_become_typed_transactions_and_bad_cells_name_their_field() {
        let csv = format!(
            "{HEADER}\nT1,C1,9500,USD,CASH_DEPOSIT,INBOUND,US,US,2026-03-10T10:00:00Z\n\
             T2,C1,abc,USD,CASH_DEPOSIT,INBOUND,US,US,2026-03-10T10:00:00Z\n\
             T3,C1,100,USD,BITCOIN,INBOUND,US,US,2026-03-10T10:00:00Z\n\
             T4,C1,100,USD,WIRE,INBOUND,XX,US,2026-03-10T10:00:00Z\n\
             T5,C1,100,USD,WIRE,INBOUND,US,US,\n"
        );
        let parsed = parse_transactions(csv.as_bytes(), Format::Csv).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].line, 2);
        assert_eq!(parsed.rows[0].transaction.amount, 9500.0);
        let fields: Vec<(u64, &str)> = parsed.rejected.iter().map(|r| (r.line, r.field.as_str())).collect();
        assert_eq!(
            fields,
            vec![
                (3, "transaction.amount"),
                (4, "transaction.transaction_type"),
                (5, "transaction.origin_country"),
                (6, "transaction.timestamp"),
            ]
        );
    }

    #[test]
    fn csv_customer_columns_make_a_customer_and_a_bad_header_fails_the_file() {
        let csv = format!(
            "{HEADER},name,customer_type,risk_rating,kyc_status,is_pep,country\n\
             T1,C1,10,USD,CARD,OUTBOUND,US,US,2026-03-10T10:00:00Z,Ann,INDIVIDUAL,LOW,COMPLETE,no,US\n\
             T2,C1,10,USD,CARD,OUTBOUND,US,US,2026-03-10T11:00:00Z,,,,,,\n"
        );
        let parsed = parse_transactions(csv.as_bytes(), Format::Csv).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert_eq!(parsed.rows[0].customer.as_ref().map(|c| c.name.as_str()), Some("Ann"));
        assert!(parsed.rows[1].customer.is_none());
        let err = parse_transactions(format!("{HEADER},amout\n").as_bytes(), Format::Csv).unwrap_err();
        assert!(err.0.contains("amout"), "{err}");
        let err = parse_transactions(b"transaction_id,customer_id\n", Format::Csv).unwrap_err();
        assert!(err.0.contains("amount"), "{err}");
    }

    #[test]
    fn json_lines_use_the_api_objects_and_refuse_unknown_fields() {
        let ok = r#"{"transaction":{"transaction_id":"T1","customer_id":"C1","amount":5,"currency":"USD","transaction_type":"CARD","direction":"OUTBOUND","origin_country":"US","destination_country":"US","timestamp":"2026-03-10T10:00:00Z"}}"#;
        let misspelt = ok.replace("\"amount\"", "\"amout\"");
        let text = format!("{ok}\n\nnot json\n{misspelt}\n[1]\n");
        let parsed = parse_transactions(text.as_bytes(), Format::JsonLines).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        let fields: Vec<(u64, &str)> = parsed.rejected.iter().map(|r| (r.line, r.field.as_str())).collect();
        assert_eq!(fields, vec![(3, "row"), (4, "transaction.amout"), (5, "row")]);
    }

    #[test]
    fn formats_are_detected_by_name_then_content() {
        assert_eq!(Format::detect("day.CSV", b"{"), Format::Csv);
        assert_eq!(Format::detect("day.jsonl", b"a,b"), Format::JsonLines);
        assert_eq!(Format::detect("upload", b"  {\"transaction\":{}}"), Format::JsonLines);
        assert_eq!(Format::detect("upload", b"transaction_id,amount"), Format::Csv);
    }

    #[test]
    fn customer_files_are_read_in_both_formats() {
        let csv = "customer_id,name,customer_type,risk_rating,kyc_status,is_pep,country\nC1,Ann,INDIVIDUAL,LOW,COMPLETE,false,US\nC2,,INDIVIDUAL,LOW,COMPLETE,false,US\n";
        let parsed = parse_customers(csv.as_bytes(), Format::Csv).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rejected, vec![Rejected::new(3, "customer.name", "missing field `name`")]);
        let jsonl = r#"{"customer":{"customer_id":"C1","name":"Ann","customer_type":"INDIVIDUAL","risk_rating":"LOW","kyc_status":"COMPLETE","is_pep":false,"country":"US"}}"#;
        assert_eq!(parse_customers(jsonl.as_bytes(), Format::JsonLines).unwrap().rows.len(), 1);
    }
}
