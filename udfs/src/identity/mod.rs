//! Identity functions: the identifier normaliser and placeholder test that OneID stitching
//! uses, exposed to SQL so analysts key their own queries the same way, and the hashing and
//! masking of identifiers for outputs that must not show them.

mod anchor;
mod normalize;
mod privacy;
mod udfs;

pub use anchor::AnchorIdentifier;
pub use normalize::{is_placeholder, normalize, normalize_typed};
pub use privacy::{HashId, MaskPhone, masked_phone, salted_hash};
pub use udfs::{IsPlaceholderId, NormalizeId};
