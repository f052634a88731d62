//! `vrrp-decode FILE.pcap`: one line per VRRP advert, gratuitous ARP or
//! unsolicited Neighbour Advertisement in a capture, to debug a live network
//! (`tcpdump -i eth0 -w FILE 'ip proto 112 or ip6 proto 112 or arp or icmp6'`).
//!
//! The line contract is documented in `lvskit::wire::inspect`:
//!
//! ```text
//! vN advert vrid=V prio=P count=C int=I csum=ok auth=A [pass=S] src=S dst=D ttl=T addrs=A1,A2,...
//! garp ip=<sender IP> mac=<sender MAC>
//! una target=<target address> mac=<target link-layer address option>
//! vN advert vrid=V prio=P count=C int=I error=<the typed error>
//! ```
//!
//! Ethernet and Linux cooked (v1 and v2) captures are read; other frames
//! print nothing. The exit status is non-zero only when the file cannot be
//! read (missing, not a pcap); a capture cut short (tcpdump killed mid-write)
//! prints what it holds and a note on stderr.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::process::ExitCode;

use lvskit::wire::inspect::inspect;
use lvskit::wire::pcap::{self, Reader};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: vrrp-decode FILE.pcap");
        return ExitCode::from(2);
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("vrrp-decode: {}: {e}", path.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    let mut reader = match Reader::new(BufReader::new(file)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vrrp-decode: {}: {e}", path.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    let link = reader.link_type();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                if let Some(line) = inspect(link, record.data) {
                    if writeln!(out, "{line}").is_err() {
                        // stdout closed (e.g. piped into `head`): stop quietly.
                        return ExitCode::SUCCESS;
                    }
                }
            }
            Ok(None) => return ExitCode::SUCCESS,
            Err(e @ (pcap::Error::TruncatedRecord { .. } | pcap::Error::RecordTooLarge { .. })) => {
                eprintln!("vrrp-decode: {}: {e}; stopping there", path.to_string_lossy());
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("vrrp-decode: {}: {e}", path.to_string_lossy());
                return ExitCode::FAILURE;
            }
        }
    }
}
