//! `window_funnel`: the longest prefix of ordered steps completed within a window.

mod level;
mod mode;
mod udaf;

pub use level::funnel_level;
pub use mode::FunnelMode;
pub(crate) use udaf::BEHAVIOUR_SECTION;
pub use udaf::WindowFunnel;
