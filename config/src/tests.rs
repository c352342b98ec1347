use super::*;

const EXAMPLE: &str = include_str!("../../clickday.toml");

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::from_toml(text, env, 1_000)
}

#[test]
fn the_commented_example_is_valid() {
    let cfg = load(EXAMPLE, &[]).unwrap();
    assert_eq!(cfg.node_id, 1);
    assert!(cfg.gateway.tls);
    assert!(cfg.calendar.get("2011-01-31").is_some());
    assert_eq!(
        cfg.queue.url,
        QueueUrl::Sqlite("./clickday-data/queue.db".into())
    );
    assert_eq!(
        cfg.gateway.ticket_key_file,
        PathBuf::from("./clickday-data/ticket-key")
    );
    assert_eq!(
        cfg.gateway.ticket_valid_after_close,
        std::time::Duration::from_secs(900)
    );
}

#[test]
fn empty_file_is_the_embedded_default_with_a_demo_day() {
    let cfg = load("", &[]).unwrap();
    assert_eq!(
        cfg.store,
        StoreUrl::Sqlite(PathBuf::from("./clickday-data/store.db"))
    );
    let demo = cfg.calendar.get("demo").unwrap();
    assert_eq!(demo.opens_at, 1_000);
    assert!(cfg.calendar.knows_province("RM"));
    assert!(!cfg.calendar.knows_province("XX"));
    assert_eq!(
        provinces::ITALIAN.iter().collect::<BTreeSet<_>>().len(),
        107
    );
}

