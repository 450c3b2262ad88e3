//! `window_funnel` and `window_funnel_detail`: the longest prefix of ordered steps completed
//! within a window, and the chain that completes it.

mod detail;
mod level;
mod mode;
mod udaf;

pub use detail::WindowFunnelDetail;
pub use level::funnel_level;
pub use mode::FunnelMode;
pub(crate) use udaf::BEHAVIOUR_SECTION;
pub use udaf::WindowFunnel;
