//! `cargo xtask deploy-check`: validates deploy/ offline, one line per check.
//!
//! - Kubernetes manifests: `kubernetes-validate --strict` (PyPI, in `target/tools/venv`) against
//!   the oldest and newest Kubernetes its bundled schemas cover, file by file (those the
//!   kustomization lists, and the example Secret) and, when `kubectl` is there, as kustomize
//!   renders them (the base, and deploy/README.md's example overlay with the monitoring
//!   component, an image, a token file and an --iface patch). The PodMonitor is a
//!   CRD kind without a bundled schema: its fields are checked by hand (known fields only, the
//!   required ones present), as are the cross-references between the files (selectors and pod
//!   labels, port names, the token Secret's name and key, the probes, the privilege settings).
//! - Prometheus: `promtool check rules` and `promtool test rules` on the alerts.
//! - Grafana: the dashboard's structure (schema version, variables, data sources, ids), and
//!   every PromQL expression of it, Grafana variables substituted, as recording rules through
//!   `promtool check rules`.
//! - systemd: `systemd-analyze verify` (on a copy whose ExecStart names a stand-in, the binary
//!   being absent here) and `systemd-analyze security --offline` under an exposure threshold;
//!   skipped, loudly, without systemd-analyze.
//! - Metric names and flags (with [`check`]): `cargo test -p zktraffic-tests --test deploy`
//!   scrapes a daemon and checks every name deploy/ uses, and every flag it passes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

use crate::util::workspace_root;

/// Kubernetes versions the manifests are validated against: the oldest and the newest of the
/// schemas kubernetes-validate (pinned in setup.rs) bundles.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.25.0", "1.37.0"];

/// Highest `systemd-analyze security` exposure accepted for the unit, in tenths (2.5).
const SYSTEMD_EXPOSURE_MAX: &str = "25";

/// Every check, the metric-name test included.
pub fn check() -> Result<()> {
    check_files()?;
    metric_names()
}

