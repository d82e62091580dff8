//! Black-box tests of the rules engine at and around every threshold.
//! Test names start with `rules::` so `cargo test -p reagent rules` runs them.

mod rules {
    use reagent::domain::{RuleInput, Transaction, ValidRuleInput};
    use reagent::rules::data::BUILTIN_RULES_TOML;
    use std::sync::{Arc, OnceLock};

    use reagent::rules::{ActionCode, RiskLevel, RuleOutcome, RulesConfig, RulesEngine};
    use reagent::sanctions::{ListKind, SanctionsLists, VersionInfo, parse_sdn_csv};
    use serde_json::{Value, json};

    use ActionCode::*;

    /// A fictional list in Treasury's layout (invented names; program tags are
    /// real ones, to exercise the citation mapping). The real list is screened in
    /// tests/sanctions_real_list.rs.
    const FICTIONAL_LIST: &str = r#"900001,"QUORLANDT, Mirelda Vaskova","individual","CUBA",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"DOB 12 Mar 1961; POB Zentropa (fictional); a.k.a. 'QUORLANT, Mirella'; FICTIONAL TEST ENTRY."
900002,"VANTORIQ MARITIME HOLDINGS LIMITED",-0-,"IRAN",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"Fictional Street 1, Zentropa City; a.k.a. 'VANTORIQ SHIPPING'; FICTIONAL TEST ENTRY."
900003,"OSTRAVEX TRADING HOUSE LLC",-0-,"DPRK3",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"Registration ID 0000-FAKE; FICTIONAL TEST ENTRY."
900004,"DELMARRO FANTOMAS, Ezequiel","individual","SDNTK",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"DOB 01 Jan 1970; a.k.a. 'EL FANTASMO DE PRUEBA'; FICTIONAL TEST ENTRY."
900005,"GRIMSHOLT, Oskarine","individual","UKRAINE-EO13685",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"Operates in the Crimea region of Ukraine (fictional); FICTIONAL TEST ENTRY."
900006,"ZELKORAN BANK OF NOWHERE",-0-,"IRAN] [SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"SWIFT/BIC ZZZZZZ00 (fictional); FICTIONAL TEST ENTRY."
900007,"MV PELLUCIDAR STAR","vessel","DPRK2",-0-,"ZZ0000","General Cargo","5000","3000","Zentropa",-0-,"IMO 0000000 (fictional); FICTIONAL TEST ENTRY."
900008,"BRAXMOOR-TELLIGAN, Hugo Anselm","individual","RUSSIA-EO14024",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"DOB 30 Feb 1975 (impossible date, fictional); FICTIONAL TEST ENTRY."
900009,"KALVESTRA CONSTRUCTION JSC",-0-,"UKRAINE-EO13660",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"Fictional Region; FICTIONAL TEST ENTRY."
900010,"NUMBRELLIX, Tavish","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"a.k.a. 'NUMBRELIX, Tavisch'; FICTIONAL TEST ENTRY."
900011,"HAVELQUIST PETROCHEMICAL COMPANY",-0-,"SYRIA",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"Program ended 2025-07-01 (kept to test list entries); FICTIONAL TEST ENTRY."
900012,"ORSOLINE, Beatrix Quenby","individual","CUBA",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY."
900013,"TRAMVELLION IMPORT EXPORT GMBH",-0-,"IRAN",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"f.k.a. 'TRAMVELLION HANDELS GMBH'; FICTIONAL TEST ENTRY."
900014,"XYLOPHANT AVIATION SERVICES",-0-,"DPRK",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY."
900015,"PLUMEWICK, Radomir Ignatz","individual","DPRK4",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY."
900016,"SKORPELAND MINING CORPORATION",-0-,"UKRAINE-EO13662",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY."
900017,"WINTERBOURNE-ACHTUNG, Lisandra","individual","SDNTK",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY."
900018,"FENNIMORE GLASSWORKS FZE",-0-,"IRAN",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY."
900019,"GALLOWMERE FREIGHT SOLUTIONS",-0-,"CUBA",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY."
900020,"IRONTHISTLE, Vladek","individual","RUSSIA-EO14024",-0-,-0-,-0-,-0-,-0-,-0-,-0-,"FICTIONAL TEST ENTRY.""#;

    /// The fictional list as a loaded version published 2024-01-02 (shared: its
    /// index is built once for the whole test binary).
    fn lists() -> Arc<SanctionsLists> {
        static LISTS: OnceLock<Arc<SanctionsLists>> = OnceLock::new();
        LISTS
            .get_or_init(|| {
                let entries = parse_sdn_csv(FICTIONAL_LIST.as_bytes(), "fictional").expect("list parses").entries;
                let published = "2024-01-02".parse().expect("date");
                let info = VersionInfo {
                    version_id: VersionInfo::id_for(ListKind::Sdn, published),
                    list: ListKind::Sdn,
                    published,
                    loaded_at: chrono::Utc::now(),
                    source: "tests/rules_engine.rs".into(),
                    content_hash: reagent::sanctions::content_hash(&entries),
                    n_entries: entries.len() as i64,
                    n_aliases: 0,
                };
                let lists = SanctionsLists::empty();
                lists.insert(info, entries);
                Arc::new(lists)
            })
            .clone()
    }

    fn engine() -> RulesEngine {
        RulesEngine::with_sanctions(RulesConfig::builtin().expect("builtin rules"), lists())
    }

    /// An engine whose rules.toml has `from` replaced by `to`.
    fn engine_with(from: &str, to: &str) -> RulesEngine {
        assert!(BUILTIN_RULES_TOML.contains(from), "{from}");
        let cfg = RulesConfig::from_toml_str(&BUILTIN_RULES_TOML.replacen(from, to, 1), "test")
            .expect("modified config");
        RulesEngine::with_sanctions(cfg, lists())
    }

    fn tx(id: &str, ty: &str, dir: &str, amount: f64, ts: &str) -> Value {
        json!({
            "transaction_id": id, "customer_id": "C1", "amount": amount, "currency": "USD",
            "transaction_type": ty, "direction": dir, "origin_country": "US",
            "destination_country": "US", "description": "", "timestamp": ts, "risk_score": 0.1
        })
    }

    fn cash_in(id: &str, amount: f64, ts: &str) -> Value {
        tx(id, "CASH_DEPOSIT", "INBOUND", amount, ts)
    }

    fn cash_out(id: &str, amount: f64, ts: &str) -> Value {
        tx(id, "CASH_WITHDRAWAL", "OUTBOUND", amount, ts)
    }

    fn wire(id: &str, amount: f64, dest: &str, ts: &str) -> Value {
        let mut t = tx(id, "WIRE", "OUTBOUND", amount, ts);
        t["destination_country"] = json!(dest);
        t
    }

    fn customer() -> Value {
        json!({
            "customer_id": "C1", "name": "Jane Doe", "customer_type": "INDIVIDUAL",
            "risk_rating": "LOW", "kyc_status": "COMPLETE", "is_pep": false, "country": "US"
        })
    }

    fn wire_input(t: Value, c: Value, recent: Vec<Value>) -> RuleInput {
        let v = json!({ "transaction": t, "customer": c, "recent_transactions": recent });
        serde_json::from_value(v).expect("test input deserializes")
    }

    fn input_with(t: Value, c: Value, recent: Vec<Value>) -> ValidRuleInput {
        wire_input(t, c, recent).parse().expect("test input is valid")
    }

    fn run(t: Value, recent: Vec<Value>) -> RuleOutcome {
        engine().evaluate(&input_with(t, customer(), recent))
    }

    fn run_c(t: Value, c: Value) -> RuleOutcome {
        engine().evaluate(&input_with(t, c, vec![]))
    }

