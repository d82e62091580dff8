//! Owns the PNG comparing modes: grouped bars (one group per metric, one bar per mode)
//! drawn with plotters' bitmap backend. Text needs a font file: the first of
//! [`FONT_PATHS`] that exists (Debian's fonts-dejavu-core) is used through ab_glyph; with
//! none, the plot is drawn without text and the Markdown report carries the legend.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::Report;

/// Metrics plotted, in group order.
pub const METRICS: [&str; 6] = ["recall@5", "recall@10", "recall@20", "map@10", "ndcg@10", "mrr@10"];

/// Bar colours, one per mode, in mode order (cycled).
pub const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

pub fn colour_name(c: RGBColor) -> &'static str {
    match COLOURS.iter().position(|x| *x == c) {
        Some(0) => "blue",
        Some(1) => "orange",
        Some(2) => "green",
        Some(3) => "red",
        Some(4) => "purple",
        Some(5) => "brown",
        Some(6) => "pink",
        _ => "grey",
    }
}

/// Font files tried, in order.
pub const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// What was drawn.
#[derive(Debug, Clone, Copy)]
pub struct Drawn {
    /// Whether the plot has text (a font was found).
    pub labelled: bool,
}

fn font() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let path = std::env::var("REAGENT_EVAL_FONT").ok().into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for p in path {
            if let Ok(bytes) = std::fs::read(&p) {
                // Fonts live as long as the process; registering needs 'static bytes.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

pub fn draw(path: &Path, report: &Report) -> DrawResult<Drawn> {
    let labelled = font();
    let (w, h) = (1100i32, 560i32);
    let root = BitMapBackend::new(path, (w as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right, top, bottom) = (60, 20, 50, if labelled { 40 + 22 * report.modes.len().div_ceil(3) as i32 } else { 30 });
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let y_of = |v: f64| top + plot_h - (v.clamp(0.0, 1.0) * plot_h as f64).round() as i32;
    let grey = RGBColor(220, 220, 220);
    for i in 0..=10 {
        let v = f64::from(i) / 10.0;
        let y = y_of(v);
        root.draw(&PathElement::new(vec![(left, y), (left + plot_w, y)], ShapeStyle::from(&grey).stroke_width(1)))?;
        if labelled && i % 2 == 0 {
            root.draw(&Text::new(format!("{v:.1}"), (left - 35, y - 7), ("sans-serif", 14).into_font()))?;
        }
    }
    root.draw(&PathElement::new(vec![(left, top), (left, top + plot_h), (left + plot_w, top + plot_h)], ShapeStyle::from(&BLACK).stroke_width(1)))?;
    let groups = METRICS.len() as i32;
    let group_w = plot_w / groups;
    let n = report.modes.len().max(1) as i32;
    let bar_w = ((group_w as f64 * 0.8) / f64::from(n)).max(1.0) as i32;
    for (g, metric) in METRICS.iter().enumerate() {
        let x0 = left + g as i32 * group_w + (group_w - bar_w * n) / 2;
        for (m, (mode, colour)) in report.modes.iter().zip(COLOURS.iter().cycle()).enumerate() {
            let v = mode.metrics.get(*metric).copied().unwrap_or(0.0);
            let x = x0 + m as i32 * bar_w;
            root.draw(&Rectangle::new([(x, y_of(v)), (x + bar_w - 2, y_of(0.0))], colour.filled()))?;
        }
        if labelled {
            root.draw(&Text::new(metric.to_string(), (left + g as i32 * group_w + group_w / 2 - 35, top + plot_h + 8), ("sans-serif", 16).into_font()))?;
        }
    }
    if labelled {
        let title = format!(
            "{} questions, {} passages",
            report.dataset.queries_run, report.dataset.corpus_passages
        );
        root.draw(&Text::new(title, (left, 15), ("sans-serif", 20).into_font()))?;
        for (m, (mode, colour)) in report.modes.iter().zip(COLOURS.iter().cycle()).enumerate() {
            let col = (m % 3) as i32;
            let row = (m / 3) as i32;
            let x = left + col * (plot_w / 3);
            let y = top + plot_h + 36 + row * 22;
            root.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], colour.filled()))?;
            let mut label = mode.spec.label.clone();
            if label.len() > 40 {
                label.truncate(40);
            }
            root.draw(&Text::new(label, (x + 20, y), ("sans-serif", 14).into_font()))?;
        }
    }
    root.present()?;
    Ok(Drawn { labelled })
}
