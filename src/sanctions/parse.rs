//! Treasury's CSV layout of a sanctions list, as published: `sdn.csv` (one record per
//! listed party), and optionally `alt.csv` (aliases) and `add.csv` (addresses) linked
//! by `ent_num`. The consolidated (non-SDN) list uses the same three files.
//!
//! Quirks handled: no header row; `-0-` (with a trailing space) for an empty field;
//! several programs joined as `SDGT] [IFSR`; aliases, `Linked To:` parents and vessel
//! IMO numbers inside `Remarks`; CRLF line ends and a trailing DOS end-of-file byte
//! (0x1A); bytes that are not UTF-8 (replaced, never fatal).

use std::collections::{BTreeMap, BTreeSet};

use super::{Alias, AliasKind, Entry, EntryKind, SanctionsError};

/// `sdn.csv` with its companions applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedList {
    pub entries: Vec<Entry>,
}

impl ParsedList {
    pub fn n_aliases(&self) -> usize {
        self.entries.iter().map(|e| e.aliases.len()).sum()
    }

    /// Adds strong aliases from `alt.csv` records (`ent_num`, alias kind, name).
    /// Records naming an unknown `ent_num` are counted and skipped.
    pub fn apply_aliases(&mut self, alts: Vec<(String, AliasKind, String)>) -> usize {
        let index = self.index();
        let mut unknown = 0;
        for (num, kind, name) in alts {
            match index.get(&num) {
                Some(&i) => push_alias(&mut self.entries[i], Alias { name, kind, weak: false }),
                None => unknown += 1,
            }
        }
        unknown
    }

    /// Adds addresses from `add.csv` records (`ent_num`, address line).
    pub fn apply_addresses(&mut self, addresses: Vec<(String, String)>) -> usize {
        let index = self.index();
        let mut unknown = 0;
        for (num, line) in addresses {
            match index.get(&num) {
                Some(&i) => self.entries[i].addresses.push(line),
                None => unknown += 1,
            }
        }
        unknown
    }

    fn index(&self) -> BTreeMap<String, usize> {
        self.entries.iter().enumerate().map(|(i, e)| (e.ent_num.clone(), i)).collect()
    }
}

/// Iterates the non-blank records of a Treasury CSV file as trimmed optional fields.
fn records(
    bytes: &[u8],
    origin: &str,
    mut each: impl FnMut(u64, &[Option<String>]) -> Result<(), SanctionsError>,
) -> Result<(), SanctionsError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    for (i, rec) in reader.byte_records().enumerate() {
        let rec = rec.map_err(|source| SanctionsError::Csv { path: origin.to_owned(), source })?;
        let record = rec.position().map_or(i as u64 + 1, |p| p.record() + 1);
        let fields: Vec<Option<String>> = rec.iter().map(field).collect();
        if fields.iter().all(Option::is_none) {
            continue; // a blank line or the 0x1A end-of-file marker
        }
        each(record, &fields)?;
    }
    Ok(())
}

/// One field: lossy UTF-8, trimmed (also of 0x1A); `-0-` and blank are `None`.
fn field(bytes: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\u{1a}');
    (!s.is_empty() && s != "-0-").then(|| s.to_owned())
}

fn get(fields: &[Option<String>], n: usize) -> Option<String> {
    fields.get(n).cloned().flatten()
}

