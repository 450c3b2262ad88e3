//! `referral_tree('referrals' [, options])`: the fission tree of accepted invitations.

pub mod tree;
pub mod udtf;

pub use udtf::{REFERRAL_TREE_DOC, ReferralTreeExec, ReferralTreeFunction};
