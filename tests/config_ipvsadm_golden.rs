//! lvskit's `ipvsadm` renderings are the real ipvsadm 1.31's, character for
//! character: the table of `tests/data/config/ipvsadm/table.cmds` is read
//! with lvskit's command parser into the in-memory backend (which answers
//! like the kernel), then every listing of `listings` is rendered and
//! compared with `NAME.out`, which `scripts/record-ipvsadm-listings`
//! recorded from the real ipvsadm against a real kernel table (and
//! `tests/config_ipvsadm_vm.rs` re-checks in the VM).

mod config_ipvsadm_support;

use config_ipvsadm_support::{dir, lines, table};
use lvskit::backend::{IpvsBackend, MemoryIpvs};
use lvskit::config::fuzzing::table_contents;
use lvskit::config::ipvsadm::{self, Command};

/// Renders what `ipvsadm ARGS` prints for the in-memory table.
fn render(ipvs: &mut MemoryIpvs, args: &[&str]) -> String {
    match ipvsadm::parse_args(args).unwrap_or_else(|e| panic!("{args:?}: {e}")) {
        Command::Save { numeric } => ipvsadm::save(&ipvs.services().expect("services"), numeric),
        Command::List(l) if l.timeout => ipvsadm::list_timeout(&ipvs.timeouts().expect("timeouts")),
        Command::List(l) if l.daemon => ipvsadm::list_daemons(&ipvs.daemons().expect("daemons")),
        Command::List(l) => ipvsadm::list(&ipvs.info().expect("info"), &ipvs.services().expect("services"), &l),
        other => panic!("{args:?}: not a listing: {other:?}"),
    }
}