/// Parses `sdn.csv`: `ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign,
/// Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks`.
pub fn parse_sdn_csv(bytes: &[u8], origin: &str) -> Result<ParsedList, SanctionsError> {
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    records(bytes, origin, |record, f| {
        let bad = |message: String| SanctionsError::Record { path: origin.to_owned(), record, message };
        let ent_num = get(f, 0).ok_or_else(|| bad("missing ent_num".into()))?;
        let name = get(f, 1).ok_or_else(|| bad(format!("entry {ent_num} has no SDN_Name")))?;
        if !seen.insert(ent_num.clone()) {
            return Err(bad(format!("duplicate ent_num {ent_num}")));
        }
        let kind = match get(f, 2).map(|t| t.to_ascii_lowercase()).as_deref() {
            None => EntryKind::Entity,
            Some("individual") => EntryKind::Individual,
            Some("vessel") => EntryKind::Vessel,
            Some("aircraft") => EntryKind::Aircraft,
            Some(other) => return Err(bad(format!("entry {ent_num} has unknown SDN_Type {other:?}"))),
        };
        let programs = get(f, 3).map(|p| split_programs(&p)).unwrap_or_default();
        let remarks = get(f, 11);
        let mut entry = Entry {
            ent_num,
            name,
            kind,
            programs,
            title: get(f, 4),
            call_sign: get(f, 5),
            vessel_type: get(f, 6),
            vessel_flag: get(f, 9),
            vessel_owner: get(f, 10),
            imo: remarks.as_deref().and_then(imo_number),
            aliases: vec![],
            linked_to: remarks.as_deref().map(linked_to).unwrap_or_default(),
            addresses: vec![],
            remarks: None,
        };
        for alias in remarks.as_deref().map(remark_aliases).unwrap_or_default() {
            push_alias(&mut entry, alias);
        }
        entry.remarks = remarks;
        entries.push(entry);
        Ok(())
    })?;
    Ok(ParsedList { entries })
}

