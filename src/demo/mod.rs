//! `cutover demo`: a workspace with a synthetic legacy database, run end to end on a simulated
//! clock.

pub mod generate;

/// The repository's real plan, embedded so the demo works from any folder.
pub const PLAN_FILES: [(&str, &str); 6] = embedded!(
    "../../waves/",
    "catalog.yaml",
    "dc1-colocation.yaml",
    "dc2-colocation.yaml",
    "dc3-colocation.yaml",
    "multi-tenant-cloud.yaml",
    "internet-wireless.yaml",
);