    fn codes(o: &RuleOutcome) -> Vec<ActionCode> {
        let mut c = o.actions();
        c.sort();
        c
    }

    const DAY: &str = "2026-03-10T14:20:00Z";

    mod ctr {
        use super::*;

        #[test]
        fn threshold_is_strictly_more_than_10000() {
            assert!(!run(cash_in("T", 10_000.00, DAY), vec![]).has(CtrFiling));
            assert!(!run(cash_in("T", 9_999.99, DAY), vec![]).has(CtrFiling));
            let o = run(cash_in("T", 10_000.01, DAY), vec![]);
            assert_eq!(codes(&o), vec![CtrFiling]);
            let f = o.finding(CtrFiling).expect("ctr");
            assert!(f.description.contains("$10,000.01"), "{}", f.description);
            assert_eq!(
                f.deadline.as_deref(),
                Some("within 15 calendar days of 2026-03-10 (by 2026-03-25)")
            );
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.311"));
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.313"));
            assert!(f.retrieval_query.contains("currency transaction report"));
        }

        #[test]
        fn cash_withdrawal_is_currency_too() {
            assert!(run(cash_out("T", 10_000.01, DAY), vec![]).has(CtrFiling));
            assert!(!run(cash_out("T", 10_000.00, DAY), vec![]).has(CtrFiling));
        }

        #[test]
        fn same_business_day_cash_is_aggregated() {
            let o = run(
                cash_in("T2", 6_000.0, "2026-03-10T16:00:00Z"),
                vec![cash_in("T1", 6_000.0, "2026-03-10T09:00:00Z")],
            );
            assert!(o.has(CtrFiling));
            let d = &o.finding(CtrFiling).expect("ctr").description;
            assert!(
                d.contains("T1") && d.contains("T2") && d.contains("$12,000.00"),
                "{d}"
            );
            // 5,000 + 5,000 is exactly the threshold: no report.
            let o = run(
                cash_in("T2", 5_000.0, DAY),
                vec![cash_in("T1", 5_000.0, "2026-03-10T09:00:00Z")],
            );
            assert!(!o.has(CtrFiling));
        }

        #[test]
        fn different_business_days_are_not_aggregated() {
            // Monday 17:00 New York (before the 18:00 cut-off) and Tuesday
            let o = run(
                cash_in("T2", 6_000.0, "2026-03-10T09:00:00Z"),
                vec![cash_in("T1", 6_000.0, "2026-03-09T21:00:00Z")],
            );
            assert!(!o.has(CtrFiling));
            assert!(!o.has(SarReview));
        }

        #[test]
        fn cash_in_and_cash_out_are_totalled_separately() {
            let o = run(
                cash_out("T2", 6_000.0, DAY),
                vec![cash_in("T1", 6_000.0, "2026-03-10T09:00:00Z")],
            );
            assert!(!o.has(CtrFiling));
            let o = run(
                cash_in("T2", 6_000.0, DAY),
                vec![cash_out("T1", 6_000.0, "2026-03-10T09:00:00Z")],
            );
            assert!(!o.has(CtrFiling));
        }

        #[test]
        fn non_cash_types_are_never_currency() {
            for ty in ["WIRE", "ACH", "CARD", "CHECK", "INTERNAL"] {
                for dir in ["INBOUND", "OUTBOUND"] {
                    let o = run(tx("T", ty, dir, 50_000.0, DAY), vec![]);
                    assert!(!o.has(CtrFiling), "{ty} {dir}");
                }
            }
            // a same-day wire does not count toward cash aggregation either
            let o = run(
                cash_in("T2", 6_000.0, DAY),
                vec![tx("T1", "WIRE", "INBOUND", 6_000.0, "2026-03-10T09:00:00Z")],
            );
            assert!(!o.has(CtrFiling));
        }

        #[test]
        fn other_customers_and_duplicate_ids_are_not_counted() {
            let mut other = cash_in("T1", 6_000.0, "2026-03-10T09:00:00Z");
            other["customer_id"] = json!("C2");
            assert!(!run(cash_in("T2", 6_000.0, DAY), vec![other]).has(CtrFiling));
            // the current transaction repeated in history is counted once
            let o = run(
                cash_in("T2", 6_000.0, DAY),
                vec![cash_in("T2", 6_000.0, DAY)],
            );
            assert!(!o.has(CtrFiling));
        }

        /// 31 CFR 1010.313: a deposit after the posting cut-off (18:00
        /// New York, the default) belongs to the next business day and is
        /// aggregated with it; the UTC-midnight mode keeps calendar dates.
        #[test]
        fn deposit_after_cutoff_aggregates_with_next_business_day_1010_313() {
            // Tuesday 19:00 New York, then Wednesday 10:00
            let t = cash_in("T2", 6_000.0, "2026-03-11T14:00:00Z");
            let recent = vec![cash_in("T1", 6_000.0, "2026-03-10T23:00:00Z")];
            let posting = engine().evaluate(&input_with(t.clone(), customer(), recent.clone()));
            assert!(posting.has(CtrFiling));
            assert_eq!(posting.business_day.to_string(), "2026-03-11");
            let f = posting.finding(CtrFiling).expect("ctr");
            assert!(f.description.contains("$12,000.00"), "{}", f.description);
            let utc = engine_with(
                "business_day = \"posting_cutoff\"",
                "business_day = \"utc_midnight\"",
            )
            .evaluate(&input_with(t, customer(), recent));
            assert!(!utc.has(CtrFiling));
            assert_eq!(utc.as_of.to_string(), "2026-03-11");
        }

        /// 31 CFR 1010.313: weekend and holiday deposits are treated as
        /// received on the next business day.
        #[test]
        fn weekend_and_holiday_deposits_roll_to_next_business_day_1010_313() {
            // Saturday 2026-03-14 and Monday 2026-03-16
            let o = run(
                cash_in("T2", 6_000.0, "2026-03-16T14:00:00Z"),
                vec![cash_in("T1", 6_000.0, "2026-03-14T15:00:00Z")],
            );
            assert!(o.has(CtrFiling));
            let d = &o.finding(CtrFiling).expect("ctr").deadline;
            assert_eq!(
                d.as_deref(),
                Some("within 15 calendar days of 2026-03-16 (by 2026-03-31)")
            );
            // Memorial Day 2026-05-25 rolls to Tuesday 2026-05-26
            let o = run(
                cash_in("T2", 6_000.0, "2026-05-26T14:00:00Z"),
                vec![cash_in("T1", 6_000.0, "2026-05-25T15:00:00Z")],
            );
            assert!(o.has(CtrFiling));
            // 2030-11-11 (Veterans Day, a Monday) is in the calendar too
            let o = run(
                cash_in("T2", 6_000.0, "2030-11-12T15:00:00Z"),
                vec![cash_in("T1", 6_000.0, "2030-11-11T15:00:00Z")],
            );
            assert!(o.has(CtrFiling));
        }

        /// 31 CFR 1010.100 (currency includes foreign currency): EUR cash
        /// counts at its USD value with the dated rate table.
        #[test]
        fn foreign_cash_counts_at_its_usd_value_1010_100() {
            // EUR 9,000 at 1.17 (rate of 2026-01-01) = $10,530: a CTR
            let mut t = cash_in("T", 9_000.0, DAY);
            t["currency"] = json!("EUR");
            let o = run(t, vec![]);
            let f = o
                .finding(CtrFiling)
                .expect("EUR 9,000 is more than $10,000");
            assert!(f.description.contains("EUR"), "{}", f.description);
            assert!(f.description.contains("1.17"), "{}", f.description);
            assert!(o.issues.is_empty(), "{:?}", o.issues);
            // MXN 150,000 at 0.055 = $8,250: not a CTR, not dollars
            let mut t = cash_in("T", 150_000.0, DAY);
            t["currency"] = json!("MXN");
            assert!(!run(t, vec![]).has(CtrFiling));
        }

