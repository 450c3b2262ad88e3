//! The report's one HTML file: sections of cards, charts and tables, with the chart library,
//! the styles and the page's script inline, so the file opens with no network (in a mail
//! attachment, on a phone). Every value from the run is escaped by `maud`; chart options
//! travel as JSON in `<script type="application/json">` blocks with `<` escaped.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::ReportRun;
use super::charts::Chart;
use super::format::Kind;

/// Apache ECharts, from the npm package `echarts` (see `assets/echarts/README.md`).
const ECHARTS: &str = include_str!("assets/echarts/echarts.min.js");
pub const ECHARTS_VERSION: &str = "6.1.0";
const SCRIPT: &str = include_str!("assets/report.js");
const STYLE: &str = include_str!("assets/report.css");

/// One section of the report (KPIs, Funnel, ...).
#[derive(Debug, Clone)]
pub struct Section {
    /// The anchor and `data-section` name: `kpis`, `funnel`, ...
    pub id: &'static str,
    pub title: &'static str,
    /// What the section shows and how it is computed, a paragraph each.
    pub intro: Vec<String>,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(id: &'static str, title: &'static str, intro: &[&str]) -> Self {
        Section {
            id,
            title,
            intro: intro.iter().map(|p| p.to_string()).collect(),
            blocks: Vec::new(),
        }
    }

    /// Adds a block; a chart with no value to draw becomes a "No data" note that names it,
    /// never an empty frame of axes.
    pub fn push(&mut self, block: Block) {
        let block = match block {
            Block::Chart(chart) if chart.points == 0 => {
                Block::NoData(format!("{}: no values to draw", chart.title))
            }
            other => other,
        };
        self.blocks.push(block);
    }

    /// The section with nothing to show but why: a missing table, or no rows.
    pub fn no_data(mut self, why: impl Into<String>) -> Self {
        self.blocks.push(Block::NoData(why.into()));
        self
    }
}

#[derive(Debug, Clone)]
pub enum Block {
    Cards(Vec<Card>),
    Chart(Box<Chart>),
    Table(Table),
    /// A heading inside a section.
    Heading(String),
    Note(String),
    /// "no data", and why (no rows, or the run did not publish the table).
    NoData(String),
}

/// A headline number with its change against a reference.
#[derive(Debug, Clone)]
pub struct Card {
    pub label: String,
    pub value: String,
    pub change: Option<String>,
    /// What the change is against ("vs 2026-02-21").
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub caption: String,
    pub columns: Vec<String>,
    /// Which columns hold numbers (right-aligned).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first `text_columns` columns are text and the rest numbers.
    pub fn new(caption: impl Into<String>, columns: &[&str], text_columns: usize) -> Self {
        Table {
            caption: caption.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            numeric: (0..columns.len()).map(|i| i >= text_columns).collect(),
            rows: Vec::new(),
        }
    }

    /// Marks one more column as text (one after the numbers).
    pub fn with_text_column(mut self, column: usize) -> Self {
        if let Some(numeric) = self.numeric.get_mut(column) {
            *numeric = false;
        }
        self
    }
}

pub fn render(run: &ReportRun, sections: &[Section]) -> String {
    let title = format!("{} run of {}", run.job, run.date);
    let mut charts = 0;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "userlake · " (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (title) }
                    p.run {
                        "Run " code { (run.run_id) }
                        @if let Some(committed) = &run.committed_at { ", committed " (committed) }
                        " · lake " code { (run.lake) }
                        @if let Some(zone) = &run.time_zone { " · days in " (zone) }
                    }
                    nav {
                        @for section in sections {
                            a href={ "#" (section.id) } { (section.title) }
                        }
                    }
                }
                main {
                    @for section in sections {
                        section id=(section.id) data-section=(section.id)
                            data-empty=(if section.blocks.iter().all(|b| matches!(b, Block::NoData(_))) { "true" } else { "false" }) {
                            h2 { (section.title) }
                            @for paragraph in &section.intro { p.intro { (paragraph) } }
                            @for block in &section.blocks {
                                (render_block(section.id, block, &mut charts))
                            }
                        }
                    }
                }
                footer {
                    p {
                        "Made by userlake " (env!("CARGO_PKG_VERSION")) " from the run's published tables (" code { "userlake report" } "). "
                        "Charts by Apache ECharts " (ECHARTS_VERSION) " (Apache License 2.0), inlined: this file needs no network. "
                        "Hover a chart for its values; every table's numbers are in the run's CSV and Parquet files."
                    }
                }
                script { (PreEscaped(ECHARTS)) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

fn render_block(section: &str, block: &Block, charts: &mut usize) -> Markup {
    match block {
        Block::Cards(cards) => html! {
            div.cards {
                @for card in cards {
                    div.card {
                        div.label { (card.label) }
                        div.value { (card.value) }
                        @if let Some(change) = &card.change {
                            div.change data-sign=(if change.starts_with('−') { "down" } else if change.starts_with('+') { "up" } else { "flat" }) {
                                (change) " " span.note { (card.note) }
                            }
                        } @else {
                            div.change { span.note { (card.note) } }
                        }
                    }
                }
            }
        },
        Block::Chart(chart) => {
            *charts += 1;
            let id = format!("chart-{section}-{charts}");
            // `<` never appears outside a JSON string, where \u003c reads the same
            let option = serde_json::to_string(&chart.option)
                .unwrap_or_else(|_| "{}".to_string())
                .replace('<', "\\u003c");
            html! {
                figure.chart-block {
                    figcaption { (chart.title) }
                    div.chart id=(id) data-option={ (id) "-option" }
                        data-series=(chart.series) data-points=(chart.points)
                        style={ "height:" (chart.height) "px" } {}
                    script type="application/json" id={ (id) "-option" } { (PreEscaped(option)) }
                    p.caption { (chart.caption) }
                }
            }
        }
        Block::Table(table) => html! {
            div.table-wrap {
                table {
                    caption { (table.caption) }
                    thead { tr { @for (i, column) in table.columns.iter().enumerate() {
                        th.num[table.numeric.get(i).copied().unwrap_or(false)] { (column) }
                    } } }
                    tbody {
                        @for row in &table.rows {
                            tr { @for (i, cell) in row.iter().enumerate() {
                                td.num[table.numeric.get(i).copied().unwrap_or(false)] { (cell) }
                            } }
                        }
                    }
                }
            }
        },
        Block::Heading(text) => html! { h3 { (text) } },
        Block::Note(text) => html! { p.note { (text) } },
        Block::NoData(why) => html! {
            div.no-data { strong { "No data" } ": " (why) }
        },
    }
}

/// A card of `kind` for `now`, with its change against `before`.
pub fn card(label: &str, kind: Kind, now: Option<f64>, before: Option<f64>, note: &str) -> Card {
    Card {
        label: label.to_string(),
        value: kind.print(now),
        change: kind.change(now, before),
        note: note.to_string(),
    }
}
