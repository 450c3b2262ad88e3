//! Why two identifiers are one person, or why they were kept apart.

use std::fmt;

use super::graph::{NO_COMPONENT, Stitched};
use super::ingest::identifier_key;
use crate::identity::normalize;

/// The answer to "why are these two together / apart?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub verdict: String,
    /// The chain of edges between them, each with what became of it.
    pub steps: Vec<String>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.verdict)?;
        for step in &self.steps {
            writeln!(f, "  {step}")?;
        }
        Ok(())
    }
}

/// An identifier given as `type:value`; openids as `openid:app_id:openid`.
pub fn parse_identifier(text: &str) -> Option<(String, String)> {
    let (id_type, value) = text.split_once(':')?;
    Some((id_type.trim().to_ascii_lowercase(), value.to_string()))
}

impl Stitched {
    /// Where an identifier is in the graph, or why it is not.
    fn locate(&self, id_type: &str, value: &str) -> Result<u32, String> {
        let Some(normalized) = normalize(id_type, value) else {
            return Err(format!(
                "{id_type}:{value} identifies nobody (a placeholder or not a valid {id_type}), \
                 so it links nothing"
            ));
        };
        self.find(identifier_key(id_type, &normalized))
            .ok_or_else(|| format!("{id_type}:{normalized} is in no edge of this run"))
    }

    /// Explains how two identifiers (type and raw value) came to be one person, or not.
    pub fn explain(&self, a: (&str, &str), b: (&str, &str)) -> Explanation {
        let (na, nb) = match (self.locate(a.0, a.1), self.locate(b.0, b.1)) {
            (Ok(na), Ok(nb)) => (na, nb),
            (Err(why), _) | (_, Err(why)) => {
                return Explanation {
                    verdict: format!("apart: {why}"),
                    steps: Vec::new(),
                };
            }
        };
        let (ca, cb) = (self.component[na as usize], self.component[nb as usize]);
        if ca != NO_COMPONENT && ca == cb {
            let path = self.accepted_adjacency().path(na, nb).unwrap_or_default();
            let steps = path
                .iter()
                .map(|&e| format!("linked: {}", self.describe_edge(e as usize)))
                .collect();
            return Explanation {
                verdict: format!(
                    "together: {} and {} are {} (component of {}), through {} edge(s)",
                    self.label(na),
                    self.label(nb),
                    self.components[ca as usize].unified_id,
                    self.components[ca as usize].size,
                    path.len()
                ),
                steps,
            };
        }
        let Some(path) = self.full_adjacency().path(na, nb) else {
            return Explanation {
                verdict: format!(
                    "apart: no chain of edges connects {} and {}",
                    self.label(na),
                    self.label(nb)
                ),
                steps: Vec::new(),
            };
        };
        let steps = path
            .iter()
            .map(|&e| {
                let e = e as usize;
                match self.refusal(self.outcomes[e]) {
                    Some((rule, why)) => {
                        format!("refused ({rule}: {why}): {}", self.describe_edge(e))
                    }
                    None => format!("linked: {}", self.describe_edge(e)),
                }
            })
            .collect();
        Explanation {
            verdict: format!(
                "apart: the shortest chain between {} and {} has refused edges",
                self.label(na),
                self.label(nb)
            ),
            steps,
        }
    }
}
