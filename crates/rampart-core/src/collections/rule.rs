//! Access rules and the predicates they compile to.
//!
//! A [`Rule`] is a small, closed, typed language: `public`, `authenticated`, `owner`,
//! `role:<name>`, `owner_or_role:<name>`, and `when <field> = <value> then <rule> else <rule>`.
//! There is no string evaluation. For a given [`Subject`], a rule becomes an [`Access`]: either
//! denied outright (function level: 401 for the anonymous, 403 for the authenticated) or a
//! [`Predicate`] over records. The same predicate is rendered into the SQL `WHERE` clause by the
//! store (object level: lists and lookups only ever see permitted rows) and evaluated in memory
//! by [`Predicate::matches`] (property level and update checks), so there is one decision with
//! two faithful interpreters, tested against each other.

use serde::Deserialize;

use super::schema::FieldName;
use super::value::Value;
use crate::domain::{Role, UserId};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// No credentials.
    Anonymous,
    /// An authenticated user with their current role.
    User {
        /// The user.
        id: UserId,
        /// Their live role.
        role: Role,
    },
}

/// Role order for rules: `role:user` is met by every authenticated user, `role:admin` by
/// admins only.
fn rank(role: Role) -> u8 {
    match role {
        Role::User => 0,
        Role::Admin => 1,
    }
}

/// An access rule, as declared.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Anyone, even anonymous.
    Public,
    /// Any authenticated user.
    Authenticated,
    /// The record's owner.
    Owner,
    /// Users with at least this role.
    Role(Role),
    /// The owner, or users with at least this role.
    OwnerOrRole(Role),
    /// `then` for records whose `field` equals `equals`, `otherwise` for the rest.
    When {
        /// The field tested.
        field: FieldName,
        /// The value it is compared with (already parsed for the field's type).
        equals: Value,
        /// Rule for matching records.
        then: Box<Rule>,
        /// Rule for the others.
        otherwise: Box<Rule>,
    },
}

/// A rule as written in configuration, before names and values are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawRule {
    /// `"public"`, `"owner"`, `"role:admin"`, ...
    Simple(String),
    /// `{ when = { field = "status", equals = "published" }, then = "public", else = "owner" }`
    Conditional(RawConditional),
}

/// The conditional form of [`RawRule`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConditional {
    /// The test.
    pub when: RawCondition,
    /// Rule where the test holds.
    pub then: Box<RawRule>,
    /// Rule where it does not.
    #[serde(rename = "else")]
    pub otherwise: Box<RawRule>,
}

/// `{ field = "...", equals = ... }`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// The field tested.
    pub field: String,
    /// The value compared with.
    pub equals: serde_json::Value,
}

impl Rule {
    /// Parses the simple (string) forms.
    pub fn parse_simple(raw: &str) -> Result<Self, String> {
        let role = |name: &str| {
            Role::parse(name).map_err(|_| format!("unknown role {name:?} (roles: user, admin)"))
        };
        match raw {
            "public" => Ok(Self::Public),
            "authenticated" => Ok(Self::Authenticated),
            "owner" => Ok(Self::Owner),
            _ => {
                if let Some(name) = raw.strip_prefix("role:") {
                    Ok(Self::Role(role(name)?))
                } else if let Some(name) = raw.strip_prefix("owner_or_role:") {
                    Ok(Self::OwnerOrRole(role(name)?))
                } else {
                    Err(format!(
                        "unknown rule {raw:?} (public, authenticated, owner, role:<name>, \
                         owner_or_role:<name>, or a {{ when, then, else }} table)"
                    ))
                }
            }
        }
    }

    /// What this rule allows `subject`.
    pub fn access(&self, subject: &Subject) -> Access {
        match (self, subject) {
            (Self::Public, _) => Access::Filter(Predicate::True),
            (
                Self::Authenticated | Self::Owner | Self::Role(_) | Self::OwnerOrRole(_),
                Subject::Anonymous,
            ) => Access::Denied(Denial::Unauthenticated),
            (Self::Authenticated, Subject::User { .. }) => Access::Filter(Predicate::True),
            (Self::Owner, Subject::User { id, .. }) => Access::Filter(Predicate::OwnerIs(*id)),
            (Self::Role(needed), Subject::User { role, .. }) => {
                if rank(*role) >= rank(*needed) {
                    Access::Filter(Predicate::True)
                } else {
                    Access::Denied(Denial::Forbidden)
                }
            }
            (Self::OwnerOrRole(needed), Subject::User { id, role }) => {
                if rank(*role) >= rank(*needed) {
                    Access::Filter(Predicate::True)
                } else {
                    Access::Filter(Predicate::OwnerIs(*id))
                }
            }
            (
                Self::When {
                    field,
                    equals,
                    then,
                    otherwise,
                },
                _,
            ) => {
                let (a, b) = (then.access(subject), otherwise.access(subject));
                match (a, b) {
                    (Access::Denied(x), Access::Denied(y)) => {
                        // Logging in might help if either branch only lacked authentication.
                        if x == Denial::Unauthenticated || y == Denial::Unauthenticated {
                            Access::Denied(Denial::Unauthenticated)
                        } else {
                            Access::Denied(Denial::Forbidden)
                        }
                    }
                    (a, b) => Access::Filter(Predicate::or(vec![
                        Predicate::and(vec![
                            Predicate::Eq(field.clone(), equals.clone()),
                            a.into_predicate(),
                        ]),
                        Predicate::and(vec![
                            Predicate::NotEq(field.clone(), equals.clone()),
                            b.into_predicate(),
                        ]),
                    ])),
                }
            }
        }
    }

