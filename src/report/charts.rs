//! The report's charts as Apache ECharts options, built from a section's rows. Only data and
//! layout are set here; the page's script (`assets/report.js`) adds the number formatters,
//! named by each axis's and series' `format`, because ECharts takes them as functions.
//!
//! Every chart counts its series and points (values that are not missing; a Sankey diagram's
//! links) as it is built;
//! the page carries both (`data-series`, `data-points`) so a test can check that the chart
//! ECharts drew holds exactly the data the report meant to draw.

use serde_json::{Value, json};

use super::format::Kind;

/// A chart ready for the page.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    /// One sentence under the chart: what a mark is and how to read it.
    pub caption: String,
    pub option: Value,
    pub series: usize,
    pub points: usize,
    /// In CSS pixels.
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Bar,
    Line,
}

/// One series of a chart over categories.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub mark: Mark,
    pub values: Vec<Option<f64>>,
    pub kind: Kind,
    /// The value axis it is drawn against (0, or 1 for the second).
    pub axis: usize,
    pub stack: Option<&'static str>,
    /// Print each value on its mark.
    pub labels: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, mark: Mark, kind: Kind, values: Vec<Option<f64>>) -> Self {
        Series {
            name: name.into(),
            mark,
            values,
            kind,
            axis: 0,
            stack: None,
            labels: false,
        }
    }

    pub fn on_axis(mut self, axis: usize) -> Self {
        self.axis = axis;
        self
    }

    pub fn stacked(mut self, stack: &'static str) -> Self {
        self.stack = Some(stack);
        self
    }

    pub fn labelled(mut self) -> Self {
        self.labels = true;
        self
    }
}

/// A value axis: its title and how its numbers print.
#[derive(Debug, Clone)]
pub struct Axis {
    pub name: String,
    pub kind: Kind,
}

impl Axis {
    pub fn new(name: impl Into<String>, kind: Kind) -> Self {
        Axis {
            name: name.into(),
            kind,
        }
    }
}

/// Bars and lines over categories (days, steps, channels). `horizontal` lays the categories
/// down the side, for long names.
pub fn categories(
    title: impl Into<String>,
    caption: impl Into<String>,
    categories: &[String],
    axes: &[Axis],
    series: Vec<Series>,
    horizontal: bool,
) -> Chart {
    let widest = widest_label(categories);
    // every label shown (the page wraps them to the width each has) up to a couple of dozen;
    // past that, as many as fit
    let label = if categories.len() <= 24 {
        json!({ "interval": 0 })
    } else {
        json!({ "hideOverlap": true })
    };
    let category_axis = json!({
        "type": "category",
        "data": categories,
        "inverse": horizontal,
        "axisLabel": label,
        "axisTick": { "alignWithLabel": true },
    });
    let value_axes: Vec<Value> = axes
        .iter()
        .enumerate()
        .map(|(i, axis)| {
            json!({
                "type": "value",
                "name": axis.name,
                "format": axis.kind.name(),
                "position": match (horizontal, i) {
                    (true, 0) => "bottom",
                    (true, _) => "top",
                    (false, 0) => "left",
                    (false, _) => "right",
                },
                "nameLocation": if horizontal { "middle" } else { "end" },
                "nameGap": if horizontal { 28 } else { 12 },
                // a title over the left axis starts there, over the right one ends there
                "nameTextStyle": { "align": match (horizontal, i) {
                    (true, _) => "center",
                    (false, 0) => "left",
                    (false, _) => "right",
                } },
                "splitLine": { "show": i == 0 },
            })
        })
        .collect();
    let points = series
        .iter()
        .map(|s| s.values.iter().flatten().count())
        .sum();
    let count = series.len();
    let many = series.len() > 1;
    // labels on both bars and lines would collide at the bars' tops: bars take theirs inside
    let labelled_lines = series.iter().any(|s| s.mark == Mark::Line && s.labels);
    let points_per_line = categories.len();
    let series: Vec<Value> = series
        .into_iter()
        .map(|s| {
            let mut one = json!({
                "type": match s.mark { Mark::Bar => "bar", Mark::Line => "line" },
                "name": s.name,
                "data": s.values,
                "format": s.kind.name(),
                "connectNulls": false,
                "showSymbol": points_per_line <= 31,
                "label": {
                    "show": s.labels,
                    "position": if horizontal { "right" } else { "top" },
                },
            });
            let axis_key = if horizontal {
                "xAxisIndex"
            } else {
                "yAxisIndex"
            };
            one[axis_key] = json!(s.axis);
            if s.stack.is_some() || (labelled_lines && s.mark == Mark::Bar) {
                one["label"]["position"] = json!(if horizontal {
                    "insideRight"
                } else {
                    "insideTop"
                });
                one["label"]["color"] = json!("#fff");
            }
            if let Some(stack) = s.stack {
                one["stack"] = json!(stack);
            }
            one
        })
        .collect();
    let (x_axis, y_axis) = if horizontal {
        (json!(value_axes), json!(category_axis))
    } else {
        (json!(category_axis), json!(value_axes))
    };
    let height = if horizontal {
        (categories.len() as u32 * 28 + 90).clamp(220, 900)
    } else {
        320
    };
    let option = json!({
        "tooltip": { "trigger": "axis", "axisPointer": { "type": if horizontal { "shadow" } else { "line" } } },
        "legend": { "show": many, "type": "scroll", "top": 0 },
        "grid": grid(horizontal, many, widest),
        "xAxis": x_axis,
        "yAxis": y_axis,
        "series": series,
    });
    Chart {
        title: title.into(),
        caption: caption.into(),
        option,
        series: count,
        points,
        height,
    }
}