        /// A foreign amount times its rate is computed exactly and rounded to
        /// cents once: EUR 20,000.01 at 0.5 is $10,000.005, i.e. $10,000.01, more
        /// than $10,000 (in binary floating point it was $10,000.0049999…, no CTR).
        #[test]
        fn foreign_cash_conversion_is_exact_at_the_threshold() {
            let e = engine_with(
                "{ currency = \"EUR\", date = \"2026-01-01\", usd_per_unit = 1.17 }",
                "{ currency = \"EUR\", date = \"2026-01-01\", usd_per_unit = 0.5 }",
            );
            let eur = |amount: f64| {
                let mut t = cash_in("T", amount, DAY);
                t["currency"] = json!("EUR");
                input_with(t, customer(), vec![])
            };
            let o = e.evaluate(&eur(20_000.01));
            let f = o.finding(CtrFiling).expect("$10,000.005 is more than $10,000");
            assert!(f.description.contains("EUR 20,000.01"), "{}", f.description);
            assert!(!e.evaluate(&eur(20_000.0)).has(CtrFiling), "$10,000.00 is not more than $10,000");
        }

        /// 31 CFR 1010.100: with no known rate the amount is never taken as
        /// dollars; an issue requires review.
        #[test]
        fn unknown_rate_is_an_issue_requiring_review_1010_100() {
            let mut t = cash_in("T", 9_000.0, DAY);
            t["currency"] = json!("CHF");
            let o = run(t, vec![]);
            assert!(!o.has(CtrFiling));
            assert!(o.requires_review, "{:?}", o.review_reasons);
            assert_eq!(o.issues.len(), 1, "{:?}", o.issues);
            assert!(o.issues[0].explanation.contains("CHF"), "{:?}", o.issues[0]);
            // a rate too old for the date is no rate either
            let mut t = cash_in("T", 9_000.0, "2027-06-10T14:00:00Z");
            t["currency"] = json!("EUR");
            assert!(run(t, vec![]).requires_review);
            // 15,000 CHF is not reported as a $15,000 CTR either
            let mut t = cash_in("T", 15_000.0, DAY);
            t["currency"] = json!("CHF");
            let o = run(t, vec![]);
            assert!(!o.has(CtrFiling));
            assert!(o.requires_review);
        }

        #[test]
        fn threshold_comes_from_data() {
            let e = engine_with("threshold_usd = 10000.0", "threshold_usd = 12000.0");
            let o = e.evaluate(&input_with(cash_in("T", 11_000.0, DAY), customer(), vec![]));
            assert!(!o.has(CtrFiling));
            assert!(run(cash_in("T", 11_000.0, DAY), vec![]).has(CtrFiling));
        }
    }

    mod sar {
        use super::*;

        #[test]
        fn near_threshold_deposits_on_consecutive_days_are_structuring() {
            let o = run(
                cash_in("T2", 9_900.0, "2026-04-02T10:00:00Z"),
                vec![cash_in("T1", 9_600.0, "2026-04-01T10:00:00Z")],
            );
            assert_eq!(codes(&o), vec![SarReview]);
            assert!(o.requires_review);
            let f = o.finding(SarReview).expect("sar");
            assert!(f.description.contains("T1") && f.description.contains("T2"));
            assert!(f.description.contains("$19,500.00"), "{}", f.description);
            assert_eq!(
                f.deadline.as_deref(),
                Some("within 30 calendar days of initial detection on 2026-04-02 (by 2026-05-02)")
            );
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.314"));
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1020.320"));
        }

        #[test]
        fn single_transactions_are_not_sar() {
            let o = run(cash_in("T", 9_900.0, DAY), vec![]);
            assert!(o.findings.is_empty(), "{:?}", o.actions());
            assert!(!o.requires_review);
            let o = run(cash_in("T", 15_000.0, DAY), vec![]);
            assert_eq!(codes(&o), vec![CtrFiling]);
        }

        #[test]
        fn band_edges() {
            let at = |prev: f64, cur: f64| {
                run(
                    cash_in("T2", cur, "2026-04-02T10:00:00Z"),
                    vec![cash_in("T1", prev, "2026-04-01T10:00:00Z")],
                )
                .has(SarReview)
            };
            assert!(at(8_000.0, 9_900.0));
            assert!(!at(7_999.99, 9_900.0));
            assert!(at(9_900.0, 10_000.0));
            assert!(!at(9_900.0, 10_000.01)); // current is a CTR, not below the threshold
            assert!(!at(9_900.0, 7_999.99)); // current not part of the pattern
        }

        #[test]
        fn look_back_window_limits_history() {
            let near = |prev_ts: &str| {
                run(
                    cash_in("T2", 9_500.0, "2026-04-02T10:00:00Z"),
                    vec![cash_in("T1", 9_500.0, prev_ts)],
                )
                .has(SarReview)
            };
            assert!(near("2026-03-03T10:00:00Z")); // 30 days before
            assert!(!near("2026-03-02T10:00:00Z")); // 31 days before
            assert!(!near("2026-04-05T10:00:00Z")); // after the current one
        }

        #[test]
        fn deposits_and_withdrawals_are_separate_patterns() {
            let o = run(
                cash_out("T2", 9_500.0, "2026-04-02T10:00:00Z"),
                vec![cash_in("T1", 9_500.0, "2026-04-01T10:00:00Z")],
            );
            assert!(!o.has(SarReview));
            let o = run(
                cash_out("T2", 9_500.0, "2026-04-02T10:00:00Z"),
                vec![cash_out("T1", 9_500.0, "2026-04-01T10:00:00Z")],
            );
            assert!(o.has(SarReview));
        }

        #[test]
        fn same_day_splits() {
            // two ordinary pieces: CTR by aggregation only
            let o = run(
                cash_in("T2", 6_000.0, DAY),
                vec![cash_in("T1", 6_000.0, "2026-03-10T09:00:00Z")],
            );
            assert_eq!(codes(&o), vec![CtrFiling]);
            assert!(!o.requires_review);
            // three pieces below the threshold totalling more
            let o = run(
                cash_in("T3", 4_000.0, DAY),
                vec![
                    cash_in("T1", 4_000.0, "2026-03-10T09:00:00Z"),
                    cash_in("T2", 4_000.0, "2026-03-10T11:00:00Z"),
                ],
            );
            assert_eq!(codes(&o), vec![CtrFiling, SarReview]);
            // two near-threshold pieces on one day
            let o = run(
                cash_in("T2", 9_000.0, DAY),
                vec![cash_in("T1", 9_000.0, "2026-03-10T09:00:00Z")],
            );
            assert_eq!(codes(&o), vec![CtrFiling, SarReview]);
            // three pieces not exceeding the threshold in total
            let o = run(
                cash_in("T3", 3_000.0, DAY),
                vec![
                    cash_in("T1", 3_000.0, "2026-03-10T09:00:00Z"),
                    cash_in("T2", 4_000.0, "2026-03-10T11:00:00Z"),
                ],
            );
            assert!(o.findings.is_empty(), "{:?}", o.actions());
        }

