//! `window_funnel`, `window_funnel_detail` and `window_funnel_totals`: the longest prefix of
//! ordered steps completed within a window, the chain that completes it, and every attempt.

mod detail;
mod level;
mod mode;
mod totals;
mod udaf;
mod values;

pub use detail::WindowFunnelDetail;
pub use level::funnel_level;
pub use mode::FunnelMode;
pub use totals::WindowFunnelTotals;
pub use udaf::WindowFunnel;
pub use values::WindowFunnelValues;
