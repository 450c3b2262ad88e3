//! The HTML report of a nightly run: one self-contained file of cards, charts and tables
//! that operators open instead of the CSV files. `userlake report` renders a committed run;
//! a job's `builtin = "report"` step renders its own run and commits the file with it.
//!
//! The report reads only the run's published tables (by name, in the session it is given),
//! so what it shows is what the CSV and Parquet files hold. A section whose table the run did
//! not publish, that has no rows, or whose columns are not what the report reads, says
//! "No data" and why; the report never fails for it.

mod charts;
mod format;
mod page;
mod rows;
mod sections;

use datafusion::prelude::SessionContext;

use crate::runs::RunRecord;

/// The report's file name in a run directory, unless the step names another.
pub const REPORT_FILE: &str = "report.html";

/// What the report says of the run it shows.
#[derive(Debug, Clone)]
pub struct ReportRun {
    pub job: String,
    pub date: String,
    pub run_id: String,
    pub lake: String,
    pub committed_at: Option<String>,
    /// `runs/<date>/<run-id>` of the run the identity changes are counted from.
    pub previous_run: Option<String>,
    /// The job's `time_zone` variable: the zone its days are counted in.
    pub time_zone: Option<String>,
}

impl ReportRun {
    pub fn of(record: &RunRecord, committed_at: Option<&str>) -> Self {
        ReportRun {
            job: record.job.clone(),
            date: record.date.clone(),
            run_id: record.run_id.clone(),
            lake: record.lake.clone(),
            committed_at: committed_at.map(str::to_string),
            previous_run: record.previous_run.clone(),
            time_zone: record.variables.get("time_zone").cloned(),
        }
    }
}

/// The report's HTML, from the tables registered in `ctx`.
pub async fn render(ctx: &SessionContext, run: &ReportRun) -> String {
    let sections = sections::all(ctx, run).await;
    page::render(run, &sections)
}
