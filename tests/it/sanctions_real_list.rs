//! Screening against the real OFAC SDN snapshots in ../shared/data/sanctions (issue 14):
//! the misspelt "Bank Meli Iran" in a wire to the UAE is a hit on the 2024 list; list
//! versions are stored in the database, a past transaction is screened against the
//! version in force on its date, a lookback against the newest. Skips, saying why,
//! when the shared data is absent.

use crate::common;

use std::sync::Arc;

use reagent::db::{Database, DatabaseSettings, DbError, StoredVersion};
use reagent::domain::{RuleInput, ValidRuleInput};
use reagent::rules::{ActionCode, RulesConfig, RulesEngine};
use reagent::sanctions::{self, Entry, ListKind, SanctionsLists, VersionDiff, VersionInfo};
use serde_json::json;

fn snapshot(date: &str) -> Option<(VersionInfo, Vec<Entry>)> {
    let file = common::shared("sanctions")?.join(format!("sdn-{date}.csv"));
    Some(sanctions::read_list(ListKind::Sdn, date.parse().expect("date"), &file, None, None).expect("snapshot parses"))
}

fn wire(counterparty: &str, description: &str, timestamp: &str, lookback: bool) -> ValidRuleInput {
    let input: RuleInput = serde_json::from_value(json!({
        "transaction": {
            "transaction_id": "W1", "customer_id": "C1", "amount": 25000, "currency": "USD",
            "transaction_type": "WIRE", "direction": "OUTBOUND", "origin_country": "US",
            "destination_country": "AE", "counterparty_name": counterparty, "description": description,
            "timestamp": timestamp
        },
        "customer": {
            "customer_id": "C1", "name": "Jane Doe", "customer_type": "INDIVIDUAL", "risk_rating": "LOW",
            "kyc_status": "COMPLETE", "is_pep": false, "country": "US"
        },
        "sanctions_lookback": lookback
    }))
    .expect("request deserializes");
    input.parse().expect("valid request")
}

#[test]
fn the_2024_list_parses_with_its_quirks() {
    let Some((info, entries)) = snapshot("2024-05-03") else { return };
    assert_eq!(info.n_entries, 14_965);
    assert!(info.n_aliases > 3_000, "{}", info.n_aliases);
    let melli = entries.iter().find(|e| e.name == "BANK MELLI IRAN").expect("listed");
    assert_eq!(melli.programs, vec!["IRAN", "SDGT", "IFSR"]);
    assert!(melli.aliases.iter().any(|a| a.name == "BMI" && a.weak), "{:?}", melli.aliases);
    assert_eq!(melli.linked_to, vec!["ISLAMIC REVOLUTIONARY GUARD CORPS (IRGC)-QODS FORCE"]);
    assert!(entries.iter().any(|e| e.imo.is_some()), "vessels carry IMO numbers");
    assert!(entries.iter().all(|e| !e.name.contains('\u{1a}') && e.title.as_deref() != Some("-0-")));
}

#[test]
fn bank_meli_iran_in_a_wire_to_the_uae_is_a_hit() {
    let Some((info, entries)) = snapshot("2024-05-03") else { return };
    let lists = SanctionsLists::empty();
    lists.insert(info, entries);
    let engine = RulesEngine::with_sanctions(RulesConfig::builtin().expect("rules"), Arc::new(lists));
    let out = engine.evaluate(&wire("Bank Meli Iran", "Trade settlement, invoice 2231", "2026-03-10T10:00:00Z", false));
    assert!(out.has(ActionCode::OfacBlockOrReject), "{:?}", out.actions());
    assert!(out.requires_review);
    let s = &out.sanctions_screening;
    assert_eq!(s.lists[0].version_id, "sdn-2024-05-03");
    let hit = s.matches.iter().find(|m| m.role == "counterparty name").expect("counterparty matched");
    assert_eq!((hit.matched.ent_num.as_str(), hit.matched.listed_name.as_str()), ("25578", "BANK MELLI IRAN"));
    assert!(hit.explanation.contains("\"meli\"≈\"melli\""), "{}", hit.explanation);
    let f = out.finding(ActionCode::OfacBlockOrReject).expect("finding");
    assert!(f.description.contains("sdn-2024-05-03") && f.description.contains("25578"), "{}", f.description);
    assert!(f.regulations.iter().any(|r| r == "31 CFR Part 560"), "{:?}", f.regulations);

    // A branch and city added to the name, or the name inside the description.
    for (cp, desc) in [("Bank Melli Iran Dubai Branch", ""), ("Al Noor Trading", "pay to bank melli iran, dubai")] {
        let out = engine.evaluate(&wire(cp, desc, "2026-03-10T10:00:00Z", false));
        assert!(out.sanctions_screening.matches.iter().any(|m| m.matched.ent_num == "25578"), "{cp} / {desc}");
    }
    // An ordinary customer and counterparty stay clear.
    let clear = engine.evaluate(&wire("Acme Widgets Inc", "Office chairs", "2026-03-10T10:00:00Z", false));
    assert!(!clear.has(ActionCode::OfacBlockOrReject), "{:?}", clear.sanctions_screening.matches);
}