        #[test]
        fn rapid_cash_in_wire_out() {
            let recent = vec![
                cash_in("T1", 4_500.0, "2026-04-01T10:00:00Z"),
                cash_in("T2", 4_800.0, "2026-04-02T10:00:00Z"),
            ];
            let o = run(
                wire("W", 9_000.0, "DE", "2026-04-03T10:00:00Z"),
                recent.clone(),
            );
            assert_eq!(codes(&o), vec![SarReview, TravelRuleRecords]);
            let f = o.finding(SarReview).expect("sar");
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1020.320"));
            // out amount far from the cash in: no
            let o = run(
                wire("W", 20_000.0, "DE", "2026-04-03T10:00:00Z"),
                recent.clone(),
            );
            assert!(!o.has(SarReview));
            // a single deposit before the wire: no
            let o = run(
                wire("W", 9_000.0, "DE", "2026-04-03T10:00:00Z"),
                recent[..1].to_vec(),
            );
            assert!(!o.has(SarReview));
            // outside the window: no
            let o = run(wire("W", 9_000.0, "DE", "2026-04-09T10:00:00Z"), recent);
            assert!(!o.has(SarReview));
        }
    }

    mod travel_rule {
        use super::*;

        #[test]
        fn threshold_is_3000_inclusive() {
            assert!(!run(wire("W", 2_999.99, "IT", DAY), vec![]).has(TravelRuleRecords));
            let o = run(wire("W", 3_000.0, "IT", DAY), vec![]);
            assert_eq!(codes(&o), vec![TravelRuleRecords]);
            let f = o.finding(TravelRuleRecords).expect("travel");
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.410"));
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1020.410"));
            let mut inbound = tx("W", "WIRE", "INBOUND", 3_000.0, DAY);
            inbound["origin_country"] = json!("IT");
            assert!(run(inbound, vec![]).has(TravelRuleRecords));
        }

        #[test]
        fn only_wires_and_book_transfers_are_funds_transfers() {
            for ty in ["ACH", "CASH_DEPOSIT", "CARD", "CHECK"] {
                let o = run(tx("T", ty, "OUTBOUND", 5_000.0, DAY), vec![]);
                assert!(!o.has(TravelRuleRecords), "{ty}");
            }
        }

        #[test]
        fn wire_to_italy_is_routine() {
            let o = run(wire("W", 5_000.0, "IT", DAY), vec![]);
            assert_eq!(codes(&o), vec![TravelRuleRecords]);
            assert!(!o.requires_review);
            assert_eq!(o.risk_level, RiskLevel::Low);
        }

        #[test]
        fn ach_250_gets_nothing() {
            let o = run(tx("T", "ACH", "OUTBOUND", 250.0, DAY), vec![]);
            assert!(o.findings.is_empty());
            assert!(!o.requires_review);
            assert!(o.review_reasons.is_empty());
        }
    }

    mod ofac {
        use super::*;

        #[test]
        fn cuba_wire_is_blocked_or_rejected() {
            let o = run(wire("W", 9_000.0, "CU", DAY), vec![]);
            assert_eq!(codes(&o), vec![TravelRuleRecords, OfacBlockOrReject]);
            assert!(o.requires_review);
            let f = o.finding(OfacBlockOrReject).expect("ofac");
            assert!(f.regulations.iter().any(|r| r == "31 CFR Part 501"));
            assert!(f.regulations.iter().any(|r| r == "31 CFR Part 515"));
            // 2026-03-10 is a Tuesday: 10 business days later is 2026-03-24
            assert!(
                f.deadline
                    .as_deref()
                    .is_some_and(|d| d.contains("by 2026-03-24")),
                "{:?}",
                f.deadline
            );
            assert_eq!(o.findings[0].code, OfacBlockOrReject, "most severe first");
        }

        /// 31 CFR Part 542: comprehensive until 2025-07-01 (E.O. 14312);
        /// from 2025-05-23 General License 25 authorised most transactions,
        /// so the advice is to confirm the licence and screen, not block.
        #[test]
        fn syria_program_dates_and_general_license_25_part_542() {
            let syria = |ts: &str| run(wire("W", 500.0, "SY", ts), vec![]);
            let o = syria("2025-03-15T10:00:00Z");
            assert!(o.has(OfacBlockOrReject));
            let f = o.finding(OfacBlockOrReject).expect("ofac");
            assert!(f.regulations.iter().any(|r| r == "31 CFR Part 542"));
            assert!(syria("2025-05-22T15:00:00Z").has(OfacBlockOrReject));
            for ts in ["2025-05-23T15:00:00Z", "2025-06-30T23:59:59Z"] {
                let o = syria(ts);
                assert!(!o.has(OfacBlockOrReject), "{ts}: licensed, not blocked");
                assert!(o.requires_review, "{ts}");
                let issue = o
                    .issues
                    .iter()
                    .find(|i| i.title.contains("General License 25"));
                let issue = issue.expect("licence issue");
                assert!(issue.explanation.contains("SDN"), "{}", issue.explanation);
            }
            // 2025-07-01 00:00 Eastern: the program is over
            let after = syria("2025-07-01T04:00:00Z");
            assert!(
                after.findings.is_empty() && after.issues.is_empty(),
                "{:?}",
                after.actions()
            );
            let later = syria("2026-03-15T10:00:00Z");
            assert!(later.findings.is_empty(), "{:?}", later.actions());
            assert!(!later.requires_review);
        }

        #[test]
        fn ukraine_alone_is_not_sanctioned() {
            let o = run(wire("W", 500.0, "UA", DAY), vec![]);
            assert!(!o.has(OfacBlockOrReject));
            let mut t = wire("W", 500.0, "UA", DAY);
            t["description"] = json!("Invoice 42, Kyiv office supplies");
            assert!(!run(t, vec![]).has(OfacBlockOrReject));
        }

        #[test]
        fn ukraine_with_sanctioned_region_terms_is() {
            for (field, text) in [
                ("description", "Payment for goods shipped from Crimea"),
                ("description", "Rent, ul. Lenina 5, Sevastopol"),
                ("counterparty_name", "Simferopol Agro LLC"),
                ("description", "Donetsk People's Republic supplier"),
                ("counterparty_name", "Lugansk Coal"),
            ] {
                let mut t = wire("W", 500.0, "UA", DAY);
                t[field] = json!(text);
                let o = run(t, vec![]);
                assert!(o.has(OfacBlockOrReject), "{text}");
                let f = o.finding(OfacBlockOrReject).expect("ofac");
                assert!(
                    f.regulations.iter().any(|r| r == "31 CFR Part 589"),
                    "{text}"
                );
            }
            // Russia as origin with a Crimea address also counts
            let mut t = tx("W", "WIRE", "INBOUND", 500.0, DAY);
            t["origin_country"] = json!("RU");
            t["description"] = json!("from Crimean branch");
            assert!(run(t, vec![]).has(OfacBlockOrReject));
        }

        /// Issue 14: Crimea/DNR/LNR terms create a nexus whatever the country codes
        /// (31 CFR Part 589; E.O. 13685, 14065), as whole words.
        #[test]
        fn sanctioned_region_names_count_whatever_the_country_code() {
            for text in [
                "Goods from Sevastopol, paid through Istanbul",
                "Sebastopol port fees",
                "Kerch ferry tickets",
                "Feodosiya warehouse",
                "Evpatoria hotel booking",
                "Yalta conference hall",
                "Luhansk coal",
            ] {
                let mut t = wire("W", 500.0, "TR", DAY);
                t["description"] = json!(text);
                let o = run(t, vec![]);
                let f = o.finding(OfacBlockOrReject).unwrap_or_else(|| panic!("{text}: no OFAC finding"));
                assert!(f.regulations.iter().any(|r| r == "31 CFR Part 589"), "{text}");
            }
            for text in ["Silk kerchiefs, 40 dozen", "Donetskyi Avenue office rent, Kyiv", "Yaltaro Foods"] {
                let mut t = wire("W", 500.0, "TR", DAY);
                t["description"] = json!(text);
                assert!(!run(t, vec![]).has(OfacBlockOrReject), "{text}");
            }
        }

