//! XpmJS access strings: `owner:group:other`, each a set of `r` (read), `w` (write),
//! `d` (delete) or `-` for none, e.g. `rwd:r:-`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub delete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    Read,
    Write,
    Delete,
}

impl Perms {
    fn parse(s: &str, allow_delete: bool) -> Option<Perms> {
        if s == "-" {
            return Some(Perms::default());
        }
        if s.is_empty() {
            return None;
        }
        let mut p = Perms::default();
        for c in s.chars() {
            let slot = match c {
                'r' => &mut p.read,
                'w' => &mut p.write,
                'd' if allow_delete => &mut p.delete,
                _ => return None,
            };
            if *slot {
                return None;
            }
            *slot = true;
        }
        Some(p)
    }

    pub fn has(&self, p: Perm) -> bool {
        match p {
            Perm::Read => self.read,
            Perm::Write => self.write,
            Perm::Delete => self.delete,
        }
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Perms::default() {
            return f.write_str("-");
        }
        for (on, c) in [(self.read, 'r'), (self.write, 'w'), (self.delete, 'd')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Whose rights apply to a caller for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Group,
    Other,
}

/// `owner:group:other`. Record ACLs use `r w d`; field ACLs `r w` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acl {
    pub owner: Perms,
    pub group: Perms,
    pub other: Perms,
}

impl Acl {
    pub fn parse_record(s: &str) -> Result<Acl, String> {
        Acl::parse(s, true)
    }

    pub fn parse_field(s: &str) -> Result<Acl, String> {
        Acl::parse(s, false)
    }

    fn parse(s: &str, allow_delete: bool) -> Result<Acl, String> {
        let bad = || {
            format!(
                "ACL {s:?} is not owner:group:other over {} (e.g. \"{}\")",
                if allow_delete { "r w d" } else { "r w" },
                if allow_delete { "rwd:r:-" } else { "rw:r:-" }
            )
        };
        let parts: Vec<&str> = s.split(':').collect();
        let [o, g, x] = parts.as_slice() else {
            return Err(bad());
        };
        Ok(Acl {
            owner: Perms::parse(o, allow_delete).ok_or_else(bad)?,
            group: Perms::parse(g, allow_delete).ok_or_else(bad)?,
            other: Perms::parse(x, allow_delete).ok_or_else(bad)?,
        })
    }

    pub fn perms(&self, role: Role) -> Perms {
        match role {
            Role::Owner => self.owner,
            Role::Group => self.group,
            Role::Other => self.other,
        }
    }

    pub fn allows(&self, role: Role, p: Perm) -> bool {
        self.perms(role).has(p)
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.owner, self.group, self.other)
    }
}

impl Serialize for Acl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Acl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Acl, D::Error> {
        let s = String::deserialize(d)?;
        Acl::parse_record(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_xpmjs_strings() {
        let a = Acl::parse_record("rwd:r:-").unwrap();
        assert!(a.allows(Role::Owner, Perm::Delete));
        assert!(a.allows(Role::Group, Perm::Read));
        assert!(!a.allows(Role::Group, Perm::Write));
        assert!(!a.allows(Role::Other, Perm::Read));
        assert_eq!(a.to_string(), "rwd:r:-");
        assert_eq!(
            Acl::parse_record("dwr:rw:r").unwrap().to_string(),
            "rwd:rw:r"
        );
        for bad in [
            "",
            "rwd:r",
            "rwd:r:-:-",
            "rwx:r:-",
            "rr:r:-",
            ":r:-",
            "RWD:r:-",
        ] {
            assert!(Acl::parse_record(bad).is_err(), "{bad:?}");
        }
        assert!(Acl::parse_field("rw:r:-").is_ok());
        assert!(
            Acl::parse_field("rwd:r:-").is_err(),
            "fields have no delete right"
        );
    }
}
