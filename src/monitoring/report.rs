//! Owns the report on a period's quality figures for examiners
//! (`reagent report monthly`): a Markdown file whose charts are SVG files beside it,
//! or one self-contained HTML file with the charts inline. Both carry the period's
//! figures, each day's figures, every chart's values as a table, and the method.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::chart::{Chart, escape};
use super::{Figures, Period};

/// How the figures were obtained, for the reader of a report.
pub fn method(figures: &Figures) -> Vec<String> {
    vec![
        format!(
            "Days are calendar days in the institution's time zone ({}); an analysis counts on the day it was made, a decision on the day it was recorded.",
            figures.time_zone
        ),
        "Review rate: analyses requiring review over all analyses.".into(),
        "Review queue at the close of a day: analyses requiring review made before the day ended with no decision recorded by then; any decision takes an analysis out of the queue. Overdue: queue items whose earliest due date lies before that day.".into(),
        "Recommended outcome of an analysis: reject if it requires OFAC_BLOCK_OR_REJECT, else file_sar if it requires SAR_REVIEW, else escalate if it requires review, else approve. Override rate: the share of recorded decisions (first decisions and later ones that supersede them) whose outcome differs from that recommendation.".into(),
        "Rules share: analyses written by the deterministic rules generator (configured, or the fallback when the LLM was unavailable) over all analyses.".into(),
        "Latency: the analysis's own duration as stored with it (processing_time_ms); nearest-rank percentiles.".into(),
        "A rate or percentile of a period with nothing to measure is shown as –.".into(),
        "Not included: feedback on retrieved citations (not recorded by this version).".into(),
    ]
}

/// `(label, value)` of a period's figures, in report order.
pub fn summary_rows(p: &Period) -> Vec<(&'static str, String)> {
    let share = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{:.1} %", v * 100.0));
    let ms = |f: fn(&super::Latency) -> u64| p.latency.as_ref().map_or_else(|| "–".to_string(), |l| format!("{} ms", f(l)));
    vec![
        ("Analyses", p.analyses.to_string()),
        ("Analyses, low risk", p.by_risk.low.to_string()),
        ("Analyses, medium risk", p.by_risk.medium.to_string()),
        ("Analyses, high risk", p.by_risk.high.to_string()),
        ("Requiring review", p.requiring_review.to_string()),
        ("Review rate", share(p.review_rate)),
        ("Review queue at the close", p.queue_size.to_string()),
        ("Overdue at the close", p.overdue.to_string()),
        ("Decisions", p.decisions.total().to_string()),
        ("Decisions: approve", p.decisions.approve.to_string()),
        ("Decisions: escalate", p.decisions.escalate.to_string()),
        ("Decisions: file_sar", p.decisions.file_sar.to_string()),
        ("Decisions: reject", p.decisions.reject.to_string()),
        ("Decisions differing from the recommendation", p.disagreements.to_string()),
        ("Override rate", share(p.override_rate)),
        ("Answered by the rules generator", p.rules_answers.to_string()),
        ("Answered by the LLM", p.llm_answers.to_string()),
        ("Rules share", share(p.rules_share)),
        ("Latency p50", ms(|l| l.p50_ms)),
        ("Latency p95", ms(|l| l.p95_ms)),
        ("Latency p99", ms(|l| l.p99_ms)),
    ]
}

fn heading(figures: &Figures) -> String {
    match figures.range.month_label() {
        Some(month) => format!("reagent quality report, {month}"),
        None => format!("reagent quality report, {} to {}", figures.range.from(), figures.range.to()),
    }
}

/// Markdown: the charts are referenced as `{chart_dir}/{chart id}.svg`, which the
/// caller writes from [`Chart::svg`].
pub fn markdown(figures: &Figures, charts: &[Chart], chart_dir: &str, generated_at: DateTime<Utc>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", heading(figures));
    let _ = writeln!(
        md,
        "Period {} to {} ({} days, {}). Generated {}.\n",
        figures.range.from(),
        figures.range.to(),
        figures.days.len(),
        figures.time_zone,
        generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    md.push_str("## Figures of the period\n\n| Figure | Value |\n|---|---:|\n");
    for (label, value) in summary_rows(&figures.total) {
        let _ = writeln!(md, "| {label} | {value} |");
    }
    md.push_str("\n## Charts\n");
    for chart in charts {
        let _ = writeln!(md, "\n### {}\n\n![{}]({chart_dir}/{}.svg)\n", chart.title, chart.title, chart.id);
        let table = chart.table();
        let _ = writeln!(md, "| {} |", table.headers.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(table.headers.len()));
        for (x, cells) in &table.rows {
            let _ = writeln!(md, "| {x} | {} |", cells.join(" | "));
        }
    }
    md.push_str("\n## Method\n\n");
    for line in method(figures) {
        let _ = writeln!(md, "- {line}");
    }
    md
}

/// One HTML file with the charts inline and no external resource.
pub fn html(figures: &Figures, charts: &[Chart], generated_at: DateTime<Utc>) -> String {
    let title = escape(&heading(figures));
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}}\
         table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}th,td{{border:1px solid #bbb;padding:.2rem .5rem}}td{{text-align:right}}\
         svg{{max-width:100%;height:auto}}</style></head><body>\n<h1>{title}</h1>\n<p>Period {} to {} ({} days, {}). Generated {}.</p>\n",
        figures.range.from(),
        figures.range.to(),
        figures.days.len(),
        escape(&figures.time_zone),
        generated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    h.push_str("<h2>Figures of the period</h2>\n<table><tbody>\n");
    for (label, value) in summary_rows(&figures.total) {
        let _ = writeln!(h, "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", escape(label), escape(&value));
    }
    h.push_str("</tbody></table>\n<h2>Charts</h2>\n");
    for chart in charts {
        let _ = writeln!(h, "<section><h3>{}</h3>\n{}", escape(&chart.title), chart.svg());
        let table = chart.table();
        h.push_str("<table><thead><tr>");
        for head in &table.headers {
            let _ = write!(h, "<th scope=\"col\">{}</th>", escape(head));
        }
        h.push_str("</tr></thead><tbody>\n");
        for (x, cells) in &table.rows {
            let _ = write!(h, "<tr><th scope=\"row\">{}</th>", escape(x));
            for c in cells {
                let _ = write!(h, "<td>{}</td>", escape(c));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></section>\n");
    }
    h.push_str("<h2>Method</h2>\n<ul>\n");
    for line in method(figures) {
        let _ = writeln!(h, "<li>{}</li>", escape(&line));
    }
    h.push_str("</ul>\n</body></html>\n");
    h
}