    /// The fields this rule reads (conditions), for validation and indexing.
    pub fn fields(&self) -> Vec<&FieldName> {
        match self {
            Self::When {
                field,
                then,
                otherwise,
                ..
            } => {
                let mut v = vec![field];
                v.extend(then.fields());
                v.extend(otherwise.fields());
                v
            }
            _ => Vec::new(),
        }
    }
}

/// Why access was denied before looking at any record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No credentials, and the rule needs some: 401.
    Unauthenticated,
    /// Credentials that can never satisfy the rule: 403.
    Forbidden,
}

/// A rule's verdict for one subject.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Refused whatever the record.
    Denied(Denial),
    /// Allowed for the records matching the predicate.
    Filter(Predicate),
}

impl Access {
    /// The predicate, with denial as "no record".
    pub fn into_predicate(self) -> Predicate {
        match self {
            Self::Denied(_) => Predicate::False,
            Self::Filter(p) => p,
        }
    }
}

/// A condition over records. Rendered to SQL by the store; evaluated in memory by
/// [`Predicate::matches`]. `Eq`/`NotEq` treat a missing (NULL) field as "not equal".
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Every record.
    True,
    /// No record.
    False,
    /// Records owned by this user.
    OwnerIs(UserId),
    /// Records whose field is present and equals the value.
    Eq(FieldName, Value),
    /// Records whose field is missing or differs from the value.
    NotEq(FieldName, Value),
    /// All must hold.
    And(Vec<Predicate>),
    /// One must hold.
    Or(Vec<Predicate>),
}

impl Predicate {
    /// Conjunction, simplified.
    pub fn and(parts: Vec<Predicate>) -> Predicate {
        let mut kept = Vec::new();
        for p in parts {
            match p {
                Predicate::True => {}
                Predicate::False => return Predicate::False,
                Predicate::And(inner) => kept.extend(inner),
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Predicate::True,
            1 => kept.pop().unwrap_or(Predicate::True),
            _ => Predicate::And(kept),
        }
    }

    /// Disjunction, simplified.
    pub fn or(parts: Vec<Predicate>) -> Predicate {
        let mut kept = Vec::new();
        for p in parts {
            match p {
                Predicate::False => {}
                Predicate::True => return Predicate::True,
                Predicate::Or(inner) => kept.extend(inner),
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Predicate::False,
            1 => kept.pop().unwrap_or(Predicate::False),
            _ => Predicate::Or(kept),
        }
    }

    /// Evaluates the predicate on one record.
    pub fn matches(&self, owner: UserId, field: &dyn Fn(&FieldName) -> Option<Value>) -> bool {
        match self {
            Self::True => true,
            Self::False => false,
            Self::OwnerIs(id) => owner == *id,
            Self::Eq(name, v) => field(name).is_some_and(|f| f.same(v)),
            Self::NotEq(name, v) => !field(name).is_some_and(|f| f.same(v)),
            Self::And(ps) => ps.iter().all(|p| p.matches(owner, field)),
            Self::Or(ps) => ps.iter().any(|p| p.matches(owner, field)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Subject {
        Subject::User {
            id: UserId::new(),
            role,
        }
    }

    #[test]
    fn simple_rules() {
        let anon = Subject::Anonymous;
        let u = user(Role::User);
        let a = user(Role::Admin);
        assert_eq!(Rule::Public.access(&anon), Access::Filter(Predicate::True));
        assert_eq!(
            Rule::Owner.access(&anon),
            Access::Denied(Denial::Unauthenticated)
        );
        assert_eq!(
            Rule::Role(Role::Admin).access(&u),
            Access::Denied(Denial::Forbidden)
        );
        assert_eq!(
            Rule::Role(Role::User).access(&a),
            Access::Filter(Predicate::True)
        );
        let Subject::User { id, .. } = u else {
            unreachable!()
        };
        assert_eq!(
            Rule::OwnerOrRole(Role::Admin).access(&u),
            Access::Filter(Predicate::OwnerIs(id))
        );
        assert_eq!(
            Rule::OwnerOrRole(Role::Admin).access(&a),
            Access::Filter(Predicate::True)
        );
    }

    #[test]
    fn parse_simple_forms() {
        assert_eq!(
            Rule::parse_simple("role:admin"),
            Ok(Rule::Role(Role::Admin))
        );
        assert_eq!(
            Rule::parse_simple("owner_or_role:admin"),
            Ok(Rule::OwnerOrRole(Role::Admin))
        );
        assert!(Rule::parse_simple("role:root").is_err());
        assert!(Rule::parse_simple("everyone").is_err());
        assert!(Rule::parse_simple("owner || true").is_err());
    }

    #[test]
    fn conditional_rule_compiles_to_a_predicate() {
        let status = FieldName::parse("status").unwrap();
        let published = Value::Text("published".into());
        let rule = Rule::When {
            field: status.clone(),
            equals: published.clone(),
            then: Box::new(Rule::Public),
            otherwise: Box::new(Rule::Owner),
        };
        // Anonymous: only published records.
        let anon = rule.access(&Subject::Anonymous).into_predicate();
        assert_eq!(anon, Predicate::Eq(status.clone(), published.clone()));
        let me = UserId::new();
        let other = UserId::new();
        let subject = Subject::User {
            id: me,
            role: Role::User,
        };
        let p = rule.access(&subject).into_predicate();
        let draft =
            |name: &FieldName| (name.as_str() == "status").then(|| Value::Text("draft".into()));
        let missing = |_: &FieldName| None;
        let public = |name: &FieldName| (name.as_str() == "status").then(|| published.clone());
        assert!(p.matches(me, &draft), "owner sees own draft");
        assert!(!p.matches(other, &draft), "others do not");
        assert!(
            !p.matches(other, &missing),
            "missing status is not published"
        );
        assert!(p.matches(other, &public), "everyone sees published");
    }
}
