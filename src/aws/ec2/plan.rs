//! How EC2 resources live in a dry run's plan (core/planned): each type is
//! a Resource; a tag query is asked of planned resources as EC2 asks it of
//! real ones; and an instance state leads to the next by itself.

use crate::aws::ec2::types::{Address, Image, Instance, SecurityGroup, Snapshot, Tags, Volume};
use crate::core::planned::Resource;

macro_rules! resource {
    ($type:ty, $prefix:literal, $id:ident) => {
        impl Resource for $type {
            const PREFIX: &'static str = $prefix;
            fn id(&self) -> &str {
                &self.$id
            }
            fn tags_mut(&mut self) -> &mut Tags {
                &mut self.tags
            }
        }
    };
}

resource!(Instance, "i-", id);
resource!(SecurityGroup, "sg-", id);
resource!(Address, "eipalloc-", allocation_id);
resource!(Volume, "vol-", id);
resource!(Snapshot, "snap-", id);
resource!(Image, "ami-", id);

/// Where an instance state leads by itself: a wait for the later state is
/// explained by a plan that left the instance in the earlier one.
pub fn settles(state: &str) -> Option<&'static str> {
    match state {
        "pending" => Some("running"),
        "stopping" => Some("stopped"),
        "shutting-down" => Some("terminated"),
        _ => None,
    }
}

/// EC2's filter value wildcards: `*` any run, `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // matched[j]: the pattern so far matches the first j characters.
    let mut matched = vec![false; t.len() + 1];
    matched[0] = true;
    for c in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => matched[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matched[j - 1],
                c => j > 0 && matched[j - 1] && t[j - 1] == c,
            };
        }
        matched = next;
    }
    matched[t.len()]
}

/// A tag query (`tags: #{ role: "db", env: ["a", "b"], backup: () }`) asked
/// of planned resources: a value matches as EC2 matches it (exactly, or
/// with `*` and `?` wildcards), several match any, none only asks that the
/// tag exists.
#[derive(Debug, Clone, Default)]
pub struct TagQuery(pub Vec<(String, Option<Vec<String>>)>);

impl TagQuery {
    pub fn matches(&self, tags: &Tags) -> bool {
        self.0
            .iter()
            .all(|(key, values)| match (tags.get(key), values) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(values)) => values.iter().any(|pattern| glob(pattern, v)),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::planned::{Lookup, World};

    fn instance(id: &str, state: &str, role: &str) -> Instance {
        Instance {
            id: id.into(),
            state: state.into(),
            instance_type: "t3.micro".into(),
            image: "ami-1".into(),
            tags: [("role".to_string(), role.to_string())].into(),
            ..Instance::default()
        }
    }

    fn ids(items: &[Instance]) -> Vec<&str> {
        items.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn planned_instances_join_listings_that_match() {
        let world = World::default();
        world.put(instance("i-planned-1", "pending", "db"));
        world.put(instance("i-planned-2", "pending", "web"));
        let db = TagQuery(vec![("role".into(), Some(vec!["db".into()]))]);
        let found = world.list(vec![instance("i-1", "running", "db")], Vec::new(), |i| {
            db.matches(&i.tags)
        });
        assert_eq!(ids(&found), ["i-1", "i-planned-1"]);
    }

    #[test]
    fn a_changed_real_instance_reads_as_planned_and_is_asked_the_query_again() {
        let world = World::default();
        world.put(instance("i-1", "shutting-down", "db"));
        let live = |i: &Instance| i.state == "running";
        let found = world.list(
            vec![
                instance("i-1", "running", "db"),
                instance("i-2", "running", "db"),
            ],
            Vec::new(),
            live,
        );
        assert_eq!(ids(&found), ["i-2"]);
        let all = world.list(vec![instance("i-1", "running", "db")], Vec::new(), |_| true);
        assert_eq!(all[0].state, "shutting-down");
    }

    #[test]
    fn tags_apply_to_real_and_planned_resources() {
        let world = World::default();
        world.put(instance("i-planned-1", "pending", "db"));
        world.tag(
            &["i-planned-1".into(), "i-9".into()],
            &[("backup".to_string(), "yes".to_string())].into(),
        );
        world.untag(&["i-planned-1".into()], &["role".into()]);
        let Lookup::Planned(planned) = world.lookup::<Instance>("i-planned-1") else {
            panic!("the planned instance is known");
        };
        assert_eq!(planned.tags.get("backup").map(String::as_str), Some("yes"));
        assert!(!planned.tags.contains_key("role"));
        assert_eq!(world.retagged::<Instance>(), ["i-9"]);
        assert!(world.retagged::<Volume>().is_empty());
        let real = world.patch(instance("i-9", "running", "db"));
        assert_eq!(real.map(|i| i.tags.len()), Some(2));
        assert!(matches!(world.lookup::<Instance>("i-9"), Lookup::Unknown));
    }

    #[test]
    fn removed_resources_vanish_from_reads() {
        let world = World::default();
        world.remove::<Instance>("i-1");
        assert!(matches!(world.lookup::<Instance>("i-1"), Lookup::Removed));
        assert!(world.patch(instance("i-1", "running", "db")).is_none());
        let found = world.list(vec![instance("i-1", "running", "db")], Vec::new(), |_| true);
        assert!(found.is_empty());
    }

    #[test]
    fn states_settle_where_they_lead() {
        assert_eq!(settles("pending"), Some("running"));
        assert_eq!(settles("shutting-down"), Some("terminated"));
        assert_eq!(settles("running"), None);
    }

    #[test]
    fn tag_queries_match_exactly_any_or_existence() {
        let tags: Tags = [("role".to_string(), "db".to_string())].into();
        let q = |v: Option<Vec<&str>>| {
            TagQuery(vec![(
                "role".into(),
                v.map(|v| v.into_iter().map(String::from).collect()),
            )])
        };
        assert!(q(Some(vec!["web", "db"])).matches(&tags));
        assert!(!q(Some(vec!["web"])).matches(&tags));
        assert!(q(None).matches(&tags));
        assert!(!q(None).matches(&Tags::new()));
        assert!(TagQuery::default().matches(&Tags::new()));
        assert!(q(Some(vec!["d*"])).matches(&tags));
        assert!(q(Some(vec!["?b"])).matches(&tags));
        assert!(!q(Some(vec!["d"])).matches(&tags));
    }

    #[test]
    fn name_patterns_match_as_ec2_matches_them() {
        assert!(glob("amzn*", "amzn2-ami-hvm"));
        assert!(glob("web-?", "web-1"));
        assert!(!glob("web-?", "web-10"));
        assert!(glob("*", ""));
        assert!(!glob("db", "db-1"));
    }
}