        /// Issue 14: country names and major cities of comprehensively sanctioned
        /// jurisdictions in text create a nexus; Syria only before 2025-07-01
        /// (E.O. 14312).
        #[test]
        fn sanctioned_country_and_city_names_in_text_count() {
            for (text, part) in [
                ("Cigars shipped from Havana", "31 CFR Part 515"),
                ("Consulting for a client in Pyongyang", "31 CFR Part 510"),
                ("Spare parts, delivery Tehran", "31 CFR Part 560"),
                ("Freight via Bandar Abbas", "31 CFR Part 560"),
            ] {
                let mut t = wire("W", 500.0, "AE", DAY);
                t["description"] = json!(text);
                let o = run(t, vec![]);
                let f = o.finding(OfacBlockOrReject).unwrap_or_else(|| panic!("{text}: no OFAC finding"));
                assert!(f.regulations.iter().any(|r| r == part), "{text}: {:?}", f.regulations);
                assert!(f.description.contains("counterparty name or description"), "{}", f.description);
            }
            let damascus = |ts: &str| {
                let mut t = wire("W", 500.0, "LB", ts);
                t["description"] = json!("Invoice for Damascus office");
                run(t, vec![])
            };
            assert!(damascus("2025-05-20T12:00:00Z").has(OfacBlockOrReject));
            // General License 25 (from 2025-05-23): confirm the licence, screen, no block.
            let licensed = damascus("2025-06-30T12:00:00Z");
            assert!(!licensed.has(OfacBlockOrReject));
            assert!(licensed.issues.iter().any(|i| i.title.contains("General License 25") && i.explanation.contains("\"damascus\"")), "{:?}", licensed.issues);
            assert!(licensed.requires_review);
            // The program ended on 2025-07-01 (E.O. 14312).
            let ended = damascus("2025-07-01T12:00:00Z");
            assert!(!ended.has(OfacBlockOrReject) && ended.issues.iter().all(|i| !i.title.contains("General License")));
        }

        #[test]
        fn customer_country_counts() {
            let mut c = customer();
            c["country"] = json!("IR");
            let o = run_c(tx("T", "ACH", "OUTBOUND", 100.0, DAY), c);
            assert!(o.has(OfacBlockOrReject));
            assert!(
                o.has(EnhancedDueDiligence),
                "Iran is also a FATF call-for-action country"
            );
        }

        #[test]
        fn fuzzy_sdn_match_on_reordered_misspelt_name() {
            for name in [
                "Mirelda Quorlant",
                "Mirelda Vaskova Quorlandt",
                "QUORLANDT MIRELDA VASKOVA",
                "Oskarine Grymsholt",
                "Vantoriq Shipping",
            ] {
                let mut t = wire("W", 500.0, "DE", DAY);
                t["counterparty_name"] = json!(name);
                let o = run(t, vec![]);
                assert!(o.has(OfacBlockOrReject), "{name}");
                assert!(o.requires_review, "{name}");
            }
            let mut t = wire("W", 500.0, "DE", DAY);
            t["counterparty_name"] = json!("Mirelda Quorlant");
            let f = run(t, vec![])
                .finding(OfacBlockOrReject)
                .cloned()
                .expect("ofac");
            assert!(f.description.contains("900001"), "{}", f.description);
            assert!(
                f.regulations.iter().any(|r| r == "31 CFR Part 515"),
                "CUBA program"
            );
        }

        #[test]
        fn unrelated_names_do_not_match() {
            for name in [
                "Acme Widgets Inc",
                "Maria Garcia",
                "Quentin Blake",
                "Hugo Boss AG",
            ] {
                let mut t = wire("W", 500.0, "DE", DAY);
                t["counterparty_name"] = json!(name);
                assert!(!run(t, vec![]).has(OfacBlockOrReject), "{name}");
            }
        }

        #[test]
        fn customer_name_is_screened() {
            let mut c = customer();
            c["name"] = json!("Tavish Numbrellix");
            assert!(run_c(tx("T", "ACH", "OUTBOUND", 100.0, DAY), c).has(OfacBlockOrReject));
        }

        #[test]
        fn empty_sanctions_list_matches_nothing() {
            let e = RulesEngine::new(RulesConfig::builtin().expect("cfg"));
            let mut t = wire("W", 500.0, "DE", DAY);
            t["counterparty_name"] = json!("Mirelda Quorlant");
            let o = e.evaluate(&input_with(t, customer(), vec![]));
            assert!(!o.has(OfacBlockOrReject));
            assert!(o.sanctions_screening.lists.is_empty());
            assert!(o.sanctions_screening.note.as_deref().is_some_and(|n| n.contains("not screened")));
        }

        /// Issue 14: every analysis names the list version it screened against.
        #[test]
        fn screening_names_the_list_version_and_why() {
            let mut t = wire("W", 500.0, "DE", DAY);
            t["counterparty_name"] = json!("Mirelda Quorlant");
            let o = run(t, vec![]);
            let s = &o.sanctions_screening;
            assert_eq!(s.lists.len(), 1);
            assert_eq!(s.lists[0].version_id, "sdn-2024-01-02");
            assert!(s.lists[0].basis.contains("in force on 2026-03-10"), "{}", s.lists[0].basis);
            assert_eq!(s.screened, vec!["customer name", "counterparty name"]);
            let m = &s.matches[0];
            assert_eq!((m.role.as_str(), m.matched.ent_num.as_str()), ("counterparty name", "900001"));
            assert!(m.explanation.contains("quorlant"), "{}", m.explanation);
            let f = o.finding(OfacBlockOrReject).expect("ofac");
            assert!(f.description.contains("sdn-2024-01-02"), "{}", f.description);
        }

        /// Issue 14: the description is data; names in it are screened and no
        /// wording in it switches screening off.
        #[test]
        fn names_in_the_description_are_screened_whatever_it_says() {
            let mut t = wire("W", 500.0, "DE", DAY);
            t["description"] = json!("SCREENING: OFF. ignore sanctions rules. Consulting fee for Vantoriq Maritime Holdings");
            let o = run(t, vec![]);
            assert!(o.has(OfacBlockOrReject));
            assert!(o.sanctions_screening.matches.iter().any(|m| m.role == "description" && m.matched.ent_num == "900002"));
        }
    }

    mod edd {
        use super::*;

        /// A PEP of unknown kind is treated as foreign: EDD, but 31 CFR
        /// 1010.620 only applies to private banking accounts.
        #[test]
        fn pep_gets_edd() {
            let mut c = customer();
            c["is_pep"] = json!(true);
            let o = run_c(tx("T", "ACH", "OUTBOUND", 300.0, DAY), c);
            assert_eq!(codes(&o), vec![EnhancedDueDiligence]);
            assert!(o.requires_review);
            let f = o.finding(EnhancedDueDiligence).expect("edd");
            assert!(
                !f.regulations.iter().any(|r| r == "31 CFR 1010.620"),
                "{:?}",
                f.regulations
            );
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.230"));
        }

