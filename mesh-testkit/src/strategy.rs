//! proptest strategies for [`Mesh`]es and their parts.
//!
//! Values are constructed valid (the webhook rules of VAL-VS-*, VAL-DR-*,
//! VAL-AP-*, VAL-PA-1 are respected by construction); [`meshes`] also
//! filters on `mesh-model` validation as a safety net.

use crate::{
    Action, AuthorizationPolicy, AuthzAction, Condition, Destination, DestinationRule, Fields,
    HeaderOps, HttpMatch, HttpRoute, Mesh, Mode, NAMESPACE, PORTS, PeerAuthentication,
    ROOT_NAMESPACE, Redirect, Rewrite, Rule, SERVER_PORT, SERVICES, Service, StringMatch,
    VirtualService,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

/// URI path segments the generators combine.
pub const SEGMENTS: &[&str] = &["api", "v1", "v2", "items", "Admin", "login", "a"];
/// Header names the generators use (lowercase, VS-14).
pub const HEADER_NAMES: &[&str] = &["x-user", "x-env", "x-debug", "x-flag"];
/// Header and query values the generators use.
pub const VALUES: &[&str] = &["jason", "prod", "dev", "Beta", "a,b", "", "x y"];
/// Query parameter names.
pub const QUERY_NAMES: &[&str] = &["tab", "page", "debug"];
/// Methods.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];

/// A path of one to three segments from [`SEGMENTS`], with an optional
/// trailing slash.
pub fn path() -> impl Strategy<Value = String> {
    (vec(select(SEGMENTS), 1..=3), any::<bool>()).prop_map(|(segs, slash)| {
        let mut p = format!("/{}", segs.join("/"));
        if slash {
            p.push('/');
        }
        p
    })
}

/// A regex over paths with a sample it fully matches (anchoring is
/// implicit, VS-10).
pub fn path_regex() -> impl Strategy<Value = StringMatch> {
    (path(), 0..4usize).prop_map(|(p, kind)| {
        let (pattern, sample) = match kind {
            0 => (format!("{p}[0-9]+"), format!("{p}42")),
            1 => (format!("{p}.*"), format!("{p}/x")),
            2 => (format!("(?i){p}"), p.to_uppercase()),
            _ => (
                format!("{}/[a-z]{{2}}", p.trim_end_matches('/')),
                format!("{}/ab", p.trim_end_matches('/')),
            ),
        };
        StringMatch::Regex { pattern, sample }
    })
}

/// A `uri` match: exact, prefix (the empty prefix and `/` included) or
/// regex.
pub fn uri_match() -> impl Strategy<Value = StringMatch> {
    prop_oneof![
        3 => path().prop_map(StringMatch::Exact),
        3 => path().prop_map(StringMatch::Prefix),
        1 => select(&["/", ""][..]).prop_map(|s| StringMatch::Prefix(s.to_string())),
        2 => path_regex(),
    ]
}

/// A value match for headers and query parameters (no empty prefix,
/// VS-11; presence only as `{}`, VS-16).
pub fn value_match() -> impl Strategy<Value = StringMatch> {
    let nonempty: Vec<&str> = VALUES.iter().copied().filter(|v| !v.is_empty()).collect();
    prop_oneof![
        4 => select(VALUES).prop_map(|s| StringMatch::Exact(s.to_string())),
        2 => select(nonempty.clone()).prop_map(|s| StringMatch::Prefix(s[..1].to_string())),
        2 => select(nonempty).prop_map(|s| StringMatch::Regex {
            pattern: format!("{}.*", regex_escape(&s[..1])),
            sample: s.to_string(),
        }),
        2 => Just(StringMatch::Presence),
    ]
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn named_matches(
    names: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<(String, StringMatch)>> {
    vec((select(names), value_match()), 0..=max).prop_map(|v| {
        let mut out: Vec<(String, StringMatch)> = Vec::new();
        for (k, m) in v {
            if !out.iter().any(|(x, _)| x == k) {
                out.push((k.to_string(), m));
            }
        }
        out
    })
}

/// One match block over the services of `mesh` (ports and authorities
/// come from them).
pub fn http_match(services: Vec<Service>) -> impl Strategy<Value = HttpMatch> {
    let authorities: Vec<String> = services
        .iter()
        .flat_map(|s| {
            let mut v = vec![
                s.name.clone(),
                format!("{}.{NAMESPACE}", s.name),
                format!("{}.{NAMESPACE}.svc.cluster.local", s.name),
            ];
            v.extend(s.ports.iter().map(|p| format!("{}:{p}", s.name)));
            v
        })
        .collect();
    let authority = select(authorities).prop_flat_map(|a| {
        let a2 = a.clone();
        prop_oneof![
            Just(StringMatch::Exact(a.clone())),
            Just(StringMatch::Prefix(a[..a.len().min(4)].to_string())),
            Just(StringMatch::Regex {
                pattern: format!("{}(:[0-9]+)?", regex_escape(&a2)),
                sample: a2.clone(),
            }),
        ]
    });
    let ports: Vec<u16> = PORTS.to_vec();
    (
        of(uri_match()),
        prop::bool::weighted(0.2),
        prop::option::weighted(
            0.1,
            select(&["http", "https"][..]).prop_map(|s| StringMatch::Exact(s.into())),
        ),
        prop::option::weighted(
            0.2,
            prop_oneof![
                select(METHODS).prop_map(|s| StringMatch::Exact(s.into())),
                Just(StringMatch::Prefix("P".into())),
                Just(StringMatch::Regex {
                    pattern: "GET|DELETE".into(),
                    sample: "DELETE".into()
                }),
            ],
        ),
        prop::option::weighted(0.15, authority),
        named_matches(HEADER_NAMES, 2),
        prop::collection::vec(named_matches(HEADER_NAMES, 1), 0..=1),
        named_matches(QUERY_NAMES, 1),
        prop::option::weighted(0.15, select(ports)),
        prop::option::weighted(0.2, "[a-z]{1,4}"),
    )
        .prop_map(
            |(uri, icase, scheme, method, authority, headers, without, query, port, name)| {
                let ignore_uri_case =
                    icase && matches!(uri, Some(StringMatch::Exact(_) | StringMatch::Prefix(_)));
                HttpMatch {
                    name,
                    uri,
                    ignore_uri_case,
                    scheme,
                    method,
                    authority,
                    headers,
                    without_headers: without.into_iter().flatten().collect(),
                    query_params: query,
                    port,
                }
            },
        )
}

fn destination(services: Vec<Service>) -> impl Strategy<Value = Destination> {
    select(services).prop_flat_map(|s| {
        let mut subsets: Vec<Option<String>> = s.versions.iter().cloned().map(Some).collect();
        subsets.push(None);
        subsets.push(None);
        subsets.push(Some("v9".into()));
        let mut ports: Vec<Option<u16>> = s.ports.iter().copied().map(Some).collect();
        ports.push(None);
        ports.push(None);
        (Just(s.name), select(subsets), select(ports)).prop_map(|(host, subset, port)| {
            Destination {
                host,
                subset,
                port,
                weight: None,
            }
        })
    })
}

fn action(services: Vec<Service>) -> impl Strategy<Value = Action> {
    let dests = vec((destination(services.clone()), 0u32..=3), 1..=3).prop_map(|v| {
        let n = v.len();
        let mut out: Vec<Destination> = v
            .into_iter()
            .map(|(mut d, w)| {
                if n > 1 {
                    d.weight = Some(w * 25);
                }
                d
            })
            .collect();
        // VAL-VS-7: several destinations must not all weigh 0.
        if n > 1 && out.iter().all(|d| d.weight == Some(0)) {
            out[0].weight = Some(10);
        }
        out
    });
    let rewrite = prop::option::weighted(
        0.2,
        (
            of(path()),
            prop::option::weighted(0.3, Just("rewritten.example".to_string())),
        )
            .prop_filter("a rewrite sets something", |(u, a)| {
                u.is_some() || a.is_some()
            })
            .prop_map(|(uri, authority)| Rewrite { uri, authority }),
    );
    prop_oneof![
        8 => (dests, rewrite).prop_map(|(destinations, rewrite)| Action::Route { destinations, rewrite }),
        1 => (of(path()), prop::option::weighted(0.4, Just("moved.example".to_string())), of(select(vec![301u16, 302, 307, 308])))
            .prop_filter("a redirect sets uri or authority", |(u, a, _)| u.is_some() || a.is_some())
            .prop_map(|(uri, authority, code)| Action::Redirect(Redirect { uri, authority, code })),
        1 => (select(vec![200u16, 404, 418, 503]), 0..100u32)
            .prop_map(|(status, n)| Action::DirectResponse { status, body: format!("direct-{n}") }),
    ]
}

fn header_ops() -> impl Strategy<Value = HeaderOps> {
    (
        vec((select(&["x-set", "x-user"][..]), select(VALUES)), 0..=1),
        vec((select(&["x-add"][..]), select(VALUES)), 0..=1),
        vec(select(&["x-env", "x-remove"][..]), 0..=1),
    )
        .prop_map(|(set, add, remove)| HeaderOps {
            set: set.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            add: add.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            remove: remove.into_iter().map(Into::into).collect(),
        })
}

/// One HTTP route over `services`.
pub fn http_route(services: Vec<Service>) -> impl Strategy<Value = HttpRoute> {
    (
        prop::option::weighted(0.5, "r[a-z0-9]{1,3}"),
        vec(http_match(services.clone()), 0..=2),
        action(services),
        prop::option::weighted(0.15, header_ops()),
    )
        .prop_map(|(name, matches, action, headers)| HttpRoute {
            name,
            matches,
            action,
            headers,
        })
}

/// A VirtualService for one or two of `services`.
pub fn virtual_service(services: Vec<Service>) -> impl Strategy<Value = VirtualService> {
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let n = names.len();
    (
        subsequence(names, 1..=n.min(2)),
        vec(http_route(services), 1..=4),
    )
        .prop_map(|(hosts, http)| VirtualService {
            name: String::new(),
            hosts,
            gateways: Vec::new(),
            http,
        })
}

/// Services: one to three, each with one or two ports and one to three
/// versions.
pub fn services() -> impl Strategy<Value = Vec<Service>> {
    subsequence(SERVICES.to_vec(), 1..=3).prop_flat_map(|names| {
        names
            .into_iter()
            .map(|n| {
                (subsequence(PORTS.to_vec(), 1..=2), 1..=3usize).prop_map(move |(ports, nv)| {
                    Service {
                        name: n.to_string(),
                        ports,
                        versions: (1..=nv).map(|i| format!("v{i}")).collect(),
                    }
                })
            })
            .collect::<Vec<_>>()
    })
}

fn destination_rules(services: Vec<Service>) -> impl Strategy<Value = Vec<DestinationRule>> {
    let per: Vec<_> = services
        .into_iter()
        .map(|s| {
            let name = s.name.clone();
            let n = s.versions.len();
            prop::option::weighted(0.7, subsequence(s.versions, 1..=n)).prop_map(move |subs| {
                subs.map(|subsets| DestinationRule {
                    name: name.clone(),
                    host: name.clone(),
                    subsets,
                })
            })
        })
        .collect();
    per.prop_map(|v| v.into_iter().flatten().collect())
}

/// Values of AuthorizationPolicy string fields: exact, `prefix*`,
/// `*suffix` and `*` (AZ-20).
fn az_values(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    vec(
        (select(pool), 0..4usize).prop_map(|(v, form)| match form {
            0 | 1 => v.to_string(),
            2 if v.len() > 1 => format!("{}*", &v[..v.len() / 2]),
            3 if v.len() > 1 => format!("*{}", &v[v.len() / 2..]),
            _ => "*".to_string(),
        }),
        1..=2,
    )
}

const AZ_PATHS: &[&str] = &["/api", "/api/v1", "/login", "/Admin/x", "/a/b"];
const AZ_HOSTS: &[&str] = &["server", "server.mesh", "Server:8000", "other.example"];
const AZ_METHODS: &[&str] = &["GET", "POST", "DELETE"];
const AZ_PORTS: &[&str] = &["8000", "9999"];
const AZ_IPS: &[&str] = &["127.0.0.1", "127.0.0.0/8", "10.0.0.0/8"];
const AZ_PRINCIPALS: &[&str] = &["cluster.local/ns/mesh/sa/client", "*"];
const AZ_NAMESPACES: &[&str] = &["mesh", "other"];

fn source() -> impl Strategy<Value = Fields> {
    let field = prop_oneof![
        3 => (select(&["ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"][..]), vec(select(AZ_IPS).prop_map(String::from), 1..=2)),
        2 => (select(&["principals", "notPrincipals"][..]), vec(select(AZ_PRINCIPALS).prop_map(String::from), 1..=1)),
        2 => (select(&["namespaces", "notNamespaces"][..]), vec(select(AZ_NAMESPACES).prop_map(String::from), 1..=1)),
        1 => (select(&["requestPrincipals", "notRequestPrincipals"][..]), Just(vec!["*".to_string()])),
    ];
    dedup_fields(vec(field, 1..=2))
}

fn operation() -> impl Strategy<Value = Fields> {
    let field = prop_oneof![
        3 => (select(&["paths", "notPaths"][..]), az_values(AZ_PATHS)),
        2 => (select(&["methods", "notMethods"][..]), az_values(AZ_METHODS)),
        2 => (select(&["hosts", "notHosts"][..]), az_values(AZ_HOSTS)),
        1 => (select(&["ports", "notPorts"][..]), vec(select(AZ_PORTS).prop_map(String::from), 1..=1)),
    ];
    dedup_fields(vec(field, 1..=2))
}

fn dedup_fields(
    s: impl Strategy<Value = Vec<(&'static str, Vec<String>)>>,
) -> impl Strategy<Value = Fields> {
    s.prop_map(|v| {
        let mut out: Fields = Vec::new();
        for (k, vs) in v {
            if !out.iter().any(|(x, _)| x == k) {
                out.push((k.to_string(), vs));
            }
        }
        out
    })
}

fn condition() -> impl Strategy<Value = Condition> {
    let key_values = prop_oneof![
        3 => (select(HEADER_NAMES).prop_map(|h| format!("request.headers[{h}]")), az_values(&["jason", "prod", "dev"])),
        1 => (Just("source.ip".to_string()), vec(select(AZ_IPS).prop_map(String::from), 1..=1)),
        1 => (Just("destination.port".to_string()), vec(select(AZ_PORTS).prop_map(String::from), 1..=1)),
        1 => (Just("source.namespace".to_string()), vec(select(AZ_NAMESPACES).prop_map(String::from), 1..=1)),
        1 => (Just("request.auth.claims[iss]".to_string()), Just(vec!["issuer".to_string()])),
    ];
    (key_values, any::<bool>()).prop_map(|((key, vals), not)| {
        if not {
            Condition {
                key,
                values: vec![],
                not_values: vals,
            }
        } else {
            Condition {
                key,
                values: vals,
                not_values: vec![],
            }
        }
    })
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        vec(source(), 0..=1),
        vec(operation(), 0..=2),
        vec(condition(), 0..=1),
    )
        .prop_map(|(from, to, when)| Rule { from, to, when })
}

fn authorization_policy() -> impl Strategy<Value = AuthorizationPolicy> {
    (
        prop_oneof![
            4 => Just(AuthzAction::Allow),
            4 => Just(AuthzAction::Deny),
            1 => Just(AuthzAction::Audit),
            1 => Just(AuthzAction::Custom),
        ],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.1),
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(vec![])),
            6 => vec(rule(), 1..=3).prop_map(Some),
        ],
    )
        .prop_map(|(action, root, selector, dry_run, rules)| {
            let needs_rules = matches!(
                action,
                AuthzAction::Deny | AuthzAction::Custom | AuthzAction::Audit
            );
            let rules = if needs_rules && rules.is_none() {
                Some(vec![])
            } else {
                rules
            };
            // CUSTOM forbids identity fields and request.auth keys (VAL-AP-2).
            let rules = if action == AuthzAction::Custom {
                rules.map(|rs| {
                    rs.into_iter()
                        .map(|mut r| {
                            r.from.clear();
                            r.when.retain(|c| {
                                c.key.starts_with("request.headers")
                                    || c.key == "destination.port"
                                    || c.key == "source.ip"
                            });
                            r
                        })
                        .collect()
                })
            } else {
                rules
            };
            AuthorizationPolicy {
                name: String::new(),
                namespace: if root {
                    ROOT_NAMESPACE.into()
                } else {
                    NAMESPACE.into()
                },
                selector: selector && !root,
                action,
                dry_run: dry_run && matches!(action, AuthzAction::Allow | AuthzAction::Deny),
                rules,
            }
        })
}

