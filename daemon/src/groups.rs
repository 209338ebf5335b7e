//! login_duo's `groups` option: OpenSSH-style pattern lists deciding who needs Duo at all.
//!
//! Each configured entry is a comma-separated pattern list (`users,!wheel,!*admin`). A user
//! needs Duo when any entry matches any of their groups; within an entry a negated pattern
//! that matches one of the user's groups vetoes that entry. `*` and `?` are wildcards.

/// Match one glob (`*`, `?`) against a group name, case-sensitively.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// One entry against one group: 1 positive match, -1 negated match, 0 none (as OpenSSH's match_pattern_list).
fn match_list(group: &str, list: &str) -> i8 {
    let mut positive = 0;
    for pat in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pat.strip_prefix('!') {
            Some(neg) if glob(neg, group) => return -1,
            Some(_) => {}
            None if glob(pat, group) => positive = 1,
            None => {}
        }
    }
    positive
}

/// One entry against all the user's groups: a negated match anywhere wins.
fn entry_matches(groups: &[String], entry: &str) -> bool {
    let mut found = false;
    for g in groups {
        match match_list(g, entry) {
            -1 => return false,
            1 => found = true,
            _ => {}
        }
    }
    found
}

/// Whether a user in `groups` must pass Duo; an empty configuration means everyone must.
pub fn requires_duo(user_groups: &[String], configured: &[String]) -> bool {
    configured.is_empty()
        || configured
            .iter()
            .any(|entry| entry_matches(user_groups, entry))
}

/// True when no configured pattern is positive, so nobody would ever be asked for Duo (a config mistake to warn about).
pub fn all_negated(configured: &[String]) -> bool {
    !configured.is_empty()
        && configured
            .iter()
            .flat_map(|e| e.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .all(|p| p.starts_with('!'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn globs() {
        assert!(glob("dev*", "developers"));
        assert!(glob("d?v", "dev"));
        assert!(!glob("dev", "devs"));
        assert!(glob("*", ""));
        assert!(glob("*admin", "sysadmin"));
        assert!(!glob("Admins", "admins"));
    }

    #[test]
    fn login_duo_semantics() {
        let cfg = v(&["users,!wheel,!*admin", "guests"]);
        assert!(requires_duo(&v(&["users"]), &cfg));
        assert!(!requires_duo(&v(&["users", "wheel"]), &cfg));
        assert!(!requires_duo(&v(&["users", "sysadmin"]), &cfg));
        assert!(requires_duo(&v(&["guests", "wheel"]), &cfg));
        assert!(!requires_duo(&v(&["staff"]), &cfg));
        assert!(requires_duo(&v(&["staff"]), &[]));
    }

    #[test]
    fn warns_when_everything_is_negated() {
        assert!(all_negated(&v(&["!wheel", "!guests"])));
        assert!(!all_negated(&v(&["users,!wheel"])));
        assert!(!all_negated(&[]));
    }
}
