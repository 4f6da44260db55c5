//! `serve --user USER[:GROUP]`: who the server becomes once its sockets are bound and its logs
//! opened. USER and GROUP are names or numbers; the group is the user's own unless given.
//! Becoming them is `setgroups` (to that one group: no supplementary group stays), `setgid`,
//! then `setuid`, and a check that root cannot be had back. Names are looked up through the
//! C library (NSS: /etc/passwd, /etc/group, or whatever the system configures).

use std::ffi::CString;
use std::fmt;
use std::io;

/// A user and group to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// As given, for messages.
    spec: String,
    uid: libc::uid_t,
    gid: libc::gid_t,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (uid {}, gid {})", self.spec, self.uid, self.gid)
    }
}

/// Resolves `USER[:GROUP]`.
pub fn resolve(spec: &str) -> Result<Identity, String> {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(format!("--user: '{spec}' is not USER or USER:GROUP"));
    }
    let (uid, own_gid) = lookup_user(user)?;
    let gid = match group {
        Some(group) => lookup_group(group)?,
        None => own_gid,
    };
    if uid == 0 {
        return Err(format!(
            "--user: '{user}' is root: name an unprivileged user"
        ));
    }
    Ok(Identity {
        spec: spec.to_string(),
        uid,
        gid,
    })
}

/// A user's uid and primary group, by name or number.
fn lookup_user(user: &str) -> Result<(libc::uid_t, libc::gid_t), String> {
    let name = CString::new(user).map_err(|_| format!("--user: '{user}' holds a NUL byte"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value to be overwritten.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: live buffers of the sizes given; `found` is set to `&pwd` or null.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc == 0 && !found.is_null() {
        return Ok((pwd.pw_uid, pwd.pw_gid));
    }
    match user.parse::<libc::uid_t>() {
        // A number with no entry: its group is the same number.
        Ok(uid) => Ok((uid, uid)),
        Err(_) if rc != 0 => Err(format!(
            "--user: cannot look up '{user}': {}",
            io::Error::from_raw_os_error(rc)
        )),
        Err(_) => Err(format!("--user: no such user '{user}'")),
    }
}

/// A group's gid, by name or number.
fn lookup_group(group: &str) -> Result<libc::gid_t, String> {
    let name = CString::new(group).map_err(|_| format!("--user: '{group}' holds a NUL byte"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero group is a valid value to be overwritten.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: live buffers of the sizes given; `found` is set to `&grp` or null.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc == 0 && !found.is_null() {
        return Ok(grp.gr_gid);
    }
    match group.parse::<libc::gid_t>() {
        Ok(gid) => Ok(gid),
        Err(_) if rc != 0 => Err(format!(
            "--user: cannot look up group '{group}': {}",
            io::Error::from_raw_os_error(rc)
        )),
        Err(_) => Err(format!("--user: no such group '{group}'")),
    }
}

/// Becomes `id` for good: groups first, while still allowed to change them.
pub fn become_user(id: &Identity) -> Result<(), String> {
    let fail = |what: &str| {
        let err = io::Error::last_os_error();
        format!("cannot become {id}: {what}: {err}")
    };
    // SAFETY: plain calls with values; the group list is one live gid.
    unsafe {
        if libc::setgroups(1, &id.gid) != 0 {
            return Err(fail("setgroups"));
        }
        if libc::setgid(id.gid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(id.uid) != 0 {
            return Err(fail("setuid"));
        }
        // Checked, not assumed: every id changed, and root cannot be had back.
        let (mut ruid, mut euid, mut suid) = (0, 0, 0);
        libc::getresuid(&mut ruid, &mut euid, &mut suid);
        if [ruid, euid, suid] != [id.uid; 3] || libc::getegid() != id.gid {
            return Err(format!("cannot become {id}: ids are {ruid}/{euid}/{suid}"));
        }
        if libc::setuid(0) == 0 {
            return Err(format!("cannot become {id}: root could be had back"));
        }
    }
    Ok(())
}

/// Whether the process runs as root.
pub fn is_root() -> bool {
    // SAFETY: a plain call.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a spec comes to: its (uid, gid), or what the refusal says.
    type Resolved = Result<(u32, u32), &'static str>;

    #[test]
    fn user_specs_resolve_or_say_why_not() {
        let rows: &[(&str, Resolved)] = &[
            ("nobody", Ok((65534, 65534))),
            ("65534", Ok((65534, 65534))),
            ("65534:100", Ok((65534, 100))),
            ("4321", Ok((4321, 4321))),
            ("", Err("is not USER or USER:GROUP")),
            ("nobody:", Err("is not USER or USER:GROUP")),
            (":nogroup", Err("is not USER or USER:GROUP")),
            ("no-such-user-here", Err("no such user")),
            ("nobody:no-such-group-here", Err("no such group")),
            ("root", Err("is root")),
            ("0", Err("is root")),
            ("a\0b", Err("NUL")),
        ];
        for (spec, want) in rows {
            let got = resolve(spec).map(|id| (id.uid, id.gid));
            match (want, &got) {
                (Ok(ids), Ok(got)) => assert_eq!(got, ids, "{spec:?}"),
                (Err(says), Err(why)) => assert!(why.contains(says), "{spec:?}: {why}"),
                _ => panic!("{spec:?}: {got:?}"),
            }
        }
    }
}
