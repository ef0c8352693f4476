//! The harness itself: namespaces come and go, veth links carry traffic, guards clean up.

use integration::{unique_name, Netns};

fn namespace_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

#[test]
fn veth_pair_carries_ipv6_and_namespaces_are_removed_on_drop() {
    let (a_name, b_name);
    {
        let a = Netns::new("hx").unwrap();
        let b = Netns::new("hx").unwrap();
        a_name = a.name().to_string();
        b_name = b.name().to_string();
        assert!(namespace_exists(&a_name));
        a.veth("v0", &b, "v1").unwrap();
        a.ip(&["-6", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad"])
            .unwrap();
        b.ip(&["-6", "addr", "add", "2001:db8::2/64", "dev", "v1", "nodad"])
            .unwrap();
        a.run(&["ping", "-6", "-c", "1", "-W", "2", "2001:db8::2"])
            .unwrap();
        // A failing command reports its stderr.
        let err = a.ip(&["link", "set", "nosuchdev", "up"]).unwrap_err();
        assert!(err.to_string().contains("nosuchdev"), "{err}");
    }
    assert!(!namespace_exists(&a_name));
    assert!(!namespace_exists(&b_name));
}

#[test]
fn cleanup_happens_even_when_a_test_panics() {
    let name = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(|| {
        let ns = Netns::new("hx").unwrap();
        *name.lock().unwrap() = ns.name().to_string();
        panic!("simulated test failure");
    });
    assert!(result.is_err());
    let name = name.into_inner().unwrap();
    assert!(!name.is_empty() && !namespace_exists(&name));
}

#[test]
fn unique_names_fit_interface_names() {
    let n = unique_name("abc");
    assert!(n.len() <= 15, "{n}");
    assert_ne!(n, unique_name("abc"));
}
