//! The guard rails of identity stitching, read from TOML.
//!
//! ```toml
//! # Types by trust, highest first: the anchor of a person is its highest-priority identifier,
//! # and edges between trusted types are applied first. `*` matches any run of characters.
//! # Types not listed rank after every listed type, by name.
//! priority = ["member_id", "unionid", "phone", "email", "*_buyer_id", "openid", "device_id", "cookie_id"]
//!
//! [limits]        # at most N identifiers of a type per person
//! member_id = 1
//!
//! [hubs]          # an identifier linked to more distinct identifiers than this is a hub
//! default = 25
//! device_id = 10
//!
//! [placeholders]  # values that identify nobody, on top of the built-in list
//! values = ["test"]            # any type; compared case-insensitively with the normalised value
//! patterns = ["^tmp_"]         # regexes over the normalised value, any type
//! [placeholders.types.phone]
//! values = ["8613800138000"]
//! patterns = []
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::common::{DataFusionError, Result, plan_err};
use regex::Regex;
use serde::Deserialize;

/// The default trust order of identifier types.
pub const DEFAULT_PRIORITY: [&str; 8] = [
    "member_id",
    "unionid",
    "phone",
    "email",
    "*_buyer_id",
    "openid",
    "device_id",
    "cookie_id",
];

/// Default hub thresholds: most types; and the types a shared object typically carries.
pub const DEFAULT_HUB_THRESHOLD: u32 = 25;
const DEFAULT_TYPE_HUB_THRESHOLDS: [(&str, u32); 3] =
    [("device_id", 10), ("phone", 15), ("member_id", 200)];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    priority: Option<Vec<String>>,
    limits: Option<BTreeMap<String, u32>>,
    hubs: Option<BTreeMap<String, u32>>,
    placeholders: Option<PlaceholdersFile>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlaceholdersFile {
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    types: BTreeMap<String, PlaceholderList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlaceholderList {
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
}

/// User-listed placeholder values and patterns, for every type or for one.
#[derive(Debug, Clone, Default)]
struct ExtraPlaceholders {
    values: Vec<String>,
    patterns: Vec<Regex>,
}

impl ExtraPlaceholders {
    fn compile(list: PlaceholderList, scope: &str) -> Result<Self> {
        let patterns = list
            .patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| {
                    DataFusionError::Plan(format!(
                        "stitch rules: invalid placeholder pattern {p:?} for {scope}: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let values = list.values.iter().map(|v| v.to_lowercase()).collect();
        Ok(Self { values, patterns })
    }

    fn matches(&self, value: &str) -> bool {
        (!self.values.is_empty() && self.values.iter().any(|v| v.eq_ignore_ascii_case(value)))
            || self.patterns.iter().any(|p| p.is_match(value))
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty() && self.patterns.is_empty()
    }
}

/// The guard rails of one stitching run.
#[derive(Debug, Clone)]
pub struct StitchRules {
    priority: Vec<String>,
    limits: BTreeMap<String, u32>,
    hub_default: u32,
    hub_thresholds: BTreeMap<String, u32>,
    any_type_placeholders: ExtraPlaceholders,
    type_placeholders: BTreeMap<String, ExtraPlaceholders>,
    /// The TOML text the rules were read from ("" for the defaults): what a plan carries to
    /// another process, which reads the same rules from it.
    toml: String,
}

impl Default for StitchRules {
    fn default() -> Self {
        Self {
            priority: DEFAULT_PRIORITY.iter().map(|s| s.to_string()).collect(),
            limits: BTreeMap::from([("member_id".to_string(), 1)]),
            hub_default: DEFAULT_HUB_THRESHOLD,
            hub_thresholds: DEFAULT_TYPE_HUB_THRESHOLDS
                .iter()
                .map(|(t, n)| (t.to_string(), *n))
                .collect(),
            any_type_placeholders: ExtraPlaceholders::default(),
            type_placeholders: BTreeMap::new(),
            toml: String::new(),
        }
    }
}

impl StitchRules {
    /// Rules from TOML text; every key not given keeps its default. Unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<Self> {
        let file: RulesFile = toml::from_str(text).map_err(|e| {
            DataFusionError::Plan(format!("stitch rules: {}", e.to_string().trim()))
        })?;
        let mut rules = Self {
            toml: text.to_string(),
            ..Self::default()
        };
        if let Some(priority) = file.priority {
            if priority.is_empty() {
                return plan_err!("stitch rules: priority must list at least one type");
            }
            rules.priority = priority.iter().map(|t| t.trim().to_lowercase()).collect();
        }
        if let Some(limits) = file.limits {
            for (id_type, limit) in &limits {
                if *limit == 0 {
                    return plan_err!(
                        "stitch rules: limits.{id_type} = 0 would leave no {id_type} to anyone; \
                         the smallest limit is 1"
                    );
                }
            }
            rules.limits = lower_keys(limits);
        }
        if let Some(mut hubs) = file.hubs {
            if let Some(default) = hubs.remove("default") {
                rules.hub_default = default;
            }
            for (id_type, threshold) in lower_keys(hubs) {
                rules.hub_thresholds.insert(id_type, threshold);
            }
        }
        if let Some(placeholders) = file.placeholders {
            rules.any_type_placeholders = ExtraPlaceholders::compile(
                PlaceholderList {
                    values: placeholders.values,
                    patterns: placeholders.patterns,
                },
                "every type",
            )?;
            for (id_type, list) in placeholders.types {
                let id_type = id_type.trim().to_lowercase();
                let compiled = ExtraPlaceholders::compile(list, &id_type)?;
                rules.type_placeholders.insert(id_type, compiled);
            }
        }
        Ok(rules)
    }

    /// The TOML text these rules were read from ("" for the defaults); `from_toml` of it gives
    /// the same rules.
    pub fn toml(&self) -> &str {
        &self.toml
    }

    /// Rules from an argument that is either TOML text or the path of a TOML file. An empty
    /// argument means the defaults.
    pub fn from_argument(argument: &str) -> Result<Self> {
        let trimmed = argument.trim();
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        let looks_like_path = !trimmed.contains('\n') && !trimmed.contains('=');
        if looks_like_path {
            return Self::from_file(Path::new(trimmed));
        }
        Self::from_toml(trimmed)
    }

    /// Rules from a TOML file; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            DataFusionError::Plan(format!("stitch rules: cannot read {shown}: {e}"))
        })?;
        // the file's name goes in front of the message, not of "Error during planning"
        Self::from_toml(&text).map_err(|e| match e {
            DataFusionError::Plan(message) => DataFusionError::Plan(format!("{shown}: {message}")),
            other => other,
        })
    }

    /// The rank of a type in the priority order (0 is the most trusted).
    pub fn rank(&self, id_type: &str) -> u32 {
        self.priority
            .iter()
            .position(|pattern| glob_match(pattern, id_type))
            .map_or(self.priority.len() as u32, |p| p as u32)
    }

    /// The most identifiers of `id_type` one person may hold, if limited.
    pub fn limit(&self, id_type: &str) -> Option<u32> {
        self.limits.get(id_type).copied()
    }

    /// The limited types, in a fixed order.
    pub fn limited_types(&self) -> impl Iterator<Item = (&str, u32)> {
        self.limits.iter().map(|(t, n)| (t.as_str(), *n))
    }

    /// Distinct linked identifiers above which an identifier of `id_type` is a hub.
    pub fn hub_threshold(&self, id_type: &str) -> u32 {
        self.hub_thresholds
            .get(id_type)
            .copied()
            .unwrap_or(self.hub_default)
    }

    /// Whether a normalised value is a user-listed placeholder for its type.
    pub fn is_listed_placeholder(&self, id_type: &str, value: &str) -> bool {
        if !self.any_type_placeholders.is_empty() && self.any_type_placeholders.matches(value) {
            return true;
        }
        self.type_placeholders
            .get(id_type)
            .is_some_and(|p| p.matches(value))
    }
}