/// One labelled bar per category: the simplest chart, of one measure.
pub fn bars(
    title: impl Into<String>,
    caption: impl Into<String>,
    categories_of: &[String],
    axis: Axis,
    values: Vec<Option<f64>>,
) -> Chart {
    let series = Series::new(axis.name.clone(), Mark::Bar, axis.kind, values).labelled();
    categories(title, caption, categories_of, &[axis], vec![series], false)
}

/// The plot area's margins. Category labels down the side get a margin as wide as the
/// longest of them: ECharts measures only some labels when it makes room for them itself,
/// and cut the others.
fn grid(horizontal: bool, legend: bool, widest: u32) -> Value {
    if horizontal {
        json!({ "left": widest + 16, "right": 56, "top": 72, "bottom": 48, "containLabel": false })
    } else {
        json!({ "left": 12, "right": 24, "top": if legend { 48 } else { 32 }, "bottom": 12, "containLabel": true })
    }
}

/// About how wide the widest label is in pixels at 12px: CJK characters twice as wide as
/// others.
fn widest_label(labels: &[String]) -> u32 {
    labels
        .iter()
        .map(|label| {
            label
                .chars()
                .map(|c| if c >= '\u{2e80}' { 12 } else { 7 })
                .sum::<u32>()
        })
        .max()
        .unwrap_or(0)
}

/// A grid of cells coloured by value (the retention cohorts): `cells` are (column, row,
/// value); a cell that is absent is drawn blank, never as 0.
pub fn heatmap(
    title: impl Into<String>,
    caption: impl Into<String>,
    columns: &[String],
    rows: &[String],
    cells: &[(usize, usize, f64)],
    kind: Kind,
) -> Chart {
    let title = title.into();
    let max = cells.iter().map(|c| c.2).fold(0.0_f64, f64::max);
    let data: Vec<Value> = cells.iter().map(|(x, y, v)| json!([x, y, v])).collect();
    let option = json!({
        "tooltip": { "position": "top" },
        "grid": { "left": widest_label(rows) + 16, "right": 24, "top": 16, "bottom": 84, "containLabel": false },
        "xAxis": { "type": "category", "data": columns, "splitArea": { "show": true }, "axisLabel": { "interval": 0, "wrapWords": true } },
        "yAxis": { "type": "category", "data": rows, "inverse": true, "splitArea": { "show": true } },
        "visualMap": {
            "min": 0, "max": if max > 0.0 { max } else { 1.0 }, "calculable": true,
            "orient": "horizontal", "left": "center", "bottom": 0, "format": kind.name(),
            "inRange": { "color": ["#f7fbff", "#6baed6", "#08306b"] },
        },
        "series": [{
            "type": "heatmap", "name": title, "data": data, "format": kind.name(),
            "label": { "show": true, "fontSize": 11 },
            "emphasis": { "itemStyle": { "borderColor": "#333", "borderWidth": 1 } },
        }],
    });
    Chart {
        title,
        caption: caption.into(),
        option,
        series: 1,
        points: cells.len(),
        height: (rows.len() as u32 * 26 + 110).clamp(240, 1200),
    }
}