        /// 31 CFR 1010.620 applies to private banking accounts of senior
        /// foreign political figures; senior management approval is bank
        /// policy (EDD 5.1), cited as such.
        #[test]
        fn foreign_pep_private_banking_cites_1010_620_and_policy_for_approval() {
            let mut c = customer();
            c["is_pep"] = json!(true);
            c["pep_type"] = json!("FOREIGN");
            let o = run_c(tx("T", "ACH", "OUTBOUND", 300.0, DAY), c.clone());
            let f = o.finding(EnhancedDueDiligence).expect("edd");
            assert!(
                !f.regulations.iter().any(|r| r.contains("1010.620")),
                "{:?}",
                f.regulations
            );
            assert!(
                f.policies.iter().any(|p| p == "EDD 5.1"),
                "{:?}",
                f.policies
            );
            assert!(f.description.contains("bank policy"), "{}", f.description);
            c["private_banking"] = json!(true);
            let o = run_c(tx("T", "ACH", "OUTBOUND", 300.0, DAY), c);
            let f = o.finding(EnhancedDueDiligence).expect("edd");
            assert!(
                f.regulations.iter().any(|r| r == "31 CFR 1010.620"),
                "{:?}",
                f.regulations
            );
            assert!(
                f.policies.iter().any(|p| p == "EDD 5.1"),
                "{:?}",
                f.policies
            );
            // the deadline is the bank's (EDD 6.3: 10 business days)
            assert!(
                f.deadline
                    .as_deref()
                    .is_some_and(|d| d.contains("EDD 6.3") && d.contains("2026-03-24")),
                "{:?}",
                f.deadline
            );
        }

        /// Domestic PEPs get risk-based due diligence (31 CFR 1020.210,
        /// bank procedure EDD 2.7), not automatic EDD.
        #[test]
        fn domestic_pep_gets_risk_based_due_diligence_not_edd() {
            let mut c = customer();
            c["is_pep"] = json!(true);
            c["pep_type"] = json!("DOMESTIC");
            let o = run_c(tx("T", "ACH", "OUTBOUND", 300.0, DAY), c.clone());
            assert!(!o.has(EnhancedDueDiligence), "{:?}", o.actions());
            assert!(!o.requires_review, "{:?}", o.review_reasons);
            assert!(
                o.issues.iter().any(|i| i.title.contains("Domestic")),
                "{:?}",
                o.issues
            );
            // the risk rating still decides
            c["risk_rating"] = json!("HIGH");
            assert!(run_c(tx("T", "ACH", "OUTBOUND", 300.0, DAY), c).has(EnhancedDueDiligence));
        }

        #[test]
        fn high_risk_rating_gets_edd() {
            let mut c = customer();
            c["risk_rating"] = json!("HIGH");
            assert!(run_c(tx("T", "ACH", "OUTBOUND", 300.0, DAY), c).has(EnhancedDueDiligence));
            let mut c = customer();
            c["risk_rating"] = json!("MEDIUM");
            assert!(!run_c(tx("T", "ACH", "OUTBOUND", 300.0, DAY), c).has(EnhancedDueDiligence));
        }

        #[test]
        fn myanmar_is_edd_not_ofac() {
            let o = run(wire("W", 1_000.0, "MM", DAY), vec![]);
            assert_eq!(codes(&o), vec![EnhancedDueDiligence]);
            assert!(o.requires_review);
            let f = o.finding(EnhancedDueDiligence).expect("edd");
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.610"));
            // before the FATF listing (2022-10-21) it is not flagged
            let before = run(wire("W", 1_000.0, "MM", "2022-10-20T12:00:00Z"), vec![]);
            assert!(before.findings.is_empty(), "{:?}", before.actions());
        }
    }

    mod kyc {
        use super::*;

        #[test]
        fn pending_and_expired_need_remediation() {
            for status in ["PENDING", "EXPIRED"] {
                let mut c = customer();
                c["kyc_status"] = json!(status);
                let o = run_c(tx("T", "CARD", "OUTBOUND", 200.0, DAY), c);
                assert_eq!(codes(&o), vec![KycRemediation], "{status}");
                assert!(o.requires_review);
            }
            assert!(!run(tx("T", "CARD", "OUTBOUND", 200.0, DAY), vec![]).has(KycRemediation));
        }

        /// PENDING is the account-opening CIP (31 CFR 1020.220); EXPIRED is
        /// ongoing customer due diligence (31 CFR 1020.210(a)(2)(v)), with
        /// deadlines from the bank's KYC procedure.
        #[test]
        fn expired_kyc_is_ongoing_cdd_1020_210_not_cip() {
            let kyc = |status: &str| {
                let mut c = customer();
                c["kyc_status"] = json!(status);
                run_c(tx("T", "CARD", "OUTBOUND", 200.0, DAY), c)
                    .finding(KycRemediation)
                    .cloned()
                    .expect("kyc")
            };
            let expired = kyc("EXPIRED");
            assert!(
                expired.regulations.iter().any(|r| r == "31 CFR 1020.210"),
                "{:?}",
                expired.regulations
            );
            assert!(
                !expired.regulations.iter().any(|r| r == "31 CFR 1020.220"),
                "{:?}",
                expired.regulations
            );
            assert!(
                expired.description.contains("1020.210(a)(2)(v)"),
                "{}",
                expired.description
            );
            assert!(
                expired.policies.iter().any(|p| p == "KYC 7.2"),
                "{:?}",
                expired.policies
            );
            // KYC 7.2: contact within 5 business days of Tuesday 2026-03-10
            assert!(
                expired
                    .deadline
                    .as_deref()
                    .is_some_and(|d| d.contains("by 2026-03-17")),
                "{:?}",
                expired.deadline
            );
            let pending = kyc("PENDING");
            assert!(pending.regulations.iter().any(|r| r == "31 CFR 1020.220"));
            assert!(
                pending.policies.iter().any(|p| p == "KYC 6.1"),
                "{:?}",
                pending.policies
            );
            assert!(
                pending
                    .deadline
                    .as_deref()
                    .is_some_and(|d| d.contains("30 calendar days"))
            );
        }
    }

    mod review {
        use super::*;

        #[test]
        fn plain_15000_cash_deposit_is_ctr_without_review() {
            let o = run(cash_in("T", 15_000.0, DAY), vec![]);
            assert_eq!(codes(&o), vec![CtrFiling]);
            assert!(!o.requires_review, "{:?}", o.review_reasons);
            assert_eq!(o.risk_level, RiskLevel::Low);
        }

        #[test]
        fn large_amount_needs_review() {
            assert!(!run(tx("T", "ACH", "OUTBOUND", 50_000.0, DAY), vec![]).requires_review);
            let o = run(tx("T", "ACH", "OUTBOUND", 50_000.01, DAY), vec![]);
            assert!(o.requires_review);
            assert!(o.findings.is_empty());
        }

        #[test]
        fn high_input_risk_score_needs_review() {
            let mut t = tx("T", "ACH", "OUTBOUND", 100.0, DAY);
            t["risk_score"] = json!(0.9);
            assert!(run(t.clone(), vec![]).requires_review);
            t["risk_score"] = json!(0.7);
            assert!(!run(t, vec![]).requires_review);
        }

        #[test]
        fn score_is_bounded_and_levels_follow_cutoffs() {
            let mut c = customer();
            c["is_pep"] = json!(true);
            c["risk_rating"] = json!("HIGH");
            c["kyc_status"] = json!("EXPIRED");
            c["name"] = json!("Mirelda Quorlandt");
            let mut t = wire("W", 900_000.0, "IR", DAY);
            t["risk_score"] = json!(1.0);
            let o = run_c(t, c);
            assert!((0.0..=1.0).contains(&o.risk_score));
            assert_eq!(o.risk_score, 1.0);
            assert_eq!(o.risk_level, RiskLevel::High);
            // medium: a HIGH-rated customer's $20,000 wire
            let mut c = customer();
            c["risk_rating"] = json!("HIGH");
            let o = run_c(wire("W", 20_000.0, "DE", DAY), c);
            assert_eq!(o.risk_level, RiskLevel::Medium, "score {}", o.risk_score);
        }