#[test]
fn environment_overrides_nested_keys_with_types() {
    let cfg = load(
        "",
        &[
            ("CLICKDAY_NODE_ID", "7"),
            ("CLICKDAY_GATEWAY__TLS", "false"),
            ("CLICKDAY_GATEWAY__LISTEN", "0.0.0.0:9000"),
            ("CLICKDAY_QUEUE__URL", "redis://127.0.0.1:7000/0"),
            ("OTHER_THING", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.node_id, 7);
    assert!(!cfg.gateway.tls);
    assert_eq!(cfg.gateway.listen.port(), 9000);
    assert_eq!(
        cfg.queue.url,
        QueueUrl::Redis("redis://127.0.0.1:7000/0".into())
    );
}

#[test]
fn bad_values_are_named() {
    let err = |text: &str, env: &[(&str, &str)]| load(text, env).unwrap_err().to_string();
    assert!(err("", &[("CLICKDAY_GATEWAY__LISTEN", "nowhere")]).contains("gateway.listen"));
    assert!(err("node_id = \"one\"", &[]).contains("node_id"));
    assert!(err("[queue]\nurl = \"mysql://x\"", &[]).contains("queue.url"));
    assert!(err("[gateway]\nbody_limit_bytes = 0", &[]).contains("gateway.body_limit_bytes"));
    assert!(err("[gateway]\ntls_cert = \"a.pem\"", &[]).contains("gateway.tls_cert"));
    assert!(err("[queue]\nshards = 0", &[]).contains("queue.shards"));
    assert!(err("provinces = [\"rm\"]", &[]).contains("provinces"));
    assert!(err("nodeid = 3", &[]).contains("nodeid"));
    assert!(err("[portal]\npublic_url = \"portale.it\"", &[]).contains("portal.public_url"));
    assert!(err("[portal]\nsession_hours = 0", &[]).contains("portal.session_hours"));
    assert!(err("[portal]\nlink_valid_hours = 9000", &[]).contains("portal.link_valid_hours"));
    assert!(
        err("[portal]\nlogin_attempts_per_minute = 0", &[])
            .contains("portal.login_attempts_per_minute")
    );
    let day = |opens: &str, closes: &str| {
        format!(
            "[[click_days]]\nid = \"d\"\nopens_at = \"{opens}\"\ncloses_at = \"{closes}\"\ncategories = [\"c\"]\n"
        )
    };
    assert!(
        err(
            &day("2011-01-31T08:00:00+01:00", "2011-01-31T07:00:00+01:00"),
            &[]
        )
        .contains("click_days[0].closes_at")
    );
    assert!(
        err(&day("8 o'clock", "2011-01-31T07:00:00+01:00"), &[]).contains("click_days[0].opens_at")
    );
    let twice = day("2011-01-31T08:00:00Z", "2011-01-31T09:00:00Z").repeat(2);
    assert!(err(&twice, &[]).contains("click_days[1].id"));
}

#[test]
fn rate_limits_can_be_turned_off() {
    let cfg = load(
        "[gateway.rate_limit]\nper_ip_per_second = 0\nper_key_per_second = 5\nper_key_burst = 9",
        &[],
    )
    .unwrap();
    assert_eq!(cfg.gateway.per_ip_limit, None);
    assert_eq!(
        cfg.gateway.per_key_limit,
        Some(Limit {
            per_second: 5,
            burst: 9
        })
    );
}

#[test]
fn quotas_are_validated_against_the_day() {
    let day = |quota: &str| {
        format!(
            "[[click_days]]\nid = \"d\"\nopens_at = \"2011-01-31T08:00:00Z\"\ncloses_at = \"2011-01-31T09:00:00Z\"\ncategories = [\"c\"]\n{quota}"
        )
    };
    let ok = load(
        &day("[[click_days.quotas]]\ncategory = \"c\"\nprovince = \"RM\"\nplaces = 120\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        ok.calendar
            .get("d")
            .unwrap()
            .quotas
            .get(&("c".to_string(), "RM".to_string())),
        Some(&120)
    );
    let err = |quota: &str| load(&day(quota), &[]).unwrap_err().to_string();
    assert!(
        err("[[click_days.quotas]]\ncategory = \"x\"\nprovince = \"RM\"\nplaces = 1\n")
            .contains("click_days[0].quotas[0].category")
    );
    assert!(
        err("[[click_days.quotas]]\ncategory = \"c\"\nprovince = \"ZZ\"\nplaces = 1\n")
            .contains("click_days[0].quotas[0].province")
    );
    let twice =
        "[[click_days.quotas]]\ncategory = \"c\"\nprovince = \"RM\"\nplaces = 1\n".repeat(2);
    assert!(err(&twice).contains("click_days[0].quotas[1]"));
}

#[test]
fn persister_defaults_follow_the_node() {
    let cfg = load("node_id = 4", &[]).unwrap();
    assert_eq!(cfg.persister.consumer, "persister-4");
    assert_eq!(cfg.persister.workers_per_shard, 2, "embedded SQLite");
    let pg = load("[store]\nurl = \"postgres://u@h/d\"", &[]).unwrap();
    assert_eq!(pg.persister.workers_per_shard, 8, "PostgreSQL");
    assert!(cfg.persister.rank_after_close);
    assert!(
        load("[persister]\nbatch_max = 0", &[])
            .unwrap_err()
            .to_string()
            .contains("persister.batch_max")
    );
}

#[test]
fn email_transport_is_a_file_outbox_or_an_smtp_relay() {
    let cfg = load("data_dir = \"/d\"", &[]).unwrap();
    assert_eq!(
        cfg.email.transport,
        EmailTransport::Files(PathBuf::from("/d/outbox"))
    );
    let cfg = load("[email]\ntransport = \"smtp://relay.local:2525\"", &[]).unwrap();
    assert_eq!(
        cfg.email.transport,
        EmailTransport::Smtp {
            host: "relay.local".into(),
            port: 2525
        }
    );
    assert!(
        load("[email]\ntransport = \"carrier-pigeon\"", &[])
            .unwrap_err()
            .to_string()
            .contains("email.transport")
    );
    assert!(
        load("[email]\nfrom = \"nobody\"", &[])
            .unwrap_err()
            .to_string()
            .contains("email.from")
    );
}

#[test]
fn the_built_in_application_models_cover_the_demo_categories() {
    let cfg = Config::from_toml("", std::iter::empty(), 0).unwrap();
    for category in [
        "lavoro-subordinato",
        "lavoro-stagionale",
        "lavoro-domestico",
    ] {
        let model = cfg.application_model(category).unwrap();
        assert!(model.pages.len() >= 3, "{category}");
    }
    for day in cfg.calendar.days() {
        for category in &day.categories {
            assert!(cfg.application_model(category).is_some(), "{category}");
        }
    }
}

#[test]
fn configured_application_models_are_checked_and_named() {
    let model = r#"
[[application_models]]
category = "pesca"
title = { it = "Pesca", en = "Fishing" }
[[application_models.pages]]
id = "p"
title = { it = "P", en = "P" }
fields = [
  { id = "provincia", type = "province", required = true, label = { it = "Provincia", en = "Province" } },
  { id = "barca", type = "text", label = { it = "Barca", en = "Boat" } },
]
"#;
    let cfg = Config::from_toml(model, std::iter::empty(), 0).unwrap();
    assert_eq!(
        cfg.application_models.len(),
        1,
        "configured models replace the built-in ones"
    );
    let twice = format!("{model}{model}");
    let e = Config::from_toml(&twice, std::iter::empty(), 0).unwrap_err();
    assert_eq!(e.key, "application_models[1]");
    assert!(e.message.contains("second model"), "{e:?}");
    let no_province = model.replace("id = \"provincia\"", "id = \"prov\"");
    let e = Config::from_toml(&no_province, std::iter::empty(), 0).unwrap_err();
    assert_eq!(e.key, "application_models[0]");
    let bad_type = model.replace("type = \"text\"", "type = \"colour\"");
    let e = Config::from_toml(&bad_type, std::iter::empty(), 0).unwrap_err();
    assert!(e.key.starts_with("application_models"), "{e:?}");
}

#[test]
fn trusted_proxies_are_addresses_or_blocks() {
    let cfg = load(
        "[portal]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]\n",
        &[],
    )
    .unwrap();
    let [net, one, v6] = cfg.portal.trusted_proxies[..] else {
        panic!("three blocks")
    };
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert!(net.contains(ip("10.200.3.4")) && !net.contains(ip("11.0.0.1")));
    assert!(
        net.contains(ip("::ffff:10.1.2.3")),
        "IPv4-mapped counts as IPv4"
    );
    assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
    assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
    assert!(!v6.contains(ip("10.0.0.1")));
    for (bad, named) in [
        ("\"10.0.0.0/33\"", "prefix"),
        ("\"proxy.example\"", "not an address"),
    ] {
        let e = load(&format!("[portal]\ntrusted_proxies = [{bad}]\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("portal.trusted_proxies") && e.contains(named),
            "{e}"
        );
    }
}