async fn sqlite() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("reagent.db").display());
    let db = Database::open(&DatabaseSettings::new(url)).await.expect("open");
    (dir, db)
}

#[tokio::test]
async fn versions_are_stored_and_a_past_transaction_uses_the_list_in_force_on_its_date() {
    let (Some(old), Some(new)) = (snapshot("2023-01-31"), snapshot("2024-05-03")) else { return };
    let (_dir, db) = sqlite().await;
    check_versions(&db, old, new).await;
}

#[tokio::test]
async fn versions_are_stored_in_postgresql_too() {
    let (Some(old), Some(new)) = (snapshot("2023-01-31"), snapshot("2024-05-03")) else { return };
    let Some(database) = common::postgres::fresh_database().await else { return };
    let db = Database::open(&DatabaseSettings::new(database.url.clone())).await.expect("open");
    check_versions(&db, old, new).await;
    db.close().await;
}

async fn check_versions(db: &Database, old: (VersionInfo, Vec<Entry>), new: (VersionInfo, Vec<Entry>)) {
    assert_eq!(db.store_sanctions_version(&old.0, &old.1).await.expect("store"), StoredVersion::Added);
    assert_eq!(db.store_sanctions_version(&new.0, &new.1).await.expect("store"), StoredVersion::Added);
    assert_eq!(db.store_sanctions_version(&new.0, &new.1).await.expect("again"), StoredVersion::Unchanged);
    let mut changed = new.0.clone();
    changed.content_hash = "0".repeat(64);
    assert!(matches!(db.store_sanctions_version(&changed, &new.1).await, Err(DbError::Conflict(_))));

    let versions = db.sanctions_versions().await.expect("list");
    let ids: Vec<&str> = versions.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(ids, vec!["sdn-2023-01-31", "sdn-2024-05-03"]);
    assert_eq!(versions[1].n_entries, 14_965);
    assert_eq!(db.sanctions_entries("sdn-2024-05-03").await.expect("entries").len(), 14_965);

    // An entry delisted between the two versions: listed in 2023, gone in 2024.
    let diff = VersionDiff::between(Some(("sdn-2023-01-31", &old.1)), &new.1);
    assert!(!diff.added.is_empty() && !diff.removed.is_empty());
    let (_, delisted) = diff
        .removed
        .iter()
        .find(|(_, name)| name.split_whitespace().count() >= 3 && !name.contains(','))
        .expect("a delisted entity");

    let engine = RulesEngine::new(RulesConfig::builtin().expect("rules"));
    assert_eq!(db.refresh_sanctions(engine.sanctions()).await.expect("refresh"), 2);
    assert_eq!(db.refresh_sanctions(engine.sanctions()).await.expect("refresh"), 0, "nothing new");
    let in_2023 = engine.evaluate(&wire(delisted, "", "2023-06-01T10:00:00Z", false));
    assert_eq!(in_2023.sanctions_screening.lists[0].version_id, "sdn-2023-01-31");
    assert!(in_2023.has(ActionCode::OfacBlockOrReject), "{delisted} was listed on 2023-06-01");
    let lookback = engine.evaluate(&wire(delisted, "", "2023-06-01T10:00:00Z", true));
    assert_eq!(lookback.sanctions_screening.lists[0].version_id, "sdn-2024-05-03");
    assert!(lookback.sanctions_screening.lists[0].basis.contains("lookback"));
    assert!(
        !lookback.sanctions_screening.matches.iter().any(|m| m.matched.listed_name == *delisted),
        "{delisted} is not on the newest list"
    );
}
