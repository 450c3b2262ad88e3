//! The documentation sections (function families) every function's `Documentation` names: the
//! pages of the generated reference (`docs/functions/`) and the groups of `SHOW FUNCTIONS`.

use datafusion::logical_expr::DocSection;

pub(crate) const IDENTITY_SECTION: DocSection = DocSection {
    include: true,
    label: "Identity (OneID) functions",
    description: Some("Normalising and vetting identifiers, and stitching them into people"),
};

pub(crate) const BEHAVIOUR_SECTION: DocSection = DocSection {
    include: true,
    label: "Behavioural aggregates",
    description: Some("Funnels, retention, sequences and sessions over a group's events"),
};

pub(crate) const VALUE_SECTION: DocSection = DocSection {
    include: true,
    label: "Customer value functions",
    description: Some("RFM and lifecycle layers, LTV, and fitted repeat-buying models"),
};

pub(crate) const GROWTH_SECTION: DocSection = DocSection {
    include: true,
    label: "Growth functions",
    description: Some("Referral (fission) trees"),
};

pub(crate) const ATTRIBUTION_SECTION: DocSection = DocSection {
    include: true,
    label: "Attribution functions",
    description: Some("Crediting conversions to the channels that led to them"),
};

pub(crate) const EXPERIMENT_SECTION: DocSection = DocSection {
    include: true,
    label: "Experiment functions",
    description: Some("Statistics of A/B tests"),
};

pub(crate) const AUDIENCE_SECTION: DocSection = DocSection {
    include: true,
    label: "Audience bitmap functions",
    description: Some(
        "Sets of people as compressed (roaring) bitmaps: built by aggregates, combined, counted and stored",
    ),
};
