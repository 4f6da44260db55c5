//! The operator's own pages: an error page per status (`--error-page 404=FILE`) and a
//! single-page app's fallback (`--spa FILE`).
//!
//! A page is a file inside the served root, named as a client would name it (`404.html`,
//! `/errors/404.html`): it is checked once at start ([`Pages::check`]: a regular file, reached
//! through the root's confinement, so neither `..` nor a symlink leads out) and served at each
//! request through the same [`Root`] and small-file cache as any file, so a page edited on disk
//! is served as edited. Should it vanish after start, the built-in answer stands in.
//!
//! - An error page replaces the short text of an error answered to a well-formed GET or HEAD
//!   ([`STATUSES`]); the status stays, with the page's `Content-Type` and length, and the
//!   `Connection` the error had. No validators, no ranges: `Range` and conditionals are ignored.
//!   Errors answered to a head the server would not read as a request (405, 408, 413, 431, 501,
//!   505, which close the connection) and 416 keep their text.
//! - The single-page app's file answers, with 200 as a file would, a request whose path is not
//!   found (not one refused for another reason) when its last segment has no extension
//!   ([`crate::http::mime`]'s sense: a dot after its first byte): `/users/42` and `/users/` get
//!   the app, `/logo.png` keeps its 404. A directory without an `index.html` keeps its own
//!   answer (404, or its listing under `--listing`).

use crate::http::mime;
use crate::root::{relative_path, Root};

/// The statuses an error page may replace: those the files service answers to a well-formed
/// request with its short text.
pub const STATUSES: [u16; 5] = [400, 403, 404, 414, 500];
/// [`STATUSES`] in words, for a message.
const STATUSES_TEXT: &str = "only 400, 403, 404, 414 and 500 may have a page";

/// The operator's pages, by name under the root.
#[derive(Debug, Default, Clone)]
pub struct Pages {
    errors: Vec<(u16, Box<[u8]>)>,
    spa: Option<Box<[u8]>>,
}

impl Pages {
    /// Serves the file `name` for errors of `status` (checked by [`Pages::check`]).
    pub fn add_error(&mut self, status: u16, name: &[u8]) {
        self.errors.push((status, name.into()));
    }

    /// Serves the file `name` for a missing path with no extension.
    pub fn set_spa(&mut self, name: &[u8]) {
        self.spa = Some(name.into());
    }

    /// What no server can serve, if anything: a status not in [`STATUSES`] or named twice,
    /// pages without a files service (`root` is `None`), or a page that is not a regular file
    /// under the root.
    pub fn check(&self, root: Option<&Root>) -> Result<(), String> {
        for (i, (status, _)) in self.errors.iter().enumerate() {
            if !STATUSES.contains(status) {
                return Err(format!("error page {status}: {STATUSES_TEXT}"));
            }
            if self.errors[..i].iter().any(|(seen, _)| seen == status) {
                return Err(format!("error page {status}: given twice"));
            }
        }
        for (status, name) in &self.errors {
            check_file(&format!("error page {status}"), name, root)?;
        }
        match &self.spa {
            Some(name) => check_file("single-page app", name, root),
            None => Ok(()),
        }
    }

    /// The page for an error of `status`, if any.
    pub(crate) fn error(&self, status: u16) -> Option<&[u8]> {
        let page = self.errors.iter().find(|(s, _)| *s == status);
        page.map(|(_, name)| &name[..])
    }

    /// The single-page app's file, when it answers a request for `path` refused so.
    pub(crate) fn spa(&self, refusal: crate::root::Refusal, path: &[u8]) -> Option<&[u8]> {
        let spa = self.spa.as_deref()?;
        (refusal == crate::root::Refusal::NotFound && mime::extension(path).is_none())
            .then_some(spa)
    }
}

/// The page `name` must be a regular file under `root`, reached as a client would reach it.
fn check_file(what: &str, name: &[u8], root: Option<&Root>) -> Result<(), String> {
    let shown = String::from_utf8_lossy(name);
    let Some(root) = root else {
        return Err(format!(
            "{what} {shown}: only the files service serves pages"
        ));
    };
    relative_path(name)
        .and_then(|_| root.open(name))
        .map(drop)
        .map_err(|refusal| {
            format!(
                "{what} {shown}: {refusal} (a page is a file under the root {})",
                root.path().display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Refusal;

    #[test]
    fn statuses_are_checked_before_files() {
        let rows: &[(&[u16], &str)] = &[
            (
                &[418],
                "error page 418: only 400, 403, 404, 414 and 500 may have a page",
            ),
            (&[404, 200], "error page 200: only 400"),
            (&[404, 404], "error page 404: given twice"),
            // Without a files service, no page can be served.
            (
                &[404],
                "error page 404 page.html: only the files service serves pages",
            ),
        ];
        for (statuses, want) in rows {
            let mut pages = Pages::default();
            for &status in *statuses {
                pages.add_error(status, b"page.html");
            }
            let got = pages.check(None).unwrap_err();
            assert!(got.starts_with(want), "{statuses:?}: {got}");
        }
        let mut spa = Pages::default();
        spa.set_spa(b"app.html");
        assert!(spa.check(None).unwrap_err().contains("files service"));
        assert_eq!(Pages::default().check(None), Ok(()));
    }

    #[test]
    fn the_spa_answers_missing_paths_without_an_extension() {
        let mut pages = Pages::default();
        assert_eq!(pages.spa(Refusal::NotFound, b"users/42"), None);
        pages.set_spa(b"index.html");
        let cases: &[(Refusal, &[u8], bool)] = &[
            (Refusal::NotFound, b"users/42", true),
            (Refusal::NotFound, b"users/", true),
            (Refusal::NotFound, b"/", true),
            (Refusal::NotFound, b".well-known", true),
            (Refusal::NotFound, b"v1.2/list", true),
            (Refusal::NotFound, b"logo.png", false),
            (Refusal::NotFound, b"a/b.JS", false),
            (Refusal::NotFound, b"trailing.", false),
            (Refusal::OutsideRoot, b"link", false),
            (Refusal::PermissionDenied, b"secret", false),
            (Refusal::Directory, b"dir", false),
        ];
        for &(refusal, path, want) in cases {
            let got = pages.spa(refusal, path).is_some();
            assert_eq!(got, want, "{refusal:?} {:?}", String::from_utf8_lossy(path));
        }
    }
}