#[test]
fn listings_match_ipvsadm() {
    let mut ipvs = table("table.cmds");
    let mut differ = Vec::new();
    let listings = lines("listings");
    assert!(listings.len() >= 13);
    for l in &listings {
        let (name, args) = l.split_once(':').expect("NAME: ARGS");
        let args: Vec<&str> = args.split_whitespace().collect();
        let got = render(&mut ipvs, &args);
        let want = std::fs::read_to_string(dir().join(format!("{name}.out"))).expect("recording");
        if got != want {
            differ.push(format!("ipvsadm {} ({name}):\n--- ipvsadm 1.31\n{want}--- lvskit\n{got}", args.join(" ")));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn saved_rules_restore_to_the_same_table() {
    let mut ipvs = table("table.cmds");
    let original = table_contents(&mut ipvs);
    for numeric in [true, false] {
        let saved = ipvsadm::save(&ipvs.services().expect("services"), numeric);
        let mut copy = MemoryIpvs::new();
        for op in ipvsadm::parse_rules(&saved).expect("restorable rules") {
            copy.execute(&op).expect("applies");
        }
        assert_eq!(table_contents(&mut copy), original);
    }
}

/// Every command line of `bad-commands` gets lvskit's verdict as ipvsadm
/// 1.31 gave it (`bad-commands.out`: arguments, exit code, message): the
/// same exit code and ipvsadm's message (lvskit may add the offending text
/// as `: `TEXT'`); what ipvsadm accepted, lvskit accepts.
#[test]
fn refusals_match_ipvsadm() {
    let recorded = std::fs::read_to_string(dir().join("bad-commands.out")).expect("recording");
    let mut differ = Vec::new();
    let mut n = 0;
    for line in recorded.lines() {
        let mut f = line.splitn(3, '\t');
        let (args, rc, msg) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap_or(""));
        let words: Vec<&str> = args.split_whitespace().collect();
        let got = ipvsadm::parse_args(&words);
        n += 1;
        match (rc, got) {
            ("0", Ok(_)) => {}
            ("0", Err(e)) => differ.push(format!("{args}: ipvsadm accepts, lvskit says {e}")),
            (_, Ok(c)) => differ.push(format!("{args}: ipvsadm says ({rc}) {msg}, lvskit accepts: {c:?}")),
            (_, Err(e)) => {
                let text = e.to_string();
                let same_text = text == msg
                    || text.strip_prefix(msg).is_some_and(|rest| rest.starts_with(": `") && rest.ends_with('\''));
                if !same_text || e.exit_code().to_string() != rc {
                    differ.push(format!("{args}:\n  ipvsadm ({rc}) {msg}\n  lvskit  ({}) {text}", e.exit_code()));
                }
            }
        }
    }
    assert!(n >= 100, "{n} recorded command lines");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The numbers of an `ipvsadm -Ln --stats|--rate --exact` listing: per
/// service (in listing order), its five numbers and its servers' five.
type Numbers = Vec<([u64; 5], Vec<[u64; 5]>)>;

fn exact_numbers(listing: &str) -> Numbers {
    let mut out: Numbers = Vec::new();
    for line in listing.lines().skip(3) {
        let f: Vec<u64> = line.split_whitespace().rev().take(5).map(|w| w.parse().expect(line)).collect();
        let n = [f[4], f[3], f[2], f[1], f[0]];
        if line.starts_with("  ->") {
            out.last_mut().expect("service first").1.push(n);
        } else {
            out.push((n, Vec::new()));
        }
    }
    out
}

/// Listings with real traffic (`traffic/record.sh`, ipvsadm 1.31 in the IPVS
/// VM): counters above 10^8 and 10^9 bytes, which `--stats` abbreviates
/// with K and M. The table gets the `--exact` numbers; lvskit must then
/// print both the exact and the abbreviated listings as ipvsadm did.
#[test]
fn stats_and_rates_with_traffic_match_ipvsadm() {
    let tdir = dir().join("traffic");
    let mut ipvs = table("traffic/table.cmds");
    let read = |n: &str| std::fs::read_to_string(tdir.join(n)).unwrap();
    let stats = exact_numbers(&read("stats-exact-traffic.out"));
    let rates = exact_numbers(&read("rate-exact-traffic.out"));
    // Fill in the listing order (ipvsadm's sort, which `list` applies too).
    let mut services = ipvsadm::sort_services(&ipvs.services().unwrap());
    assert_eq!(services.len(), stats.len());
    for (i, s) in services.iter_mut().enumerate() {
        let set_s = |st: &mut lvskit::ipvs::Stats, n: [u64; 5]| {
            (st.conns, st.in_pkts, st.out_pkts, st.in_bytes, st.out_bytes) = (n[0], n[1], n[2], n[3], n[4]);
        };
        let set_r = |r: &mut lvskit::ipvs::Rates, n: [u64; 5]| {
            (r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps) = (n[0], n[1], n[2], n[3], n[4]);
        };
        set_s(&mut s.stats, stats[i].0);
        set_r(&mut s.rates, rates[i].0);
        s.dests = ipvsadm::sort_dests(&s.dests);
        for (j, d) in s.dests.iter_mut().enumerate() {
            set_s(&mut d.stats, stats[i].1[j]);
            set_r(&mut d.rates, rates[i].1[j]);
        }
    }
    let info = ipvs.info().unwrap();
    let mut differ = Vec::new();
    for (name, args) in [
        ("stats-traffic.out", "-Ln --stats"),
        ("stats-exact-traffic.out", "-Ln --stats --exact"),
        ("rate-traffic.out", "-Ln --rate"),
        ("rate-exact-traffic.out", "-Ln --rate --exact"),
    ] {
        let args: Vec<&str> = args.split_whitespace().collect();
        let Ok(Command::List(l)) = ipvsadm::parse_args(&args) else { panic!("{args:?}") };
        let got = ipvsadm::list(&info, &services, &l);
        let want = read(name);
        if got != want {
            differ.push(format!("{name}:\n--- ipvsadm 1.31\n{want}--- lvskit\n{got}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The recording does exercise the abbreviations.
    let abbreviated = read("stats-traffic.out");
    assert!(abbreviated.contains("1259M") && abbreviated.contains("220403K"), "{abbreviated}");
}