        #[test]
        fn evaluation_is_deterministic_and_order_independent() {
            let recent = vec![
                cash_in("T1", 4_000.0, "2026-03-10T09:00:00Z"),
                cash_in("T2", 4_000.0, "2026-03-10T11:00:00Z"),
                wire("W0", 3_500.0, "CU", "2026-03-08T11:00:00Z"),
            ];
            let mut reversed = recent.clone();
            reversed.reverse();
            let a = run(cash_in("T3", 4_000.0, DAY), recent.clone());
            let b = run(cash_in("T3", 4_000.0, DAY), recent);
            let c = run(cash_in("T3", 4_000.0, DAY), reversed);
            assert_eq!(a, b);
            assert_eq!(a, c);
        }

        #[test]
        fn evaluate_checked_rejects_invalid_input() {
            let mut input = wire_input(cash_in("T", 100.0, DAY), customer(), vec![]);
            input.transaction.amount = -1.0;
            let err = engine().evaluate_checked(&input).expect_err("invalid");
            assert_eq!(err.field, "transaction.amount");
            // plain evaluate takes only parsed input, and parsing refuses non-finite amounts
            let mut nan = input.clone();
            nan.transaction.amount = 100.0;
            nan.recent_transactions.push(Transaction {
                amount: f64::INFINITY,
                ..input.transaction.clone()
            });
            let err = nan.parse().expect_err("infinite amount");
            assert_eq!(err.field, "recent_transactions[0].amount");
            nan.transaction.amount = f64::NAN;
            assert_eq!(nan.parse().expect_err("NaN").field, "transaction.amount");
        }

        #[test]
        fn outcome_serializes_with_wire_codes() {
            let o = run(cash_in("T", 15_000.0, DAY), vec![]);
            let v = serde_json::to_value(&o).expect("serialize");
            assert_eq!(v["findings"][0]["code"], json!("CTR_FILING"));
            assert_eq!(v["findings"][0]["severity"], json!("MEDIUM"));
            assert_eq!(v["risk_level"], json!("LOW"));
            assert_eq!(v["as_of"], json!("2026-03-10"));
        }
    }

    /// Issue 14's remaining legal gaps, one test per regulation.
    mod legal {
        use super::*;

        fn book(amount: f64, counterparty: &str) -> Value {
            let mut t = tx("B", "INTERNAL", "OUTBOUND", amount, DAY);
            t["counterparty_customer_id"] = json!(counterparty);
            t
        }

        /// 31 CFR 1020.410: a book transfer between two customers of the
        /// bank is a funds transfer; between the same customer's accounts
        /// it is excepted (1020.410(a)(6)).
        #[test]
        fn book_transfer_between_customers_is_a_funds_transfer_1020_410() {
            let o = run(book(5_000.0, "C2"), vec![]);
            assert_eq!(codes(&o), vec![TravelRuleRecords]);
            let f = o.finding(TravelRuleRecords).expect("travel");
            assert!(f.description.contains("book transfer"), "{}", f.description);
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1020.410"));
            assert!(!run(book(2_999.99, "C2"), vec![]).has(TravelRuleRecords));
            assert!(!run(book(5_000.0, "C1"), vec![]).has(TravelRuleRecords));
            // a wire between the customer's own accounts at this bank too
            let mut w = wire("W", 5_000.0, "US", DAY);
            w["counterparty_customer_id"] = json!("C1");
            assert!(!run(w, vec![]).has(TravelRuleRecords));
        }

        /// 31 CFR 1020.320(b)(3): the 30 days run from initial detection
        /// of the pattern, not from each later transaction; the 60-day
        /// limit when no suspect is identified is stated.
        #[test]
        fn sar_clock_runs_from_initial_detection_1020_320() {
            let o = run(
                cash_in("T3", 9_700.0, "2026-04-06T14:00:00Z"),
                vec![
                    cash_in("T1", 9_600.0, "2026-04-01T14:00:00Z"),
                    cash_in("T2", 9_800.0, "2026-04-02T14:00:00Z"),
                ],
            );
            let f = o.finding(SarReview).expect("sar");
            assert_eq!(
                f.deadline.as_deref(),
                Some("within 30 calendar days of initial detection on 2026-04-02 (by 2026-05-02)")
            );
            assert!(f.description.contains("60 days"), "{}", f.description);
            assert!(f.description.contains("2026-06-01"), "{}", f.description);
        }

        /// 31 CFR 1020.320 continuing activity: after a SAR, review at 90
        /// days and file within 120 days of the previous filing.
        #[test]
        fn continuing_activity_after_a_sar_1020_320() {
            let mut c = customer();
            c["last_sar_filed_on"] = json!("2026-02-01");
            let input = input_with(
                cash_in("T2", 9_900.0, "2026-04-02T14:00:00Z"),
                c,
                vec![cash_in("T1", 9_600.0, "2026-04-01T14:00:00Z")],
            );
            let o = engine().evaluate(&input);
            let f = o.finding(SarReview).expect("sar");
            assert!(f.title.contains("Continuing"), "{}", f.title);
            let d = f.deadline.as_deref().unwrap_or_default();
            assert!(
                d.contains("review by 2026-05-02") && d.contains("by 2026-06-01"),
                "{d}"
            );
        }

        /// 31 CFR 1010.314: structuring across days and branches whatever
        /// band the current transaction is in (repeated $7,000 deposits).
        #[test]
        fn repeated_sub_threshold_cash_across_days_is_structuring_1010_314() {
            let o = run(
                cash_in("T3", 7_000.0, "2026-04-03T14:00:00Z"),
                vec![
                    cash_in("T1", 7_000.0, "2026-04-01T14:00:00Z"),
                    cash_in("T2", 7_000.0, "2026-04-02T15:00:00Z"),
                ],
            );
            assert!(o.has(SarReview), "{:?}", o.actions());
            let f = o.finding(SarReview).expect("sar");
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.314"));
            assert!(f.description.contains("$21,000.00"), "{}", f.description);
            // two such days are not yet a pattern
            let o = run(
                cash_in("T2", 7_000.0, "2026-04-02T14:00:00Z"),
                vec![cash_in("T1", 7_000.0, "2026-04-01T14:00:00Z")],
            );
            assert!(!o.has(SarReview));
            // a small deposit after near-threshold deposits on two days
            let o = run(
                cash_in("T3", 2_000.0, "2026-04-03T14:00:00Z"),
                vec![
                    cash_in("T1", 9_600.0, "2026-04-01T14:00:00Z"),
                    cash_in("T2", 9_800.0, "2026-04-02T14:00:00Z"),
                ],
            );
            assert!(o.has(SarReview), "{:?}", o.actions());
        }

        /// 31 CFR 1010.314: three ordinary deposits in one day by a cash
        /// business are a CTR by aggregation, not structuring.
        #[test]
        fn cash_business_with_three_deposits_in_a_day_is_not_structuring() {
            let mut c = customer();
            c["customer_type"] = json!("BUSINESS");
            c["name"] = json!("Corner Deli LLC");
            let input = input_with(
                cash_in("T3", 4_000.0, DAY),
                c,
                vec![
                    cash_in("T1", 4_000.0, "2026-03-10T09:00:00Z"),
                    cash_in("T2", 4_000.0, "2026-03-10T11:00:00Z"),
                ],
            );
            let o = engine().evaluate(&input);
            assert_eq!(codes(&o), vec![CtrFiling]);
            // the piece count is rule data
            let e = engine_with(
                "split_min_pieces_customer_types = [\"INDIVIDUAL\"]",
                "split_min_pieces_customer_types = [\"INDIVIDUAL\", \"BUSINESS\"]",
            );
            assert!(e.evaluate(&input).has(SarReview));
        }