fn mode() -> impl Strategy<Value = Mode> {
    select(vec![
        Mode::Unset,
        Mode::Disable,
        Mode::Permissive,
        Mode::Strict,
    ])
}

fn peer_authentication() -> impl Strategy<Value = PeerAuthentication> {
    (
        prop::bool::weighted(0.2),
        any::<bool>(),
        mode(),
        prop::option::weighted(0.3, mode()),
    )
        .prop_map(|(root, selector, mode, port_level)| {
            let selector = selector && !root;
            PeerAuthentication {
                name: String::new(),
                namespace: if root {
                    ROOT_NAMESPACE.into()
                } else {
                    NAMESPACE.into()
                },
                selector,
                mode,
                port_level: port_level.filter(|_| selector),
            }
        })
}

/// A mesh: services, 0–3 VirtualServices, DestinationRules, 0–3
/// AuthorizationPolicies, 0–2 PeerAuthentications, sometimes
/// `REGISTRY_ONLY`. Constructed valid, and filtered on `mesh-model`
/// validation.
pub fn meshes() -> impl Strategy<Value = Mesh> {
    meshes_unfiltered().prop_filter("the mesh validates", |m| {
        let yaml = m.to_yaml(&crate::Bindings::default());
        let loaded = mesh_model::load(&[("mesh.yaml", yaml.as_str())], &m.load_options());
        loaded.diagnostics.iter().all(|d| !d.is_error())
    })
}

/// [`meshes`] without the validation filter.
pub fn meshes_unfiltered() -> impl Strategy<Value = Mesh> {
    services().prop_flat_map(|services| {
        (
            vec(virtual_service(services.clone()), 0..=3),
            destination_rules(services.clone()),
            vec(authorization_policy(), 0..=3),
            vec(peer_authentication(), 0..=2),
            prop::bool::weighted(0.3),
            Just(services),
        )
            .prop_map(
                |(mut vss, destination_rules, mut aps, mut pas, registry_only, services)| {
                    for (i, vs) in vss.iter_mut().enumerate() {
                        vs.name = format!("vs{i}");
                    }
                    for (i, ap) in aps.iter_mut().enumerate() {
                        ap.name = format!("ap{i}");
                    }
                    for (i, pa) in pas.iter_mut().enumerate() {
                        pa.name = format!("pa{i}");
                    }
                    let _ = SERVER_PORT;
                    Mesh {
                        services,
                        virtual_services: vss,
                        destination_rules,
                        authorization_policies: aps,
                        peer_authentications: pas,
                        registry_only,
                    }
                },
            )
    })
}
