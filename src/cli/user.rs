//! `serve --user USER[:GROUP]`: who the server becomes once its sockets are bound and its logs
//! opened. USER and GROUP are names or numbers; the group is the user's own unless given (a
//! number with no entry has none: it needs its GROUP). Neither may be root's.
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
    let gid = match (group, own_gid) {
        (Some(group), _) => lookup_group(group)?,
        (None, Some(gid)) => gid,
        (None, None) => {
            return Err(format!(
                "--user: uid {uid} has no entry, so no group of its own: give {user}:GROUP"
            ))
        }
    };
    if uid == 0 {
        return Err(format!(
            "--user: '{user}' is root: name an unprivileged user"
        ));
    }
    if gid == 0 {
        return Err(format!(
            "--user: '{spec}' keeps the root group: name another"
        ));
    }
    Ok(Identity {
        spec: spec.to_string(),
        uid,
        gid,
    })
}

/// A user's uid and primary group, by name or number; a number with no entry has no group of
/// its own (`None`: the spec must name one).
fn lookup_user(user: &str) -> Result<(libc::uid_t, Option<libc::gid_t>), String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value to be overwritten.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let number = user.parse::<libc::uid_t>().ok();
    let rc = match number {
        // SAFETY: live buffers of the sizes given; `found` is set to `&pwd` or null.
        Some(uid) => unsafe {
            libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found)
        },
        None => {
            let name =
                CString::new(user).map_err(|_| format!("--user: '{user}' holds a NUL byte"))?;
            // SAFETY: as above.
            unsafe {
                libc::getpwnam_r(
                    name.as_ptr(),
                    &mut pwd,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut found,
                )
            }
        }
    };
    match (rc, found.is_null(), number) {
        (0, false, _) => Ok((pwd.pw_uid, Some(pwd.pw_gid))),
        (0, true, Some(uid)) => Ok((uid, None)),
        (0, true, None) => Err(format!("--user: no such user '{user}'")),
        (rc, _, _) => Err(format!(
            "--user: cannot look up '{user}': {}",
            io::Error::from_raw_os_error(rc)
        )),
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
        // Checked, not assumed: every id changed, and neither root nor its group can be had
        // back.
        let (mut ruid, mut euid, mut suid) = (0, 0, 0);
        let (mut rgid, mut egid, mut sgid) = (0, 0, 0);
        if libc::getresuid(&mut ruid, &mut euid, &mut suid) != 0
            || libc::getresgid(&mut rgid, &mut egid, &mut sgid) != 0
        {
            return Err(fail("getresuid"));
        }
        if [ruid, euid, suid] != [id.uid; 3] || [rgid, egid, sgid] != [id.gid; 3] {
            return Err(format!(
                "cannot become {id}: uids {ruid}/{euid}/{suid}, gids {rgid}/{egid}/{sgid}"
            ));
        }
        let regained = libc::setuid(0) == 0
            || libc::seteuid(0) == 0
            || libc::setgid(0) == 0
            || libc::setegid(0) == 0;
        if regained {
            return Err(format!("cannot become {id}: root could be had back"));
        }
    }
    Ok(())
}

/// Whether this process, as it is now, may list and read `dir` (what serving it takes).
pub fn can_serve(dir: &str) -> io::Result<()> {
    let path = CString::new(dir).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a live C string; AT_EACCESS checks with the effective ids, as opening would.
    let rc = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::R_OK | libc::X_OK,
            libc::AT_EACCESS,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
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
            ("4321", Err("has no entry, so no group of its own")),
            ("4321:4321", Ok((4321, 4321))),
            ("nobody:0", Err("keeps the root group")),
            ("nobody:root", Err("keeps the root group")),
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