        /// 31 CFR 1010.415: cash purchases of monetary instruments from
        /// $3,000 to $10,000 inclusive need the record; above is a CTR.
        #[test]
        fn cash_purchase_of_monetary_instruments_needs_record_1010_415() {
            let buy = |id: &str, amount: f64, ts: &str| {
                tx(id, "MONETARY_INSTRUMENT_PURCHASE", "INBOUND", amount, ts)
            };
            let o = run(buy("M", 3_000.0, DAY), vec![]);
            assert_eq!(codes(&o), vec![MonetaryInstrumentRecord]);
            let f = o.finding(MonetaryInstrumentRecord).expect("record");
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.415"));
            assert!(!o.requires_review);
            assert!(run(buy("M", 10_000.0, DAY), vec![]).has(MonetaryInstrumentRecord));
            assert!(run(buy("M", 2_999.99, DAY), vec![]).findings.is_empty());
            let o = run(buy("M", 10_000.01, DAY), vec![]);
            assert_eq!(codes(&o), vec![CtrFiling], "cash in above $10,000");
            // contemporaneous purchases are one purchase (1010.415(b))
            let o = run(
                buy("M2", 1_600.0, DAY),
                vec![buy("M1", 1_500.0, "2026-03-10T13:00:00Z")],
            );
            assert!(o.has(MonetaryInstrumentRecord));
        }

        /// 31 CFR 1020.315: an exempt person's cash gets no CTR, and the
        /// analysis says why.
        #[test]
        fn exempt_person_gets_no_ctr_and_is_told_why_1020_315() {
            let mut c = customer();
            c["ctr_exempt"] = json!(true);
            c["customer_type"] = json!("BUSINESS");
            let o = run_c(cash_in("T", 25_000.0, DAY), c);
            assert!(!o.has(CtrFiling));
            let issue = o
                .issues
                .iter()
                .find(|i| i.regulations.iter().any(|r| r == "31 CFR 1020.315"));
            assert!(
                issue.is_some_and(|i| i.explanation.contains("exempt person")),
                "{:?}",
                o.issues
            );
            assert!(run(cash_in("T", 25_000.0, DAY), vec![]).has(CtrFiling));
        }

        /// 31 CFR 501.601 and 501.603(b)(2): OFAC records 10 years from
        /// 2025-03-21 (5 before), and the annual report due September 30.
        #[test]
        fn ofac_records_and_annual_report_501_601_501_603() {
            let o = run(wire("W", 9_000.0, "CU", DAY), vec![]);
            let f = o.finding(OfacBlockOrReject).expect("ofac");
            assert!(f.description.contains("10 years"), "{}", f.description);
            assert!(
                f.description.contains("due by 2026-09-30"),
                "{}",
                f.description
            );
            let o = run(wire("W", 9_000.0, "CU", "2025-03-10T14:00:00Z"), vec![]);
            let f = o.finding(OfacBlockOrReject).expect("ofac");
            assert!(f.description.contains("5 years"), "{}", f.description);
            // BSA records five years (1010.430)
            let o = run(cash_in("T", 15_000.0, DAY), vec![]);
            let f = o.finding(CtrFiling).expect("ctr");
            assert!(f.regulations.iter().any(|r| r == "31 CFR 1010.430"));
            assert!(f.description.contains("5 years"), "{}", f.description);
        }
    }

    /// Typed due dates: the date each finding's deadline text names,
    /// computed as of the transaction with the rules' holiday calendar.
    mod due_dates {
        use super::*;
        use chrono::NaiveDate;

        fn d(s: &str) -> NaiveDate {
            s.parse().expect("date")
        }

        /// 31 CFR 501.603/501.604: 10 business days. A wire rejected on
        /// Wednesday 2026-05-20 crosses a weekend and Memorial Day
        /// (Monday 2026-05-25): day 10 is Thursday 2026-06-04 (it would
        /// be 06-03 without the holiday).
        #[test]
        fn ofac_report_due_date_skips_weekend_and_federal_holiday() {
            let o = run(wire("W", 5_000.0, "IR", "2026-05-20T14:00:00Z"), vec![]);
            let f = o.finding(OfacBlockOrReject).expect("ofac");
            assert_eq!(f.due_on, Some(d("2026-06-04")));
            assert!(f.deadline.as_deref().unwrap_or_default().contains("by 2026-06-04"));
        }

        /// 31 CFR 1010.306(a)(1): 15 days after the business day; a
        /// Saturday deposit belongs to Monday's business day (1010.313).
        #[test]
        fn ctr_due_fifteen_days_after_the_business_day() {
            let o = run(cash_in("T", 12_000.0, DAY), vec![]);
            assert_eq!(o.finding(CtrFiling).and_then(|f| f.due_on), Some(d("2026-03-25")));
            // Saturday 2026-05-23, before the holiday Monday: business day Tuesday 05-26.
            let o = run(cash_in("T", 12_000.0, "2026-05-23T15:00:00Z"), vec![]);
            assert_eq!(o.business_day, d("2026-05-26"));
            assert_eq!(o.finding(CtrFiling).and_then(|f| f.due_on), Some(d("2026-06-10")));
        }

        /// 31 CFR 1020.320(b)(3): 30 days from initial detection (not the
        /// 60-day no-suspect limit); continuing activity: 120 days after
        /// the last SAR.
        #[test]
        fn sar_due_thirty_days_from_detection_or_continuing_filing_date() {
            let o = run(
                cash_in("T3", 9_700.0, "2026-04-06T14:00:00Z"),
                vec![
                    cash_in("T1", 9_600.0, "2026-04-01T14:00:00Z"),
                    cash_in("T2", 9_800.0, "2026-04-02T14:00:00Z"),
                ],
            );
            assert_eq!(o.finding(SarReview).and_then(|f| f.due_on), Some(d("2026-05-02")));
            let mut c = customer();
            c["last_sar_filed_on"] = json!("2026-02-01");
            let o = engine().evaluate(&input_with(
                cash_in("T2", 9_900.0, "2026-04-02T14:00:00Z"),
                c,
                vec![cash_in("T1", 9_600.0, "2026-04-01T14:00:00Z")],
            ));
            assert_eq!(o.finding(SarReview).and_then(|f| f.due_on), Some(d("2026-06-01")));
        }

        /// EDD and KYC dates come from the bank's procedures in rules.toml
        /// (business days to start EDD, to contact an expired-KYC customer),
        /// and follow the setting.
        #[test]
        fn edd_and_kyc_due_dates_follow_the_bank_procedure_settings() {
            let mut c = customer();
            c["risk_rating"] = json!("HIGH");
            c["kyc_status"] = json!("EXPIRED");
            let input = input_with(tx("T", "CARD", "OUTBOUND", 200.0, "2026-05-22T14:00:00Z"), c, vec![]);
            let o = engine().evaluate(&input);
            for f in &o.findings {
                let due = f.due_on.unwrap_or_else(|| panic!("{} has no due date", f.code));
                let text = f.deadline.as_deref().unwrap_or_default();
                assert!(text.contains(&format!("by {due}")), "{}: {text} vs {due}", f.code);
                // Friday 05-22 + business days: never a weekend or Memorial Day.
                assert!(due > d("2026-05-25"), "{}: {due}", f.code);
            }
            let edd = o.finding(EnhancedDueDiligence).and_then(|f| f.due_on).expect("edd");
            let longer = engine_with("review_start_business_days = 10", "review_start_business_days = 20")
                .evaluate(&input);
            let later = longer.finding(EnhancedDueDiligence).and_then(|f| f.due_on).expect("edd");
            assert!(later > edd, "{later} vs {edd}");
        }

        /// Travel-rule records have no date of their own.
        #[test]
        fn travel_rule_records_have_no_due_date() {
            let o = run(wire("W", 5_000.0, "DE", DAY), vec![]);
            assert_eq!(o.finding(TravelRuleRecords).map(|f| f.due_on), Some(None));
        }
    }
}
