//! The referral tree itself: who is credited with inviting whom, from accepted invitations,
//! with cycles broken deterministically. Pure logic, tested on its own.

use std::collections::{BTreeMap, HashMap};

/// A person or raw identifier: (type, value).
pub type Node = (String, String);

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub inviter: Node,
    pub invitee: Node,
    /// microseconds since the epoch
    pub accepted_at: i64,
    pub campaign: Option<String>,
}

/// One output row: an invited person and where they sit in the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeRow {
    pub person: Node,
    pub inviter: Node,
    pub root: Node,
    /// 1 = invited by a seed (a root); 0 for a person whose invitation was ignored to break a
    /// cycle (they are a root themselves)
    pub generation: i32,
    pub accepted_at: i64,
    pub campaign: Option<String>,
    /// accepted invitations of this person (more than one: credited to the first)
    pub invitations: i64,
    pub cycle_broken: bool,
}

/// Builds the tree. Each invitee is credited to its first accepted invitation (earliest
/// `accepted_at`, then smallest inviter). Self-invitations are ignored and reported. In each
/// cycle of credited invitations, the one accepted last (then the largest invitee) is ignored
/// and reported: its invitee already belonged to the tree when it was accepted.
pub fn build(invitations: Vec<Invitation>) -> Vec<TreeRow> {
    // invitee -> its invitations, in credit order
    let mut by_invitee: BTreeMap<Node, Vec<Invitation>> = BTreeMap::new();
    let mut self_invited: BTreeMap<Node, Invitation> = BTreeMap::new();
    for invitation in invitations {
        if invitation.inviter == invitation.invitee {
            let entry = self_invited
                .entry(invitation.invitee.clone())
                .or_insert_with(|| invitation.clone());
            if (invitation.accepted_at, &invitation.inviter) < (entry.accepted_at, &entry.inviter) {
                *entry = invitation;
            }
            continue;
        }
        by_invitee
            .entry(invitation.invitee.clone())
            .or_default()
            .push(invitation);
    }
    let mut credited: BTreeMap<Node, (Invitation, i64)> = BTreeMap::new();
    for (invitee, mut list) in by_invitee {
        list.sort_by(|a, b| (a.accepted_at, &a.inviter).cmp(&(b.accepted_at, &b.inviter)));
        let count = list.len() as i64;
        credited.insert(invitee, (list.swap_remove(0), count));
    }

    // Break cycles: every node has at most one parent, so each component holds at most one
    // cycle; walk up from every node, marking the walk, to find them.
    let mut broken: BTreeMap<Node, (Invitation, i64)> = BTreeMap::new();
    let mut state: HashMap<Node, u8> = HashMap::new(); // 1 = on the current walk, 2 = done
    let nodes: Vec<Node> = credited.keys().cloned().collect();
    for start in nodes {
        let mut walk = Vec::new();
        let mut node = start;
        loop {
            match state.get(&node) {
                Some(2) => break,
                Some(1) => {
                    // a cycle: the part of the walk from `node` on
                    let position = walk.iter().position(|n| *n == node).unwrap_or(0);
                    let cycle = &walk[position..];
                    let latest = cycle
                        .iter()
                        .max_by(|a: &&Node, b: &&Node| {
                            let (ia, ib) = (&credited[*a].0, &credited[*b].0);
                            (ia.accepted_at, *a).cmp(&(ib.accepted_at, *b))
                        })
                        .cloned();
                    if let Some(latest) = latest
                        && let Some(edge) = credited.remove(&latest)
                    {
                        broken.insert(latest, edge);
                    }
                    break;
                }
                _ => {}
            }
            state.insert(node.clone(), 1);
            walk.push(node.clone());
            match credited.get(&node) {
                Some((invitation, _)) => node = invitation.inviter.clone(),
                None => break,
            }
        }
        for n in walk {
            state.insert(n, 2);
        }
    }

    // roots and generations, memoised
    let mut placed: HashMap<Node, (Node, i32)> = HashMap::new();
    let mut rows = Vec::with_capacity(credited.len() + broken.len() + self_invited.len());
    for (person, (invitation, count)) in &credited {
        let mut chain = vec![person.clone()];
        let mut node = invitation.inviter.clone();
        let (root, base) = loop {
            if let Some((root, generation)) = placed.get(&node) {
                break (root.clone(), *generation);
            }
            match credited.get(&node) {
                Some((parent, _)) => {
                    chain.push(node.clone());
                    node = parent.inviter.clone();
                }
                None => break (node.clone(), 0),
            }
        };
        // chain holds person ... up to the node below `node`, nearest the root last
        for (depth, member) in chain.iter().rev().enumerate() {
            placed.insert(member.clone(), (root.clone(), base + depth as i32 + 1));
        }
        let (root, generation) = placed[person].clone();
        rows.push(TreeRow {
            person: person.clone(),
            inviter: invitation.inviter.clone(),
            root,
            generation,
            accepted_at: invitation.accepted_at,
            campaign: invitation.campaign.clone(),
            invitations: *count,
            cycle_broken: false,
        });
    }
    for (person, (invitation, count)) in broken.into_iter().chain(
        self_invited
            .into_iter()
            .map(|(person, invitation)| (person, (invitation, 1))),
    ) {
        rows.push(TreeRow {
            root: person.clone(),
            person,
            inviter: invitation.inviter,
            generation: 0,
            accepted_at: invitation.accepted_at,
            campaign: invitation.campaign,
            invitations: count,
            cycle_broken: true,
        });
    }
    rows.sort_by(|a, b| {
        a.person
            .cmp(&b.person)
            .then(a.cycle_broken.cmp(&b.cycle_broken))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(v: &str) -> Node {
        ("member_id".to_string(), v.to_string())
    }

    fn invite(inviter: &str, invitee: &str, at: i64) -> Invitation {
        Invitation {
            inviter: node(inviter),
            invitee: node(invitee),
            accepted_at: at,
            campaign: None,
        }
    }

    fn find<'a>(rows: &'a [TreeRow], person: &str) -> &'a TreeRow {
        rows.iter()
            .find(|r| r.person.1 == person && !r.cycle_broken)
            .unwrap()
    }

    #[test]
    fn generations_roots_and_first_accepted_credit() {
        let rows = build(vec![
            invite("seed", "a", 1),
            invite("a", "b", 2),
            invite("b", "c", 3),
            invite("seed2", "c", 4), // later than b's invitation: not credited
            invite("seed2", "d", 1),
        ]);
        assert_eq!(rows.len(), 4);
        let c = find(&rows, "c");
        assert_eq!(
            (
                c.inviter.1.as_str(),
                c.root.1.as_str(),
                c.generation,
                c.invitations
            ),
            ("b", "seed", 3, 2)
        );
        assert_eq!(find(&rows, "a").generation, 1);
        assert_eq!(find(&rows, "d").root.1, "seed2");
    }

    #[test]
    fn cycles_are_broken_at_the_latest_invitation_and_reported() {
        // a -> b -> c -> a: the invitation of a (accepted last) is ignored
        let rows = build(vec![
            invite("a", "b", 1),
            invite("b", "c", 2),
            invite("c", "a", 3),
            invite("x", "x", 5),
        ]);
        let broken: Vec<&TreeRow> = rows.iter().filter(|r| r.cycle_broken).collect();
        assert_eq!(broken.len(), 2);
        assert!(
            broken
                .iter()
                .any(|r| r.person.1 == "a" && r.inviter.1 == "c" && r.generation == 0)
        );
        assert!(broken.iter().any(|r| r.person.1 == "x"));
        let c = find(&rows, "c");
        assert_eq!((c.root.1.as_str(), c.generation), ("a", 2));
        // the same whatever the input order
        let again = build(vec![
            invite("c", "a", 3),
            invite("x", "x", 5),
            invite("b", "c", 2),
            invite("a", "b", 1),
        ]);
        assert_eq!(rows, again);
    }

    #[test]
    fn deep_chains_do_not_recurse() {
        let invitations: Vec<Invitation> = (0..100_000)
            .map(|i| invite(&format!("p{i}"), &format!("p{}", i + 1), i as i64))
            .collect();
        let rows = build(invitations);
        assert_eq!(rows.len(), 100_000);
        let last = find(&rows, "p100000");
        assert_eq!((last.root.1.as_str(), last.generation), ("p0", 100_000));
    }
}
