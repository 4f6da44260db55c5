//! What `tcpserve get` parses from the network and the command line, with no I/O of its own:
//! the URL ([`url`]), the response head and what its fields say about the body ([`head`]), and
//! chunked bodies ([`chunked`]). The downloader itself is the binary's; these live in the
//! library so that the fuzz targets reach them.

pub mod chunked;
pub mod head;
pub mod url;