/// An estimate per category with its confidence interval (an experiment's arms): a bar for
/// the estimate, labelled with the interval, and the interval drawn as a thin box across it.
pub fn intervals(
    title: impl Into<String>,
    caption: impl Into<String>,
    categories: &[String],
    estimates: &[(Option<f64>, Option<f64>, Option<f64>)],
    kind: Kind,
) -> Chart {
    let bars: Vec<Value> = estimates
        .iter()
        .map(|(estimate, low, high)| json!({ "value": estimate, "low": low, "high": high }))
        .collect();
    // candlestick data is [open, close, lowest, highest]: open = low, close = high draws the
    // interval as a box
    let whiskers: Vec<Value> = estimates
        .iter()
        .map(|(_, low, high)| match (low, high) {
            (Some(low), Some(high)) => json!([low, high, low, high]),
            _ => json!("-"),
        })
        .collect();
    let points = estimates.iter().filter(|e| e.0.is_some()).count()
        + estimates
            .iter()
            .filter(|e| e.1.is_some() && e.2.is_some())
            .count();
    let option = json!({
        "tooltip": { "trigger": "item" },
        "legend": { "show": true, "top": 0 },
        "grid": { "left": 12, "right": 24, "top": 48, "bottom": 12, "containLabel": true },
        "xAxis": { "type": "category", "data": categories, "axisLabel": { "interval": 0 } },
        "yAxis": { "type": "value", "format": kind.name() },
        "series": [
            {
                "type": "bar", "name": "estimate", "data": bars, "format": kind.name(),
                "interval": true, "barMaxWidth": 56,
                "label": { "show": true, "position": "insideBottom" },
                "itemStyle": { "color": "#91cc75" },
            },
            {
                "type": "candlestick", "name": "95% interval", "data": whiskers, "barMaxWidth": 8,
                "silent": true, "tooltip": { "show": false },
                "itemStyle": { "color": "#333", "color0": "#333", "borderColor": "#333", "borderColor0": "#333" },
            },
        ],
    });
    Chart {
        title: title.into(),
        caption: caption.into(),
        option,
        series: 2,
        points,
        height: 320,
    }
}

/// A flow diagram (user paths): `nodes` are (label, column) with columns from 0 at the left,
/// `links` are (source node, target node, value). A label may appear in several columns: each
/// column's node is named apart by invisible zero-width spaces, so ECharts keeps them
/// distinct while the page shows the label alone.
pub fn sankey(
    title: impl Into<String>,
    caption: impl Into<String>,
    nodes: &[(String, usize)],
    links: &[(usize, usize, f64)],
    kind: Kind,
) -> Chart {
    let title = title.into();
    let name = |(label, column): &(String, usize)| format!("{label}{}", "\u{200b}".repeat(*column));
    let data: Vec<Value> = nodes
        .iter()
        .map(|node| json!({ "name": name(node), "depth": node.1 }))
        .collect();
    let link_data: Vec<Value> = links
        .iter()
        .map(|&(source, target, value)| {
            json!({ "source": name(&nodes[source]), "target": name(&nodes[target]), "value": value })
        })
        .collect();
    let columns = nodes.iter().map(|n| n.1).max().unwrap_or(0) as u32 + 1;
    let per_column = (0..columns as usize)
        .map(|c| nodes.iter().filter(|n| n.1 == c).count())
        .max()
        .unwrap_or(1) as u32;
    let option = json!({
        "tooltip": { "trigger": "item" },
        "series": [{
            "type": "sankey", "name": title, "data": data, "links": link_data,
            "format": kind.name(),
            "nodeAlign": "left", "layoutIterations": 0, "draggable": false,
            "left": 8, "right": 120, "top": 16, "bottom": 16, "nodeGap": 10,
            "emphasis": { "focus": "adjacency" },
            "lineStyle": { "color": "gradient", "curveness": 0.5, "opacity": 0.35 },
            "label": { "fontSize": 11 },
        }],
    });
    Chart {
        title,
        caption: caption.into(),
        option,
        series: 1,
        // the links carry the values (see tests/browser/check_report.mjs)
        points: links.len(),
        height: (per_column * 34 + 60).clamp(280, 900),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_count_what_they_draw() {
        let days = vec!["d1".to_string(), "d2".to_string(), "d3".to_string()];
        let chart = categories(
            "t",
            "c",
            &days,
            &[Axis::new("people", Kind::Count)],
            vec![
                Series::new(
                    "a",
                    Mark::Line,
                    Kind::Count,
                    vec![Some(1.0), None, Some(3.0)],
                ),
                Series::new(
                    "b",
                    Mark::Bar,
                    Kind::Count,
                    vec![Some(1.0), Some(2.0), Some(0.0)],
                ),
            ],
            false,
        );
        assert_eq!((chart.series, chart.points), (2, 5));
        // a missing value stays missing: null, never 0
        assert_eq!(chart.option["series"][0]["data"][1], Value::Null);
        assert_eq!(chart.option["series"][1]["data"][2], json!(0.0));

        let cells = [(0, 0, 0.5), (1, 0, 0.25)];
        let map = heatmap(
            "r",
            "c",
            &["day 1".into(), "day 7".into()],
            &["w1".into(), "w2".into()],
            &cells,
            Kind::Percent,
        );
        assert_eq!((map.series, map.points), (1, 2));
    }
}
