//! `Content-Type` from a file name's extension: a small built-in table, compared without
//! regard to ASCII case, with `application/octet-stream` for everything else. Text types say
//! `charset=utf-8`. The table is a constant slice scanned in order: some fifty rows, no
//! allocation, no start-up cost.

/// The type of a file whose extension the table does not know, or that has none.
pub const FALLBACK: &str = "application/octet-stream";

/// (extension, type), extensions in lowercase ASCII.
const TABLE: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("xhtml", "application/xhtml+xml"),
    ("webmanifest", "application/manifest+json"),
    ("vtt", "text/vtt; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("txt", "text/plain; charset=utf-8"),
    ("text", "text/plain; charset=utf-8"),
    ("log", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/vnd.microsoft.icon"),
    ("bmp", "image/bmp"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    // A download of a compressed file, not a compressed response: no Content-Encoding.
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("bz2", "application/x-bzip2"),
    ("xz", "application/x-xz"),
    ("zst", "application/zstd"),
    ("tar", "application/x-tar"),
    ("wasm", "application/wasm"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mov", "video/quicktime"),
    ("mkv", "video/x-matroska"),
    ("m4v", "video/mp4"),
    ("m4a", "audio/mp4"),
    ("flac", "audio/flac"),
    ("opus", "audio/ogg"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/wav"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
];

/// The `Content-Type` for a file path (decoded bytes; only the last component counts). The
/// extension is what follows the last `.` of that component, unless the dot is its first byte
/// (`.bashrc` has none, as with [`std::path::Path::extension`]).
pub fn content_type(path: &[u8]) -> &'static str {
    extension(path)
        .and_then(|ext| {
            TABLE
                .iter()
                .find(|(known, _)| known.as_bytes().eq_ignore_ascii_case(ext))
        })
        .map_or(FALLBACK, |&(_, mime)| mime)
}

/// The extension of a path's last component: after its last `.`, unless that is its first byte.
pub(crate) fn extension(path: &[u8]) -> Option<&[u8]> {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let dot = name.iter().rposition(|&b| b == b'.')?;
    (dot > 0).then(|| &name[dot + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_extension() {
        let cases: &[(&[u8], &str)] = &[
            (b"index.html", "text/html; charset=utf-8"),
            (b"a.xhtml", "application/xhtml+xml"),
            (b"site.webmanifest", "application/manifest+json"),
            (b"subs.vtt", "text/vtt; charset=utf-8"),
            (b"clip.mov", "video/quicktime"),
            (b"film.MKV", "video/x-matroska"),
            (b"song.m4a", "audio/mp4"),
            (b"/docs/INDEX.HTM", "text/html; charset=utf-8"),
            (b"a.CsS", "text/css; charset=utf-8"),
            (b"app.js", "text/javascript; charset=utf-8"),
            (b"data.json", "application/json"),
            (b"notes.txt", "text/plain; charset=utf-8"),
            (b"README.md", "text/markdown; charset=utf-8"),
            (b"feed.xml", "application/xml"),
            (b"logo.svg", "image/svg+xml"),
            (b"a.png", "image/png"),
            (b"a.jpg", "image/jpeg"),
            (b"a.JPEG", "image/jpeg"),
            (b"a.gif", "image/gif"),
            (b"a.webp", "image/webp"),
            (b"favicon.ico", "image/vnd.microsoft.icon"),
            (b"report.pdf", "application/pdf"),
            (b"a.zip", "application/zip"),
            (b"src.tar.gz", "application/gzip"),
            (b"src.tar", "application/x-tar"),
            (b"m.wasm", "application/wasm"),
            (b"v.mp4", "video/mp4"),
            (b"s.mp3", "audio/mpeg"),
            (b"f.woff2", "font/woff2"),
            // No extension, or none the table knows.
            (b"Makefile", FALLBACK),
            (b".bashrc", FALLBACK),
            (b"dir/.html", FALLBACK),
            (b"trailing.", FALLBACK),
            (b"a.html/", FALLBACK),
            (b"dir.html/file", FALLBACK),
            (b"big.iso", FALLBACK),
            (b"x.htmlx", FALLBACK),
            (b"x.\xff", FALLBACK),
            (b"", FALLBACK),
            (b"/", FALLBACK),
            (b".", FALLBACK),
        ];
        for (path, want) in cases {
            assert_eq!(
                content_type(path),
                *want,
                "{:?}",
                String::from_utf8_lossy(path)
            );
        }
    }

    #[test]
    fn table_is_lowercase_and_text_says_utf8() {
        for (i, (ext, mime)) in TABLE.iter().enumerate() {
            assert!(
                !ext.is_empty()
                    && ext
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            );
            assert!(
                TABLE[..i].iter().all(|(seen, _)| seen != ext),
                "{ext} twice"
            );
            if mime.starts_with("text/") {
                assert!(mime.ends_with("; charset=utf-8"), "{mime}");
            }
        }
    }
}