/// The checks of the files themselves (what `cargo xtask test` adds to its own `cargo test`,
/// which runs the metric-name test anyway).
pub fn check_files() -> Result<()> {
    crate::setup::deploy_tools()?;
    let root = workspace_root();
    let deploy = root.join("deploy");
    let tmp = root.join("target/tmp").join(format!("deploy-check-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = (|| {
        let tools = Tools::find()?;
        kubernetes(&tools, &deploy, &tmp)?;
        prometheus(&tools, &deploy)?;
        grafana(&tools, &deploy, &tmp)?;
        systemd(&deploy, &tmp)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    println!("deploy-check: deploy/ is valid");
    Ok(())
}

/// `cargo test --release -p zktraffic-tests --test deploy`.
fn metric_names() -> Result<()> {
    println!("deploy-check: metric names and flags: cargo test -p zktraffic-tests --test deploy");
    crate::util::cargo(&["test", "--release", "-p", "zktraffic-tests", "--test", "deploy"])
        .context("deploy/ names a metric /metrics lacks, or a flag serve lacks (see above)")?;
    println!("deploy-check: metric names and flags: ok");
    Ok(())
}

struct Tools {
    python: PathBuf,
    kubernetes_validate: PathBuf,
    promtool: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools> {
        let root = workspace_root();
        let venv = root.join("target/tools/venv/bin");
        let tools = Tools {
            python: venv.join("python"),
            kubernetes_validate: venv.join("kubernetes-validate"),
            promtool: root.join("target/tools/promtool"),
        };
        for tool in [&tools.python, &tools.kubernetes_validate, &tools.promtool] {
            ensure!(
                tool.is_file(),
                "{} is missing (cargo xtask setup installs it)",
                tool.display()
            );
        }
        Ok(tools)
    }

    /// Runs the embedded helper script with `args`; its stdout, or an error with its output.
    fn helper(&self, what: &str, args: &[&Path]) -> Result<String> {
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(HELPER)
            .arg(what)
            .args(args)
            .output()
            .with_context(|| format!("could not start {}", self.python.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(stdout)
    }
}

/// Shows `path` relative to the workspace.
fn shown(path: &Path) -> String {
    path.strip_prefix(workspace_root()).unwrap_or(path).display().to_string()
}

/// `kubernetes-validate --strict` on `files`: any warning (a kind without schema) fails too.
fn validate_manifests(tools: &Tools, files: &[PathBuf], what: &str) -> Result<()> {
    let mut cmd = Command::new(&tools.kubernetes_validate);
    cmd.arg("--strict");
    for v in KUBERNETES_VERSIONS {
        cmd.args(["-k", v]);
    }
    let out = cmd
        .args(files)
        .output()
        .with_context(|| format!("could not start {}", tools.kubernetes_validate.display()))?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let passed = text.lines().filter(|l| l.starts_with("INFO ")).count();
    let bad: Vec<&str> =
        text.lines().filter(|l| !l.starts_with("INFO ") && !l.is_empty()).collect();
    if !out.status.success() || !bad.is_empty() || passed == 0 {
        bail!("kubernetes-validate --strict on {what} failed:\n{}", text.trim_end());
    }
    println!(
        "deploy-check: kubernetes-validate --strict {what}: ok ({passed} resource × version checks, \
         Kubernetes {})",
        KUBERNETES_VERSIONS.join(" and ")
    );
    Ok(())
}

fn kubernetes(tools: &Tools, deploy: &Path, tmp: &Path) -> Result<()> {
    let k8s = deploy.join("kubernetes");
    // The files the kustomization lists, each validated on its own (and the example Secret).
    let listed = tools.helper("resources", &[&k8s.join("kustomization.yaml")])?;
    let mut files = Vec::new();
    for name in listed.lines() {
        let file = k8s.join(name);
        ensure!(
            file.is_file(),
            "{}: resource {name} does not exist",
            shown(&k8s.join("kustomization.yaml"))
        );
        files.push(file);
    }
    println!(
        "deploy-check: {}: {} resources, all present",
        shown(&k8s.join("kustomization.yaml")),
        files.len()
    );
    files.push(k8s.join("secret.example.yaml"));
    validate_manifests(tools, &files, "deploy/kubernetes/*.yaml")?;

    // What the schemas cannot say: the PodMonitor's fields, and the files agreeing.
    let out = tools.helper("structure", &[&k8s])?;
    print!("{out}");

    // As kustomize renders them, when kubectl is there.
    let kubectl_ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !kubectl_ok {
        println!(
            "deploy-check: !!! SKIPPED: kustomize render (no kubectl); the files were validated \
             one by one !!!"
        );
        return Ok(());
    }
    let render = |dir: &Path| -> Result<String> {
        let out = Command::new("kubectl").arg("kustomize").arg(dir).output()?;
        ensure!(
            out.status.success(),
            "kubectl kustomize {} failed: {}",
            shown(dir),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let base = render(&k8s)?;
    ensure!(
        base.contains("image: localhost/zktraffic:0.1.0"),
        "kubectl kustomize deploy/kubernetes: the images: override did not apply"
    );
    let rendered = tmp.join("rendered.yaml");
    std::fs::write(&rendered, &base)?;
    validate_manifests(tools, &[rendered], "kubectl kustomize deploy/kubernetes")?;
    // deploy/README.md's example overlay (the monitoring component, an image, a token from a
    // file, a patched --iface), in a sandbox laid out as it says: the checkout beside it.
    let readme = deploy.join("README.md");
    let text = std::fs::read_to_string(&readme)?;
    let example = text
        .split("# my-cluster/kustomization.yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .with_context(|| {
            format!("{}: no `# my-cluster/kustomization.yaml` example", shown(&readme))
        })?;
    let sandbox = tmp.join("sandbox");
    copy_dir(deploy, &sandbox.join("zktraffic/deploy"))?;
    let overlay = sandbox.join("my-cluster");
    std::fs::create_dir_all(&overlay)?;
    std::fs::write(overlay.join("kustomization.yaml"), example)?;
    std::fs::write(overlay.join("http-token.txt"), "not-a-real-token\n")?;
    let rendered =
        render(&overlay).with_context(|| format!("{}: the example overlay", shown(&readme)))?;
    let kinds: Vec<&str> = rendered.lines().filter_map(|l| l.strip_prefix("kind: ")).collect();
    for kind in ["DaemonSet", "Secret", "PodMonitor"] {
        ensure!(
            kinds.contains(&kind),
            "{}: the example overlay renders no {kind} (kinds: {kinds:?})",
            shown(&readme)
        );
    }
    ensure!(
        rendered.contains("- --iface=ens5") && rendered.contains("image: registry.example.com/"),
        "{}: the example overlay's image or --iface patch did not apply",
        shown(&readme)
    );
    // Everything but the PodMonitor (no schema; checked above) through the schemas.
    let docs: Vec<&str> =
        rendered.split("\n---\n").filter(|d| !d.contains("\nkind: PodMonitor\n")).collect();
    let file = tmp.join("rendered-example.yaml");
    std::fs::write(&file, docs.join("\n---\n"))?;
    validate_manifests(tools, &[file], "deploy/README.md's example overlay (kubectl kustomize)")?;
    println!("deploy-check: deploy/README.md's example overlay renders: ok ({})", kinds.join(", "));
    Ok(())
}

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let dest = to.join(path.file_name().context("a file name")?);
        if path.is_dir() {
            copy_dir(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest)?;
        }
    }
    Ok(())
}

fn promtool(tools: &Tools, dir: &Path, args: &[&str], file: &str) -> Result<String> {
    let out = Command::new(&tools.promtool)
        .args(args)
        .arg(file)
        .current_dir(dir)
        .output()
        .with_context(|| format!("could not start {}", tools.promtool.display()))?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("promtool {} {}/{file} failed:\n{}", args.join(" "), shown(dir), text.trim_end());
    }
    Ok(text)
}

fn prometheus(tools: &Tools, deploy: &Path) -> Result<()> {
    let dir = deploy.join("prometheus");
    let out = promtool(tools, &dir, &["check", "rules"], "alerts.yaml")?;
    let found = out.lines().find_map(|l| l.trim().strip_prefix("SUCCESS: ")).unwrap_or("ok");
    println!("deploy-check: promtool check rules deploy/prometheus/alerts.yaml: {found}");
    promtool(tools, &dir, &["test", "rules"], "alerts_test.yaml")?;
    println!("deploy-check: promtool test rules deploy/prometheus/alerts_test.yaml: ok");
    Ok(())
}

fn grafana(tools: &Tools, deploy: &Path, tmp: &Path) -> Result<()> {
    let dir = deploy.join("grafana");
    let mut dashboards: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    dashboards.sort();
    ensure!(!dashboards.is_empty(), "no dashboard in {}", shown(&dir));
    for dashboard in dashboards {
        // Structure, and every expression as a recording rule (variables substituted).
        let rules = tmp.join("dashboard_rules.yaml");
        let out = tools.helper("dashboard", &[&dashboard, &rules])?;
        print!("{out}");
        promtool(tools, tmp, &["check", "rules"], "dashboard_rules.yaml").with_context(|| {
            format!(
                "{}: a PromQL expression does not parse (the rule's name says which panel: \
                 panel<id>_<refId>)",
                shown(&dashboard)
            )
        })?;
        println!("deploy-check: {}: every PromQL expression parses (promtool)", shown(&dashboard));
    }
    Ok(())
}

fn systemd(deploy: &Path, tmp: &Path) -> Result<()> {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if !analyze.is_ok_and(|o| o.status.success()) {
        println!(
            "deploy-check: !!! SKIPPED: systemd-analyze verify deploy/systemd/zktraffic.service \
             (no systemd-analyze: apt-get install systemd) !!!"
        );
        return Ok(());
    }
    let unit = deploy.join("systemd/zktraffic.service");
    let text = std::fs::read_to_string(&unit)?;
    const BINARY: &str = "/usr/local/bin/zktraffic";
    ensure!(text.contains(BINARY), "{}: ExecStart does not run {BINARY}", shown(&unit));
    // verify checks that ExecStart's binary exists: point it at a stand-in.
    let stand_in = tmp.join("zktraffic");
    std::fs::write(&stand_in, "#!/bin/sh\nexit 0\n")?;
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755))?;
    let copy = tmp.join("zktraffic.service");
    std::fs::write(&copy, text.replace(BINARY, &stand_in.to_string_lossy()))?;
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&copy).output()?;
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // An unknown or misspelt setting is only a warning to verify: any output fails here.
    if !out.status.success() || !said.trim().is_empty() {
        bail!(
            "systemd-analyze verify {} failed:\n{}",
            shown(&unit),
            said.trim_end().replace(&*copy.to_string_lossy(), &shown(&unit))
        );
    }
    println!(
        "deploy-check: systemd-analyze verify {}: ok (ExecStart's {BINARY} replaced by a stand-in)",
        shown(&unit)
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--threshold={SYSTEMD_EXPOSURE_MAX}"))
        .arg(&copy)
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    let level = said
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for ").map(|x| x.1.to_owned()))
        .unwrap_or_default();
    if !out.status.success() {
        bail!(
            "systemd-analyze security {}: exposure above {}: {level}\n{said}",
            shown(&unit),
            SYSTEMD_EXPOSURE_MAX.parse::<f64>().unwrap_or(0.0) / 10.0
        );
    }
    println!("deploy-check: systemd-analyze security --offline {}: {}", shown(&unit), level.trim());
    Ok(())
}