fn lower_keys(map: BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    map.into_iter()
        .map(|(k, v)| (k.trim().to_lowercase(), v))
        .collect()
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(head) else {
        return false;
    };
    let mut parts = rest.split('*').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return remaining.ends_with(part);
        }
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rules file that does not parse names the file once, after one "Error during
    /// planning", and says what is wrong.
    #[test]
    fn a_bad_rules_file_is_named_once() {
        let path =
            std::env::temp_dir().join(format!("userlake-bad-rules-{}.toml", std::process::id()));
        std::fs::write(&path, "[bad\n").expect("written");
        let message = StitchRules::from_file(&path)
            .expect_err("refused")
            .strip_backtrace();
        std::fs::remove_file(&path).ok();
        assert_eq!(
            message.matches("Error during planning").count(),
            1,
            "{message}"
        );
        assert!(
            message.contains(&format!(
                "{}: stitch rules: TOML parse error",
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn defaults() {
        let rules = StitchRules::default();
        assert_eq!(rules.rank("member_id"), 0);
        assert_eq!(rules.rank("taobao_buyer_id"), 4);
        assert_eq!(rules.rank("jd_buyer_id"), 4);
        assert_eq!(rules.rank("cookie_id"), 7);
        assert_eq!(rules.rank("something_else"), 8);
        assert_eq!(rules.limit("member_id"), Some(1));
        assert_eq!(rules.limit("phone"), None);
        assert_eq!(rules.hub_threshold("device_id"), 10);
        assert_eq!(rules.hub_threshold("email"), DEFAULT_HUB_THRESHOLD);
    }

    #[test]
    fn toml_overrides_and_keeps_defaults() {
        let rules = StitchRules::from_toml(
            "priority = ['phone', 'member_id']\n[limits]\nphone = 2\n[hubs]\ndefault = 7\ncookie_id = 3\n\
             [placeholders]\nvalues = ['TEST']\n[placeholders.types.phone]\npatterns = ['^86170']",
        )
        .unwrap();
        assert_eq!(rules.rank("phone"), 0);
        assert_eq!(rules.rank("unionid"), 2);
        assert_eq!(rules.limit("phone"), Some(2));
        assert_eq!(rules.limit("member_id"), None);
        assert_eq!(rules.hub_threshold("cookie_id"), 3);
        assert_eq!(rules.hub_threshold("email"), 7);
        assert_eq!(rules.hub_threshold("device_id"), 10);
        assert!(rules.is_listed_placeholder("email", "test"));
        assert!(rules.is_listed_placeholder("phone", "8617012345678"));
        assert!(!rules.is_listed_placeholder("member_id", "8617012345678"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let err = StitchRules::from_toml("[limits]\nmember_id = 1\n[hub]\ndefault = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `hub`"), "{err}");
        let err = StitchRules::from_toml("[placeholders]\npatterns = ['(']")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid placeholder pattern"), "{err}");
        let err = StitchRules::from_toml("[limits]\nmember_id = 0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("smallest limit is 1"), "{err}");
        let err = StitchRules::from_argument("/no/such/rules.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read /no/such/rules.toml"), "{err}");
    }

    #[test]
    fn globs() {
        assert!(glob_match("*_buyer_id", "jd_buyer_id"));
        assert!(!glob_match("*_buyer_id", "jd_buyer"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("phone", "phone"));
    }
}
