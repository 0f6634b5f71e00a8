//! Output tests: realistic jobs parsed to api JSON, checked field by field through JSON pointers.

use super::parse;
use serde_json::{Value, json};

fn check(job: &Value, cases: &[(&str, Value)]) {
    for (pointer, want) in cases {
        assert_eq!(job.pointer(pointer), Some(want), "at {pointer}");
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/testdata/jobspec/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_example_file_parses() {
    let dir = format!("{}/testdata/jobspec", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("testdata dir") {
        let path = entry.expect("dir entry").path();
        let src = std::fs::read_to_string(&path).expect("read example");
        let job = parse(&src, "").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(job["TaskGroups"].is_array(), "{}", path.display());
        n += 1;
    }
    assert!(n >= 3);
}

#[test]
fn connect_job_maps_services_and_ports() {
    let job = parse(&fixture("web-connect.nomad.hcl"), "").expect("parses");
    check(
        &job,
        &[
            ("/ID", json!("countdash")),
            ("/Name", json!("countdash")),
            ("/Type", Value::Null),
            ("/Priority", Value::Null),
            ("/Datacenters", json!(["dc1"])),
            ("/Meta", Value::Null),
            ("/TaskGroups/0/Name", json!("api")),
            ("/TaskGroups/0/Count", Value::Null),
            ("/TaskGroups/0/Networks/0/Mode", json!("bridge")),
            ("/TaskGroups/0/Networks/0/DynamicPorts", Value::Null),
            ("/TaskGroups/0/Services/0/Name", json!("count-api")),
            ("/TaskGroups/0/Services/0/PortLabel", json!("9001")),
            ("/TaskGroups/0/Services/0/Checks", Value::Null),
            ("/TaskGroups/0/Services/0/Connect/Native", json!(false)),
            (
                "/TaskGroups/0/Services/0/Connect/SidecarService/Port",
                json!(""),
            ),
            (
                "/TaskGroups/0/Services/0/Connect/SidecarService/Proxy",
                Value::Null,
            ),
            (
                "/TaskGroups/1/Networks/0/ReservedPorts",
                json!([{"Label": "http", "Value": 9002, "To": 9002, "HostNetwork": "", "IgnoreCollision": false}]),
            ),
            ("/TaskGroups/1/Networks/0/DynamicPorts", Value::Null),
            (
                "/TaskGroups/1/Services/0/Connect/SidecarService/Proxy/Upstreams/0/DestinationName",
                json!("count-api"),
            ),
            (
                "/TaskGroups/1/Services/0/Connect/SidecarService/Proxy/Upstreams/0/LocalBindPort",
                json!(8080),
            ),
            (
                "/TaskGroups/1/Tasks/0/Env",
                json!({"COUNTING_SERVICE_URL": "http://${NOMAD_UPSTREAM_ADDR_count_api}"}),
            ),
            (
                "/TaskGroups/1/Tasks/0/Config",
                json!({"image": "hashicorpdev/counter-dashboard:v3"}),
            ),
            ("/TaskGroups/1/Tasks/0/KillTimeout", Value::Null),
            ("/TaskGroups/1/Tasks/0/ShutdownDelay", json!(0)),
        ],
    );
    assert!(
        job["TaskGroups"][0]["Tasks"][0]
            .get("CSIPluginConfig")
            .is_none(),
        "omitempty field is absent"
    );
}

#[test]
fn templates_checks_config_blocks_and_heredocs() {
    let job = parse(&fixture("redis-cache.nomad.hcl"), "").expect("parses");
    let task = "/TaskGroups/0/Tasks/0";
    check(
        &job,
        &[
            (
                "/Constraints",
                json!([{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}]),
            ),
            ("/Update/MinHealthyTime", json!(10_000_000_000_i64)),
            ("/Update/HealthyDeadline", json!(180_000_000_000_i64)),
            ("/Update/AutoRevert", json!(true)),
            ("/Update/Stagger", Value::Null),
            ("/TaskGroups/0/Count", json!(2)),
            (
                "/TaskGroups/0/EphemeralDisk",
                json!({"Sticky": true, "Migrate": null, "SizeMB": 300}),
            ),
            (
                "/TaskGroups/0/Networks/0/DynamicPorts",
                json!([{"Label": "db", "Value": 0, "To": 6379, "HostNetwork": "", "IgnoreCollision": false}]),
            ),
            (&format!("{task}/Config/image"), json!("redis:7.2")),
            (
                &format!("{task}/Config/logging"),
                json!([{"type": "journald", "config": [{"tag": "redis"}]}]),
            ),
            (
                &format!("{task}/Templates/0/DestPath"),
                json!("local/redis.conf"),
            ),
            (
                &format!("{task}/Templates/0/EmbeddedTmpl"),
                json!("maxmemory {{ key \"redis/maxmemory\" }}\nbind ${NOMAD_IP_db}\n"),
            ),
            (&format!("{task}/Templates/0/ChangeMode"), json!("signal")),
            (&format!("{task}/Templates/0/ChangeSignal"), json!("SIGHUP")),
            (
                &format!("{task}/Templates/0/Splay"),
                json!(5_000_000_000_i64),
            ),
            (&format!("{task}/Templates/0/Perms"), json!("0644")),
            (&format!("{task}/Templates/0/ErrMissingKey"), json!(false)),
            (&format!("{task}/Templates/0/Wait"), Value::Null),
            (&format!("{task}/Services/0/Checks/0/Name"), json!("alive")),
            (
                &format!("{task}/Services/0/Checks/0/Interval"),
                json!(10_000_000_000_i64),
            ),
            (
                &format!("{task}/Services/0/Checks/0/Timeout"),
                json!(2_000_000_000_i64),
            ),
            (&format!("{task}/Services/0/Provider"), json!("nomad")),
            (&format!("{task}/Resources/CPU"), json!(500)),
            (&format!("{task}/Resources/MemoryMB"), json!(256)),
            (&format!("{task}/Resources/Networks"), Value::Null),
        ],
    );
}

#[test]
fn var_file_overrides_default_and_locals_follow() {
    let src = fixture("redis-cache.nomad.hcl");
    let job = parse(&src, "redis_version = \"7.4\"\nunrelated = 1\n").expect("parses");
    check(
        &job,
        &[("/TaskGroups/0/Tasks/0/Config/image", json!("redis:7.4"))],
    );
}

#[test]
fn runtime_interpolations_and_dynamic_blocks() {
    let job = parse(&fixture("system-dynamic.nomad.hcl"), "").expect("parses");
    let task = "/TaskGroups/0/Tasks/0";
    check(
        &job,
        &[
            ("/Type", json!("system")),
            ("/Priority", json!(80)),
            (
                "/TaskGroups/0/Networks/0/ReservedPorts/0/Label",
                json!("http"),
            ),
            (
                "/TaskGroups/0/Networks/0/ReservedPorts/0/Value",
                json!(8080),
            ),
            (
                "/TaskGroups/0/Networks/0/ReservedPorts/1/Label",
                json!("admin"),
            ),
            (
                &format!("{task}/Config/args"),
                json!([
                    "-c",
                    "${NOMAD_TASK_DIR}/envoy.yaml",
                    "--service-node",
                    "${node.unique.name}"
                ]),
            ),
            (&format!("{task}/KillTimeout"), json!(45_000_000_000_i64)),
            (&format!("{task}/KillSignal"), json!("SIGTERM")),
            (
                &format!("{task}/Lifecycle"),
                json!({"Hook": "prestart", "Sidecar": true}),
            ),
            (&format!("{task}/Identity/Env"), json!(true)),
            (&format!("{task}/Identities"), json!([])),
        ],
    );
}

#[test]
fn periodic_batch_job() {
    let job = parse(&fixture("batch-periodic.nomad.hcl"), "").expect("parses");
    check(
        &job,
        &[
            ("/Periodic/Specs", json!(["0 2 * * *"])),
            ("/Periodic/SpecType", json!("cron")),
            ("/Periodic/ProhibitOverlap", json!(true)),
            (
                "/TaskGroups/0/RestartPolicy/Delay",
                json!(15_000_000_000_i64),
            ),
            (
                "/TaskGroups/0/Tasks/0/Config/args",
                json!(["--date", "${NOMAD_META_run_date}"]),
            ),
            (
                "/TaskGroups/0/Tasks/0/Artifacts/0/GetterOptions",
                json!({"checksum": "sha256:0123456789abcdef"}),
            ),
            ("/TaskGroups/0/Tasks/0/LogConfig/MaxFiles", json!(3)),
        ],
    );
}

#[test]
fn expressions_evaluate() {
    let cases: &[(&str, Value)] = &[
        ("upper(\"a\")", json!("A")),
        ("format(\"%s-%03d\", \"web\", 7)", json!("web-007")),
        ("join(\",\", concat([\"a\"], [\"b\"]))", json!("a,b")),
        ("lookup({a = \"1\"}, \"b\", \"d\")", json!("d")),
        ("length(split(\".\", \"a.b.c\"))", json!("3")),
        ("var.n * 2 + 1", json!("7")),
        ("\"${var.n > 2 ? \"big\" : \"small\"}\"", json!("big")),
        ("\"${meta.rack}-x\"", json!("${meta.rack}-x")),
        ("env[\"HOME\"]", json!("${env[\"HOME\"]}")),
        ("jsonencode({a = [1, true]})", json!("{\"a\":[1,true]}")),
        ("base64decode(base64encode(\"nomad\"))", json!("nomad")),
        ("\"%{ for x in [1, 2] }${x};%{ endfor }\"", json!("1;2;")),
    ];
    for (expr, want) in cases {
        let src = format!(
            "variable \"n\" {{\n  default = 3\n}}\njob \"j\" {{\n  meta {{\n    v = {expr}\n  }}\n}}\n"
        );
        let job = parse(&src, "").unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(&job["Meta"]["v"], want, "{expr}");
    }
}