/// The Python side (PyYAML and json from the venv): reading YAML, and the checks of fields.
const HELPER: &str = r#####"
import json, re, sys
import yaml

mode = sys.argv[1]
errors = []

def err(file, msg):
    errors.append("%s: %s" % (file, msg))

def finish(ok_lines):
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    for line in ok_lines:
        print("deploy-check: " + line)

def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]

if mode == "resources":
    (k,) = load(sys.argv[2])
    for r in k.get("resources", []):
        print(r)
    sys.exit(0)

if mode == "structure":
    d = sys.argv[2]
    F = lambda n: "deploy/kubernetes/" + n
    (kust,) = load(d + "/kustomization.yaml")
    (ds,) = load(d + "/daemonset.yaml")
    (svc,) = load(d + "/service.yaml")
    (sa,) = load(d + "/serviceaccount.yaml")
    (ns,) = load(d + "/namespace.yaml")
    (secret,) = load(d + "/secret.example.yaml")
    (pm,) = load(d + "/monitoring/podmonitor.yaml")
    (comp,) = load(d + "/monitoring/kustomization.yaml")

    if not any(i.get("name") == "zktraffic" and i.get("newName") and i.get("newTag")
               for i in kust.get("images", [])):
        err(F("kustomization.yaml"), "images: needs name: zktraffic with newName and newTag")
    if comp.get("kind") != "Component" or "podmonitor.yaml" not in comp.get("resources", []):
        err(F("monitoring/kustomization.yaml"), "must be a Component listing podmonitor.yaml")
    if "secret.example.yaml" in kust.get("resources", []):
        err(F("kustomization.yaml"), "must not apply the example Secret (a placeholder token)")

    namespace = ns["metadata"]["name"]
    for name, doc in [("daemonset.yaml", ds), ("service.yaml", svc),
                      ("serviceaccount.yaml", sa), ("secret.example.yaml", secret),
                      ("monitoring/podmonitor.yaml", pm)]:
        if doc["metadata"].get("namespace") != namespace:
            err(F(name), "metadata.namespace must be %s" % namespace)

    spec = ds["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    ann = spec["template"]["metadata"].get("annotations", {})
    def want(cond, msg):
        if not cond:
            err(F("daemonset.yaml"), msg)
    want(spec["selector"]["matchLabels"].items() <= labels.items(),
         "spec.selector.matchLabels must match the pod template's labels")
    want(pod.get("hostNetwork") is True, "hostNetwork: true")
    want(pod.get("dnsPolicy") == "ClusterFirstWithHostNet", "dnsPolicy: ClusterFirstWithHostNet")
    want(pod.get("automountServiceAccountToken") is False, "automountServiceAccountToken: false")
    want(pod.get("serviceAccountName") == sa["metadata"]["name"], "serviceAccountName: the ServiceAccount")
    want(sa.get("automountServiceAccountToken") is False, "the ServiceAccount must not automount its token")
    want(pod.get("terminationGracePeriodSeconds", 30) >= 30, "terminationGracePeriodSeconds >= 30")
    want({"operator": "Exists"} in pod.get("tolerations", []), "tolerations: [{operator: Exists}] (every node)")
    want(spec.get("updateStrategy", {}).get("type") == "RollingUpdate" and
         spec["updateStrategy"].get("rollingUpdate", {}).get("maxUnavailable") == 1,
         "updateStrategy: RollingUpdate with maxUnavailable: 1")
    want(pod.get("securityContext", {}).get("seccompProfile", {}).get("type") == "RuntimeDefault",
         "pod securityContext.seccompProfile: RuntimeDefault")
    want(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "7070"
         and ann.get("prometheus.io/path") == "/metrics", "prometheus.io/scrape|port|path annotations")
    (c,) = pod["containers"]
    sc = c.get("securityContext", {})
    want(sc.get("privileged") is False, "container privileged: false")
    want(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    want(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem: true")
    want(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "container seccompProfile: RuntimeDefault")
    caps = sc.get("capabilities", {})
    want(caps.get("drop") == ["ALL"], "capabilities.drop: [ALL]")
    added = set(caps.get("add", []))
    want({"BPF", "NET_ADMIN", "PERFMON"} <= added, "capabilities.add: BPF, NET_ADMIN, PERFMON")
    want(added <= {"BPF", "NET_ADMIN", "PERFMON", "SETUID", "SETGID"},
         "capabilities.add: nothing beyond BPF, NET_ADMIN, PERFMON (+ SETUID/SETGID for --user): %s" % sorted(added))
    want(c.get("image") == "zktraffic", "image: zktraffic (kustomize images: sets name and tag)")
    args = c.get("args", [])
    want(args[:1] == ["serve"], "args start with serve")
    flags = {a.split("=", 1)[0]: (a.split("=", 1) + [None])[1] for a in args[1:]}
    for f in ["--http-addr", "--http-token-file", "--http-token-exempt-healthz", "--iface", "--user"]:
        want(f in flags, "args must pass %s" % f)
    want(flags.get("--http-addr") == ":7070", "--http-addr=:7070")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    want(ports.get("http") == 7070, "a container port named http, 7070")
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"]:
        g = c.get(probe, {}).get("httpGet", {})
        want(g.get("path") == "/healthz" and g.get("port") in ("http", 7070),
             "%s: httpGet /healthz on port http" % probe)
    env = {e["name"]: e for e in c.get("env", [])}
    want(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
         "env NODE_NAME from the downward API (spec.nodeName)")
    res = c.get("resources", {})
    want(all(k in res.get(s, {}) for s in ["requests", "limits"] for k in ["cpu", "memory"]),
         "resources: requests and limits for cpu and memory")
    # The token: Secret volume -> read-only mount -> --http-token-file; PodMonitor reads the same.
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    token_file = flags.get("--http-token-file") or ""
    mount = next((m for m in c.get("volumeMounts", []) if token_file.startswith(m["mountPath"] + "/")), None)
    want(mount is not None and mount.get("readOnly") is True,
         "--http-token-file must be in a read-only volume mount")
    secret_name = secret["metadata"]["name"]
    token_key = next(iter(secret.get("stringData", secret.get("data", {}))), None)
    if mount:
        vol = vols.get(mount["name"], {}).get("secret", {})
        want(vol.get("secretName") == secret_name, "the token volume must be the Secret %s" % secret_name)
        items = {i["key"]: i["path"] for i in vol.get("items", [])}
        want(items.get(token_key) == token_file[len(mount["mountPath"]) + 1:],
             "the Secret's key %s must be mounted at %s" % (token_key, token_file))
    # Service: headless, selects the pods, port 7070 named http.
    want2 = lambda cond, msg: cond or err(F("service.yaml"), msg)
    want2(svc["spec"].get("clusterIP") == "None", "clusterIP: None (headless)")
    want2(svc["spec"].get("selector", {}).items() <= labels.items(), "selector must match the pods' labels")
    want2(any(p.get("name") == "http" and p.get("port") == 7070 and p.get("targetPort") in ("http", 7070)
              for p in svc["spec"].get("ports", [])), "port 7070 named http")

    # The PodMonitor: no schema bundled (a CRD), so its fields by hand (monitoring.coreos.com/v1).
    P = F("monitoring/podmonitor.yaml")
    if pm.get("apiVersion") != "monitoring.coreos.com/v1" or pm.get("kind") != "PodMonitor":
        err(P, "apiVersion monitoring.coreos.com/v1, kind PodMonitor")
    known = {
        "spec": {"jobLabel", "podTargetLabels", "podMetricsEndpoints", "selector",
                 "selectorMechanism", "namespaceSelector", "sampleLimit", "targetLimit",
                 "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit",
                 "keepDroppedTargets", "attachMetadata", "scrapeClass", "bodySizeLimit",
                 "scrapeProtocols", "fallbackScrapeProtocol", "scrapeClassicHistograms",
                 "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor",
                 "convertClassicHistogramsToNHCB", "scrapeNativeHistograms"},
        "endpoint": {"port", "portNumber", "targetPort", "path", "scheme", "params", "interval",
                     "scrapeTimeout", "honorLabels", "honorTimestamps", "trackTimestampsStaleness",
                     "metricRelabelings", "relabelings", "authorization", "basicAuth", "oauth2",
                     "tlsConfig", "bearerTokenSecret", "proxyUrl", "noProxy",
                     "proxyFromEnvironment", "proxyConnectHeader", "followRedirects",
                     "enableHttp2", "filterRunning"},
        "relabel": {"sourceLabels", "separator", "targetLabel", "regex", "modulus",
                    "replacement", "action"},
    }
    s = pm.get("spec", {})
    for k in set(s) - known["spec"]:
        err(P, "spec.%s is no PodMonitor field" % k)
    if not s.get("selector", {}).get("matchLabels", {}).items() <= labels.items() or not s.get("selector"):
        err(P, "spec.selector.matchLabels must select the DaemonSet's pods")
    if s.get("jobLabel") and s["jobLabel"] not in labels:
        err(P, "spec.jobLabel %s is no label of the pods" % s["jobLabel"])
    if namespace not in s.get("namespaceSelector", {}).get("matchNames", [namespace]):
        err(P, "spec.namespaceSelector must include %s" % namespace)
    eps = s.get("podMetricsEndpoints") or []
    if not eps:
        err(P, "spec.podMetricsEndpoints is required")
    for i, ep in enumerate(eps):
        for k in set(ep) - known["endpoint"]:
            err(P, "spec.podMetricsEndpoints[%d].%s is no PodMonitor endpoint field" % (i, k))
        if ep.get("port") not in ports:
            err(P, "podMetricsEndpoints[%d].port %r is no container port name" % (i, ep.get("port")))
        if ep.get("path", "/metrics") != "/metrics":
            err(P, "podMetricsEndpoints[%d].path must be /metrics" % i)
        a = ep.get("authorization", {})
        cred = a.get("credentials", {})
        if a.get("type") != "Bearer" or cred.get("name") != secret_name or cred.get("key") != token_key:
            err(P, "podMetricsEndpoints[%d].authorization must be {type: Bearer, credentials: {name: %s, key: %s}}"
                % (i, secret_name, token_key))
        for j, r in enumerate(ep.get("relabelings", [])):
            for k in set(r) - known["relabel"]:
                err(P, "podMetricsEndpoints[%d].relabelings[%d].%s is no relabeling field" % (i, j, k))
    finish([
        "deploy/kubernetes: DaemonSet, Service, Secret and PodMonitor agree (labels, ports, "
        "token Secret %s/%s, probes on /healthz, privileges): ok" % (secret_name, token_key),
        "deploy/kubernetes/monitoring/podmonitor.yaml: fields checked by hand (no schema for "
        "the CRD kind): ok",
    ])
    sys.exit(0)

if mode == "dashboard":
    path, rules_out = sys.argv[2], sys.argv[3]
    name = "deploy/grafana/" + path.rsplit("/", 1)[-1]
    with open(path) as f:
        d = json.load(f)
    if d.get("schemaVersion", 0) < 36:
        err(name, "schemaVersion %s < 36" % d.get("schemaVersion"))
    for k in ["uid", "title"]:
        if not d.get(k):
            err(name, "no %s" % k)
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err(name, "needs a `datasource` variable of type datasource, query prometheus")
    inst = variables.get("instance", {})
    q = inst.get("query", "")
    q = q.get("query", "") if isinstance(q, dict) else q
    if not re.match(r"label_values\(zktraffic_\w+.*,\s*instance\)$", q):
        err(name, "needs an `instance` variable: label_values(zktraffic_..., instance)")
    # Grafana's variables as promtool can parse them: built-in intervals as 5m, the others by
    # their current value when they have one (custom, constant), else a regex matching any.
    builtin = {"__rate_interval": "5m", "__interval": "5m", "__range": "5m", "__range_s": "300",
               "__interval_ms": "300000"}
    def value(var):
        if var in builtin:
            return builtin[var]
        v = variables.get(var)
        if v is None:
            return None
        cur = v.get("current", {}).get("value")
        if v.get("type") in ("custom", "constant", "textbox", "interval") and cur not in (None, "", "$__all"):
            return cur if isinstance(cur, str) else cur[0]
        return ".+"
    def substitute(expr, where):
        def one(m):
            var = m.group(1) or m.group(2)
            v = value(var)
            if v is None:
                err(name, "%s: unknown variable $%s" % (where, var))
                return "x"
            return v
        return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", one, expr)
    ids = set()
    rules = []
    def walk(panels):
        for p in panels:
            where = "panel %s %r" % (p.get("id"), p.get("title"))
            if p.get("id") in ids:
                err(name, "%s: duplicate id" % where)
            ids.add(p.get("id"))
            g = p.get("gridPos", {})
            if not all(k in g for k in "hwxy") or g["x"] + g["w"] > 24:
                err(name, "%s: gridPos outside the 24 columns" % where)
            walk(p.get("panels", []))
            if p.get("type") == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}":
                err(name, "%s: datasource must be ${datasource}" % where)
            refs = set()
            targets = p.get("targets", [])
            if not targets:
                err(name, "%s: no query" % where)
            for t in targets:
                ref = t.get("refId")
                if not ref or ref in refs:
                    err(name, "%s: missing or duplicate refId %r" % (where, ref))
                refs.add(ref)
                expr = t.get("expr", "")
                if not expr.strip():
                    err(name, "%s %s: empty expr" % (where, ref))
                    continue
                if t.get("datasource", {}).get("uid", "${datasource}") != "${datasource}":
                    err(name, "%s %s: datasource must be ${datasource}" % (where, ref))
                rules.append({"record": "grafana:panel%s_%s" % (p.get("id"), ref),
                              "expr": substitute(expr, "%s %s" % (where, ref))})
    walk(d.get("panels", []))
    # The variables' own queries: label_values(QUERY, label) -> QUERY.
    for v in variables.values():
        q = v.get("query", "")
        q = q.get("query", "") if isinstance(q, dict) else q
        m = re.match(r"label_values\((.*),\s*\w+\)$", q) if v.get("type") == "query" else None
        if v.get("type") == "query" and not m:
            err(name, "variable %s: only label_values(metric, label) queries are checked" % v["name"])
        if m:
            rules.append({"record": "grafana:variable_%s" % v["name"],
                          "expr": substitute(m.group(1), "variable " + v["name"])})
    with open(rules_out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False)
    finish(["%s: schemaVersion %s, %d panels and rows, %d queries, variables %s: ok"
            % (name, d["schemaVersion"], len(ids), len(rules), ", ".join(variables))])
    sys.exit(0)

sys.exit("unknown mode " + mode)
"#####;