/// Parses `alt.csv`: `ent_num, alt_num, alt_type, alt_name, alt_remarks`.
pub fn parse_alt_csv(bytes: &[u8], origin: &str) -> Result<Vec<(String, AliasKind, String)>, SanctionsError> {
    let mut out = Vec::new();
    records(bytes, origin, |record, f| {
        let bad = |message: String| SanctionsError::Record { path: origin.to_owned(), record, message };
        let num = get(f, 0).ok_or_else(|| bad("missing ent_num".into()))?;
        let kind = match get(f, 2).map(|t| t.to_ascii_lowercase().replace('.', "")).as_deref() {
            Some("aka") | None => AliasKind::Aka,
            Some("fka") => AliasKind::Fka,
            Some("nka") => AliasKind::Nka,
            Some(other) => return Err(bad(format!("unknown alt_type {other:?}"))),
        };
        if let Some(name) = get(f, 3) {
            out.push((num, kind, name));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Parses `add.csv`: `ent_num, add_num, address, city/state/postal code, country,
/// add_remarks` into one line per address.
pub fn parse_add_csv(bytes: &[u8], origin: &str) -> Result<Vec<(String, String)>, SanctionsError> {
    let mut out = Vec::new();
    records(bytes, origin, |record, f| {
        let num = get(f, 0).ok_or_else(|| SanctionsError::Record {
            path: origin.to_owned(),
            record,
            message: "missing ent_num".into(),
        })?;
        let line: Vec<String> = [2, 3, 4].iter().filter_map(|&n| get(f, n)).collect();
        if !line.is_empty() {
            out.push((num, line.join(", ")));
        }
        Ok(())
    })?;
    Ok(out)
}

/// `IRAN] [SDGT] [IFSR` → `["IRAN", "SDGT", "IFSR"]`.
fn split_programs(p: &str) -> Vec<String> {
    p.split(['[', ']']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn push_alias(entry: &mut Entry, alias: Alias) {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    if alias.name.trim().is_empty() || same(&alias.name, &entry.name) {
        return;
    }
    if let Some(existing) = entry.aliases.iter_mut().find(|a| same(&a.name, &alias.name)) {
        // A strong listing of the same name wins over a weak one.
        existing.weak &= alias.weak;
        return;
    }
    entry.aliases.push(alias);
}

/// `a.k.a. 'NAME'`, `f.k.a. 'NAME'`, `n.k.a. 'NAME'` in the remarks: weak aliases in
/// Treasury's CSV layout. A name may hold an apostrophe (`'O'NEIL TRADING'`), so an
/// alias ends at the quote followed by `;`, `,`, `.` at the end, or the end.
fn remark_aliases(remarks: &str) -> Vec<Alias> {
    let lower = remarks.to_ascii_lowercase();
    let mut found: Vec<(usize, Alias)> = Vec::new();
    for (marker, kind) in [("a.k.a. '", AliasKind::Aka), ("f.k.a. '", AliasKind::Fka), ("n.k.a. '", AliasKind::Nka)] {
        let mut from = 0;
        while let Some(pos) = lower.get(from..).and_then(|s| s.find(marker)) {
            let start = from + pos + marker.len();
            let Some(rest) = remarks.get(start..) else { break };
            let end = closing_quote(rest);
            let name = rest.get(..end).unwrap_or_default().trim();
            if !name.is_empty() {
                found.push((start, Alias { name: name.to_owned(), kind, weak: true }));
            }
            from = start + end + 1;
        }
    }
    found.sort_by_key(|(pos, _)| *pos);
    found.into_iter().map(|(_, a)| a).collect()
}

fn closing_quote(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'\'' {
            continue;
        }
        match bytes.get(i + 1) {
            None | Some(b';') | Some(b',') => return i,
            Some(b'.') if matches!(bytes.get(i + 2), None | Some(b' ') | Some(b';')) => return i,
            _ => {}
        }
    }
    rest.find('\'').unwrap_or(rest.len())
}

/// `Linked To: PARENT NAME.` (one per `;`-separated remark).
fn linked_to(remarks: &str) -> Vec<String> {
    let n_parts = remarks.split(';').count();
    remarks
        .split(';')
        .enumerate()
        .filter_map(|(i, part)| {
            let part = part.trim();
            let name = part.strip_prefix("Linked To:")?.trim();
            // The last remark ends the record with a period that is not part of the name.
            let name = if i + 1 == n_parts { name.strip_suffix('.').unwrap_or(name) } else { name };
            (!name.is_empty()).then(|| name.trim().to_owned())
        })
        .collect()
}

/// The seven digits after `IMO ` in a vessel's remarks.
fn imo_number(remarks: &str) -> Option<String> {
    let mut from = 0;
    while let Some(pos) = remarks.get(from..).and_then(|s| s.find("IMO ")) {
        let start = from + pos + 4;
        let digits: String = remarks.get(start..)?.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() == 7 {
            return Some(digits);
        }
        from = start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ParsedList {
        match parse_sdn_csv(text.as_bytes(), "test.csv") {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn empty_marker_with_trailing_space_is_empty_and_entities_have_no_type() {
        let l = parse("10,\"ZORVAN TRADING\",-0- ,\"IRAN\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n");
        let e = &l.entries[0];
        assert_eq!(e.kind, EntryKind::Entity);
        assert_eq!(e.title, None);
        assert_eq!(e.remarks, None);
        assert_eq!(e.programs, vec!["IRAN"]);
    }

    #[test]
    fn program_joins_are_split() {
        assert_eq!(split_programs("IRAN] [SDGT] [IFSR"), vec!["IRAN", "SDGT", "IFSR"]);
        assert_eq!(split_programs("[CUBA]"), vec!["CUBA"]);
    }

    #[test]
    fn crlf_and_trailing_eof_byte_are_skipped() {
        let text = "1,\"QUIL, Arno\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"DOB 1970.\"\r\n\
                    2,\"BRASK CO\",-0- ,\"CUBA\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\x1a";
        let l = parse(text);
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[0].kind, EntryKind::Individual);
        assert_eq!(l.entries[1].name, "BRASK CO");
    }

    #[test]
    fn remark_aliases_are_weak_and_keep_their_kind_and_inner_apostrophes() {
        let remarks = "DOB 1970; a.k.a. 'ZED QUUX'; f.k.a. 'O'NEIL HOLDINGS'; n.k.a. 'NEW ZED CO.'; Linked To: QUIL GROUP LTD.";
        let aliases = remark_aliases(remarks);
        let got: Vec<(&str, AliasKind, bool)> = aliases.iter().map(|a| (a.name.as_str(), a.kind, a.weak)).collect();
        assert_eq!(
            got,
            vec![
                ("ZED QUUX", AliasKind::Aka, true),
                ("O'NEIL HOLDINGS", AliasKind::Fka, true),
                ("NEW ZED CO.", AliasKind::Nka, true)
            ]
        );
        assert_eq!(linked_to(remarks), vec!["QUIL GROUP LTD"]);
    }

    #[test]
    fn linked_to_vessel_imo_and_aircraft_are_read() {
        let text = "5,\"SEA QUILL\",\"vessel\",\"IRAN\",-0- ,\"9HA1234\",\"Crude Oil Tanker\",\"150,000\",\"80,000\",\"Malta\",\"BRASK SHIPPING\",\"Vessel Registration Identification IMO 9187629; Linked To: BRASK SHIPPING; Linked To: QUIL GROUP.\"\r\n\
                    6,\"EP-QQQ\",\"aircraft\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"Aircraft Model IL76; Linked To: QUIL AIR.\"\r\n";
        let l = parse(text);
        let v = &l.entries[0];
        assert_eq!(v.kind, EntryKind::Vessel);
        assert_eq!(v.imo.as_deref(), Some("9187629"));
        assert_eq!(v.call_sign.as_deref(), Some("9HA1234"));
        assert_eq!(v.vessel_flag.as_deref(), Some("Malta"));
        assert_eq!(v.linked_to, vec!["BRASK SHIPPING", "QUIL GROUP"]);
        assert_eq!(l.entries[1].kind, EntryKind::Aircraft);
        assert_eq!(l.entries[1].linked_to, vec!["QUIL AIR"]);
    }

    #[test]
    fn malformed_records_are_errors_naming_the_record() {
        let missing_name = parse_sdn_csv(b"1,-0- ,x\r\n", "sdn.csv");
        assert!(matches!(missing_name, Err(SanctionsError::Record { record: 1, .. })), "{missing_name:?}");
        let duplicate = parse_sdn_csv(b"1,A\r\n1,B\r\n", "sdn.csv");
        assert!(matches!(duplicate, Err(SanctionsError::Record { record: 2, .. })), "{duplicate:?}");
        let bad_type = parse_sdn_csv(b"1,A,\"spaceship\"\r\n", "sdn.csv");
        assert!(bad_type.is_err());
        // Bytes that are not UTF-8 are replaced, not fatal.
        assert!(parse_sdn_csv(b"1,\"CAF\xc9 QUIL\"\r\n", "sdn.csv").is_ok_and(|l| l.entries.len() == 1));
    }

    #[test]
    fn companion_files_add_strong_aliases_and_addresses() {
        let mut l = parse("7,\"QUIL, Arno\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"a.k.a. 'ARNO Q'.\"\r\n");
        let alts = parse_alt_csv(b"7,101,\"aka\",\"QUILL, Arnaud\",-0- \r\n7,102,\"fka\",\"ARNO Q\",-0- \r\n99,103,\"aka\",\"NOBODY\",-0- \r\n\x1a", "alt.csv");
        let alts = alts.unwrap_or_default();
        assert_eq!(l.apply_aliases(alts), 1);
        let names: Vec<(&str, bool)> = l.entries[0].aliases.iter().map(|a| (a.name.as_str(), a.weak)).collect();
        // The weak remark alias seen again in alt.csv becomes strong.
        assert_eq!(names, vec![("ARNO Q", false), ("QUILL, Arnaud", false)]);
        let adds = parse_add_csv(b"7,201,\"12 Quay Road\",\"Port Quill\",\"Freedonia\",-0- \r\n", "add.csv").unwrap_or_default();
        assert_eq!(l.apply_addresses(adds), 0);
        assert_eq!(l.entries[0].addresses, vec!["12 Quay Road, Port Quill, Freedonia"]);
    }
}
