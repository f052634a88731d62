//! The direct-routing real-server setup against the in-memory address
//! backend and a sysctl tree in a temporary directory (the VM test runs it
//! for real inside real-server namespaces carrying traffic).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use lvskit::backend::dr::IPV4_SYSCTLS;
use lvskit::backend::{AddressBackend, BackendError, DrSetup, InterfaceAddress, MemoryAddresses, Operation};

/// A fake `/proc/sys` with the four ARP sysctls at `values`.
struct SysctlTree(PathBuf);

impl SysctlTree {
    fn new(name: &str, values: [&str; 4]) -> Self {
        let root = std::env::temp_dir().join(format!("lvskit-dr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for ((rel, _), v) in IPV4_SYSCTLS.iter().zip(values) {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("{v}\n")).unwrap();
        }
        SysctlTree(root)
    }

    fn values(&self) -> Vec<String> {
        IPV4_SYSCTLS
            .iter()
            .map(|(rel, _)| std::fs::read_to_string(self.0.join(rel)).unwrap().trim().to_owned())
            .collect()
    }

    fn root(&self) -> &Path {
        &self.0
    }
}

impl Drop for SysctlTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100));

#[test]
fn setup_then_undo_leaves_the_host_as_it_was() {
    let tree = SysctlTree::new("undo", ["0", "0", "0", "0"]);
    let mut addrs = MemoryAddresses::new();
    let before = addrs.addresses(None).unwrap();
    let setup = DrSetup::apply_with_root(&mut addrs, &[VIP, VIP6], tree.root()).unwrap();
    assert_eq!(tree.values(), ["1", "2", "1", "2"]);
    let lo = addrs.link_index("lo").unwrap();
    let on_lo: Vec<_> = addrs.addresses(Some(lo)).unwrap().into_iter().map(|e| e.address).collect();
    assert_eq!(on_lo, vec![InterfaceAddress::vip(lo, VIP).label("lo"), InterfaceAddress::vip(lo, VIP6)]);
    assert_eq!(setup.added_addresses().len(), 2);
    assert_eq!(setup.changed_sysctls().count(), 4);
    setup.undo(&mut addrs).unwrap();
    assert_eq!(tree.values(), ["0", "0", "0", "0"]);
    assert_eq!(addrs.addresses(None).unwrap(), before);
}

#[test]
fn what_was_already_there_is_kept() {
    // arp_ignore already 1 everywhere, and the VIP already on lo.
    let tree = SysctlTree::new("kept", ["1", "0", "1", "0"]);
    let mut addrs = MemoryAddresses::new();
    addrs.add_address(&InterfaceAddress::vip(1, VIP)).unwrap();
    let setup = DrSetup::apply_with_root(&mut addrs, &[VIP], tree.root()).unwrap();
    assert!(setup.added_addresses().is_empty());
    assert_eq!(setup.changed_sysctls().map(|(_, old)| old.to_owned()).collect::<Vec<_>>(), ["0", "0"]);
    setup.undo(&mut addrs).unwrap();
    assert_eq!(tree.values(), ["1", "0", "1", "0"]);
    assert!(addrs.has_address(1, VIP).unwrap(), "the VIP that was there stays");
}

#[test]
fn ipv6_only_touches_no_sysctl() {
    let tree = SysctlTree::new("v6", ["0", "0", "0", "0"]);
    let mut addrs = MemoryAddresses::new();
    let setup = DrSetup::apply_with_root(&mut addrs, &[VIP6], tree.root()).unwrap();
    assert_eq!(setup.changed_sysctls().count(), 0);
    assert_eq!(tree.values(), ["0", "0", "0", "0"]);
    setup.undo(&mut addrs).unwrap();
}

#[test]
fn a_failure_half_way_undoes_what_was_done() {
    // The last sysctl is missing: the three written before it are restored.
    let tree = SysctlTree::new("fail", ["0", "0", "0", "0"]);
    std::fs::remove_file(tree.root().join(IPV4_SYSCTLS[3].0)).unwrap();
    let mut addrs = MemoryAddresses::new();
    let err = DrSetup::apply_with_root(&mut addrs, &[VIP], tree.root()).unwrap_err();
    let BackendError::Io { op: Operation::Sysctl(path), source } = &err else { panic!("{err:?}") };
    assert!(path.ends_with("net/ipv4/conf/lo/arp_announce"), "{path}");
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let first_three: Vec<String> = IPV4_SYSCTLS[..3]
        .iter()
        .map(|(rel, _)| std::fs::read_to_string(tree.root().join(rel)).unwrap().trim().to_owned())
        .collect();
    assert_eq!(first_three, ["0", "0", "0"]);
    assert!(addrs.addresses(None).unwrap().is_empty());

    // No lo: the sysctls are put back too.
    let tree = SysctlTree::new("nolo", ["0", "0", "0", "0"]);
    let mut addrs = MemoryAddresses::new();
    assert!(addrs.del_link(1));
    let err = DrSetup::apply_with_root(&mut addrs, &[VIP], tree.root()).unwrap_err();
    assert_eq!(err.operation(), Some(&Operation::LinkIndex("lo".into())));
    assert_eq!(tree.values(), ["0", "0", "0", "0"]);
}
