//! Identity functions: the identifier normaliser and placeholder test that OneID stitching
//! uses, exposed to SQL so analysts key their own queries the same way.

mod normalize;
mod udfs;

pub use normalize::{is_placeholder, normalize};
pub use udfs::{IsPlaceholderId, NormalizeId};
