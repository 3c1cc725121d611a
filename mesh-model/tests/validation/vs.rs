//! VirtualService rules VAL-VS-1 … VAL-VS-24 (Istio's `ValidateVirtualService`,
//! `validateHTTPRoute` and helpers).

use crate::fixtures::*;

/// A VirtualService for host `r` with one HTTP route whose body (YAML
/// keys of the route) is `route`.
fn http(route: &str) -> String {
    let body: Vec<String> = dedent(route)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("- {l}")
            } else {
                format!("  {l}")
            }
        })
        .collect();
    mk_vs(&format!("hosts: [r]\nhttp:\n{}", body.join("\n")))
}

const ROUTE: &str = "route: [{destination: {host: r}}]";

/// VAL-VS-1: a delegate VirtualService (no hosts) has no gateways, tls or
/// tcp routes.
#[test]
fn val_vs_1_delegate_shape() {
    let d = rejects(
        &mk_vs("gateways: [gw]\nhttp:\n- route: [{destination: {host: r}}]"),
        "VAL-VS-1",
        "spec.gateways",
    );
    assert_eq!(
        d.message,
        "delegate virtual service must have no gateways specified"
    );
    rejects(
        &mk_vs(
            "http:\n- route: [{destination: {host: r}}]\ntls:\n- match: [{sniHosts: [a.com]}]\n  route: [{destination: {host: a.com}}]",
        ),
        "VAL-VS-1",
        "spec.tls",
    );
    rejects(
        &mk_vs(
            "http:\n- route: [{destination: {host: r}}]\ntcp:\n- route: [{destination: {host: r}}]",
        ),
        "VAL-VS-1",
        "spec.tcp",
    );
    accepts(&mk_vs(
        "http:\n- match: [{uri: {prefix: /a}}]\n  route: [{destination: {host: r}}]",
    ));
}

/// VAL-VS-2: host `*` is not allowed on a VirtualService that applies to
/// sidecars (no gateways, or `mesh` among them).
#[test]
fn val_vs_2_wildcard_host_on_mesh() {
    let d = rejects(
        &mk_vs("hosts: [\"*\"]\nhttp:\n- route: [{destination: {host: r}}]"),
        "VAL-VS-2",
        "spec.hosts[0]",
    );
    assert_eq!(
        d.message,
        "wildcard host * is not allowed for virtual services bound to the mesh gateway"
    );
    rejects(
        &mk_vs("hosts: [\"*\"]\ngateways: [gw, mesh]\nhttp:\n- route: [{destination: {host: r}}]"),
        "VAL-VS-2",
        "spec.hosts[0]",
    );
    accepts(&mk_vs(
        "hosts: [\"*\"]\ngateways: [gw]\nhttp:\n- route: [{destination: {host: r}}]",
    ));
}

/// VAL-VS-3: the hosts of one VirtualService do not overlap.
#[test]
fn val_vs_3_overlapping_hosts() {
    let d = rejects(
        &mk_vs(
            "hosts: [a.example.com, \"*.example.com\"]\nhttp:\n- route: [{destination: {host: r}}]",
        ),
        "VAL-VS-3",
        "spec.hosts[1]",
    );
    assert_eq!(
        d.message,
        "duplicate hosts in virtual service: a.example.com & *.example.com"
    );
    rejects(
        &mk_vs("hosts: [r, r]\nhttp:\n- route: [{destination: {host: r}}]"),
        "VAL-VS-3",
        "spec.hosts[1]",
    );
    accepts(&mk_vs(
        "hosts: [a.example.com, b.example.com]\nhttp:\n- route: [{destination: {host: r}}]",
    ));
}

/// VAL-VS-4: one action per HTTP route; redirect and directResponse take
/// no fault or rewrite; some action is required.
#[test]
fn val_vs_4_one_action() {
    for (route, msg) in [
        (
            "route: [{destination: {host: r}}]\nredirect: {uri: /x}",
            "HTTP route cannot contain both route and redirect",
        ),
        (
            "redirect: {uri: /x}\nfault: {abort: {httpStatus: 500, percentage: {value: 1}}}",
            "HTTP route cannot contain both fault and redirect",
        ),
        (
            "redirect: {uri: /x}\nrewrite: {uri: /y}",
            "HTTP route rule cannot contain both rewrite and redirect",
        ),
        (
            "redirect: {uri: /x}\ndirectResponse: {status: 200}",
            "HTTP route rule cannot contain both direct_response and redirect",
        ),
        (
            "route: [{destination: {host: r}}]\ndirectResponse: {status: 200}",
            "HTTP route cannot contain both route and direct_response",
        ),
        (
            "directResponse: {status: 200}\nfault: {abort: {httpStatus: 500, percentage: {value: 1}}}",
            "HTTP route cannot contain both fault and direct_response",
        ),
        (
            "directResponse: {status: 200}\nrewrite: {uri: /y}",
            "HTTP route rule cannot contain both rewrite and direct_response",
        ),
        (
            "match: [{uri: {prefix: /}}]",
            "HTTP route, redirect or direct_response is required",
        ),
    ] {
        let d = rejects(&http(route), "VAL-VS-4", "spec.http[0]");
        assert_eq!(d.message, msg);
    }
    accepts(&http(ROUTE));
    accepts(&http("redirect: {uri: /x}"));
    accepts(&http(
        "directResponse: {status: 503, body: {string: unavailable}}",
    ));
}

/// VAL-VS-5: a root route's delegate excludes `route` and `redirect`; a
/// delegate VirtualService's routes do not delegate again.
#[test]
fn val_vs_5_delegation() {
    let d = rejects(
        &http("name: api\ndelegate: {name: leaf}\nroute: [{destination: {host: r}}]"),
        "VAL-VS-5",
        "spec.http[0]",
    );
    assert_eq!(d.message, "root HTTP route api must not specify route");
    rejects(
        &http("delegate: {name: leaf}\nredirect: {uri: /x}"),
        "VAL-VS-5",
        "spec.http[0]",
    );
    let d = rejects(
        &mk_vs("http:\n- delegate: {name: other}"),
        "VAL-VS-5",
        "spec.http[0].delegate",
    );
    assert_eq!(d.message, "delegate HTTP route cannot contain delegate");
    accepts(&http("delegate: {name: leaf, namespace: other}"));
    // Istio checks nothing else on a root route: its delegate replaces it.
    let l = load_yaml(&http(
        "delegate: {name: leaf}\ndirectResponse: {status: 200}",
    ));
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    let vs = l.snapshot.virtual_services().next().unwrap();
    assert!(matches!(
        &vs.spec.http[0].action,
        mesh_model::networking::HttpAction::Delegate { name, namespace } if name == "leaf" && namespace == "ns"
    ));
}

/// VAL-VS-6: `mirror` and `mirrors` are exclusive.
#[test]
fn val_vs_6_mirror_and_mirrors() {
    let d = rejects(
        &http(
            "route: [{destination: {host: r}}]\nmirror: {host: m}\nmirrors: [{destination: {host: n}}]",
        ),
        "VAL-VS-6",
        "spec.http[0]",
    );
    assert_eq!(
        d.message,
        "HTTP route cannot contain both mirror and mirrors"
    );
    accepts(&http(
        "route: [{destination: {host: r}}]\nmirror: {host: m}",
    ));
    accepts(&http(
        "route: [{destination: {host: r}}]\nmirrors: [{destination: {host: m}}, {destination: {host: n}}]",
    ));
}

/// VAL-VS-7: weights are not negative, and several destinations do not
/// total 0 (a single destination's weight is ignored, WT-1).
#[test]
fn val_vs_7_weights() {
    let d = webhook_rejects(
        &http("route:\n- {destination: {host: r}, weight: -1}"),
        "VAL-VS-7",
        "spec.http[0].route[0].weight",
    );
    assert_eq!(d.message, "weight -1 < 0");
    let d = rejects(
        &http(
            "route:\n- {destination: {host: r, subset: a}, weight: 0}\n- {destination: {host: r, subset: b}, weight: 0}",
        ),
        "VAL-VS-7",
        "spec.http[0].route",
    );
    assert_eq!(d.message, "total destination weight = 0");
    rejects(
        &mk_vs(
            "hosts: [r]\ntcp:\n- route:\n  - {destination: {host: a}}\n  - {destination: {host: b}}",
        ),
        "VAL-VS-7",
        "spec.tcp[0].route",
    );
    accepts(&http("route:\n- {destination: {host: r}, weight: 0}"));
    accepts(&http(
        "route:\n- {destination: {host: r, subset: a}, weight: 0}\n- {destination: {host: r, subset: b}, weight: 100}",
    ));
    accepts(&http(
        "route:\n- {destination: {host: r, subset: a}, weight: 3}\n- {destination: {host: r, subset: b}, weight: 7}",
    ));
}

/// VAL-VS-8: destination hosts are valid names other than `*`; subsets are
/// DNS labels (either case, as Istio's `labels.IsDNS1123Label`).
#[test]
fn val_vs_8_destinations() {
    let d = rejects(
        &http("route: [{destination: {host: \"*\"}}]"),
        "VAL-VS-8",
        "spec.http[0].route[0].destination.host",
    );
    assert_eq!(d.message, "invalid destination host *");
    rejects(
        &http("route: [{destination: {host: bad_host}}]"),
        "VAL-VS-8",
        "spec.http[0].route[0].destination.host",
    );
    let d = rejects(
        &http("route: [{destination: {host: r, subset: v_1}}]"),
        "VAL-VS-8",
        "spec.http[0].route[0].destination.subset",
    );
    assert_eq!(d.message, "subset name is invalid: v_1");
    rejects(
        &http("route: [{destination: {host: r}}]\nmirror: {host: \"*\"}"),
        "VAL-VS-8",
        "spec.http[0].mirror.host",
    );
    rejects(
        &mk_vs("hosts: [r]\ntcp:\n- route: [{destination: {host: \"*\"}}]"),
        "VAL-VS-8",
        "spec.tcp[0].route[0].destination.host",
    );
    accepts(&http(
        "route: [{destination: {host: reviews.bookinfo.svc.cluster.local, subset: V1-canary}}]",
    ));
    accepts(&http("route: [{destination: {host: \"*.example.com\"}}]"));
}

/// VAL-VS-9: string matches: an empty prefix only for `uri` (VS-11), no
/// empty regex, regexes of at most 1024 characters that RE2 compiles;
/// `regex: "*"` is a presence match only under `withoutHeaders` (VS-16).
#[test]
fn val_vs_9_string_matches() {
    let m = |m: &str| http(&format!("match: [{m}]\n{ROUTE}"));
    let d = rejects(
        &m("{headers: {x-a: {prefix: \"\"}}}"),
        "VAL-VS-9",
        "spec.http[0].match[0].headers[x-a].prefix",
    );
    assert_eq!(
        d.message,
        "\"headers\": prefix string match should not be empty"
    );
    rejects(
        &m("{method: {prefix: \"\"}}"),
        "VAL-VS-9",
        "spec.http[0].match[0].method.prefix",
    );
    let d = rejects(
        &m("{uri: {regex: \"\"}}"),
        "VAL-VS-9",
        "spec.http[0].match[0].uri.regex",
    );
    assert_eq!(d.message, "\"uri\": regex string match should not be empty");
    let d = rejects(
        &m("{uri: {regex: \"(\"}}"),
        "VAL-VS-9",
        "spec.http[0].match[0].uri.regex",
    );
    assert!(
        d.message.starts_with("\"uri\": ")
            && d.message.ends_with(
                "Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
            ),
        "{}",
        d.message
    );
    let long = "a".repeat(1025);
    let d = rejects(
        &m(&format!("{{authority: {{regex: \"{long}\"}}}}")),
        "VAL-VS-9",
        "spec.http[0].match[0].authority.regex",
    );
    assert_eq!(
        d.message,
        "\"authority\": regex is too large, max length allowed is 1024"
    );
    rejects(
        &m("{headers: {x-a: {regex: \"*\"}}}"),
        "VAL-VS-9",
        "spec.http[0].match[0].headers[x-a].regex",
    );
    rejects(
        &m("{queryParams: {q: {regex: \"*\"}}}"),
        "VAL-VS-9",
        "spec.http[0].match[0].queryParams[q].regex",
    );
    accepts(&m("{uri: {prefix: \"\"}}"));
    accepts(&m("{withoutHeaders: {x-a: {regex: \"*\"}}}"));
    accepts(&m(
        "{headers: {x-a: {}}, queryParams: {q: {exact: \"\"}}, uri: {regex: \"/api/v[0-9]+/.*\"}}",
    ));
    accepts(&m(&format!(
        "{{authority: {{regex: \"{}\"}}}}",
        "a".repeat(1024)
    )));
}

/// VAL-VS-10: header match names are header names (pseudo-headers and JWT
/// claim keys allowed); JWT claim routing needs a gateway binding.
#[test]
fn val_vs_10_header_names_and_claims() {
    let m = |m: &str| http(&format!("match: [{m}]\n{ROUTE}"));
    let d = rejects(
        &m("{headers: {\"bad header\": {exact: a}}}"),
        "VAL-VS-10",
        "spec.http[0].match[0].headers[bad header]",
    );
    assert_eq!(
        d.message,
        "header name bad header is not a valid header name"
    );
    rejects(
        &m("{withoutHeaders: {\":foo\": {exact: a}}}"),
        "VAL-VS-10",
        "spec.http[0].match[0].withoutHeaders[:foo]",
    );
    let d = rejects(
        &m("{headers: {\"@request.auth.claims.group\": {exact: admin}}}"),
        "VAL-VS-10",
        "spec.http[0].match[0].headers[@request.auth.claims.group]",
    );
    assert_eq!(
        d.message,
        "JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway, found no gateways: []"
    );
    rejects(
        &mk_vs(
            "hosts: [r]\ngateways: [gw, mesh]\nhttp:\n- match: [{headers: {\"@request.auth.claims[group]\": {exact: admin}}}]\n  route: [{destination: {host: r}}]",
        ),
        "VAL-VS-10",
        "spec.http[0].match[0].headers[@request.auth.claims[group]]",
    );
    accepts(&mk_vs(
        "hosts: [r.example.com]\ngateways: [gw]\nhttp:\n- match: [{headers: {\"@request.auth.claims.group\": {exact: admin}, \"@request.auth.claims[a][b]\": {prefix: x}}}]\n  route: [{destination: {host: r}}]",
    ));
    accepts(&m(
        "{headers: {\":method\": {exact: GET}, x-Token: {exact: a}}}",
    ));
}

/// VAL-VS-11: header operations: no `:` names in request set/add except
/// `:authority`; no `host` or `:` names in removals and response
/// operations; values in Envoy's `%VAR%` syntax.
#[test]
fn val_vs_11_header_operations() {
    let h = |ops: &str| http(&format!("{ROUTE}\nheaders: {ops}"));
    let d = rejects(
        &h("{request: {set: {\":path\": /x}}}"),
        "VAL-VS-11",
        "spec.http[0].headers.request.set[:path]",
    );
    assert_eq!(
        d.message,
        "invalid header \":path\": header cannot have \":\" prefix"
    );
    let d = rejects(
        &h("{response: {set: {host: x}}}"),
        "VAL-VS-11",
        "spec.http[0].headers.response.set[host]",
    );
    assert_eq!(d.message, "invalid header \"host\": cannot set Host header");
    rejects(
        &h("{request: {remove: [Host]}}"),
        "VAL-VS-11",
        "spec.http[0].headers.request.remove[0]",
    );
    rejects(
        &h("{response: {add: {\":status\": \"200\"}}}"),
        "VAL-VS-11",
        "spec.http[0].headers.response.add[:status]",
    );
    let d = rejects(
        &h("{request: {set: {x-a: \"50%\"}}}"),
        "VAL-VS-11",
        "spec.http[0].headers.request.set[x-a]",
    );
    assert_eq!(
        d.message,
        "header value configuration: invalid header configuration. Un-escaped %"
    );
    rejects(
        &http(
            "route:\n- destination: {host: r}\n  headers: {request: {set: {\":scheme\": https}}}",
        ),
        "VAL-VS-11",
        "spec.http[0].route[0].headers.request.set[:scheme]",
    );
    accepts(&h(
        "{request: {set: {\":authority\": a.example.com, x-a: \"%DOWNSTREAM_REMOTE_ADDRESS%\", x-b: \"100%%\"}, remove: [x-c]}, response: {add: {x-d: \"%REQ(x-id)%\"}}}",
    ));
}

/// VAL-VS-12: the authority is set in one place only.
#[test]
fn val_vs_12_authority_once() {
    let d = rejects(
        &http(&format!(
            "{ROUTE}\nrewrite: {{authority: a.com}}\nheaders: {{request: {{set: {{\":authority\": b.com}}}}}}"
        )),
        "VAL-VS-12",
        "spec.http[0].headers.request.set[:authority]",
    );
    assert_eq!(
        d.message,
        "authority header cannot be set multiple times: have \"a.com\", attempting to set \"b.com\""
    );
    rejects(
        &http(&format!(
            "{ROUTE}\nheaders: {{request: {{set: {{host: a.com}}, add: {{\":authority\": b.com}}}}}}"
        )),
        "VAL-VS-12",
        "spec.http[0].headers.request.add[:authority]",
    );
    accepts(&http(&format!("{ROUTE}\nrewrite: {{authority: a.com}}")));
    accepts(&http(&format!(
        "{ROUTE}\nheaders: {{request: {{set: {{host: a.com}}}}}}"
    )));
}

/// VAL-VS-13: a rewrite sets something, not both `uri` and
/// `uriRegexRewrite`, and a regex rewrite has both its parts.
#[test]
fn val_vs_13_rewrite() {
    let d = rejects(
        &http(&format!(
            "{ROUTE}\nrewrite: {{uri: /a, uriRegexRewrite: {{match: ^/x, rewrite: /y}}}}"
        )),
        "VAL-VS-13",
        "spec.http[0].rewrite",
    );
    assert_eq!(
        d.message,
        "rewrite may only contain one of URI or UriRegexRewrite"
    );
    let d = rejects(
        &http(&format!("{ROUTE}\nrewrite: {{}}")),
        "VAL-VS-13",
        "spec.http[0].rewrite",
    );
    assert_eq!(
        d.message,
        "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified"
    );
    rejects(
        &http(&format!(
            "{ROUTE}\nrewrite: {{uriRegexRewrite: {{match: ^/x}}}}"
        )),
        "VAL-VS-13",
        "spec.http[0].rewrite.uriRegexRewrite",
    );
    rejects(
        &http(&format!(
            "{ROUTE}\nrewrite: {{uriRegexRewrite: {{match: \"(\", rewrite: /y}}}}"
        )),
        "VAL-VS-9",
        "spec.http[0].rewrite.uriRegexRewrite.match",
    );
    accepts(&http(&format!("{ROUTE}\nrewrite: {{uri: /v2}}")));
    accepts(&http(&format!(
        "{ROUTE}\nrewrite: {{uriRegexRewrite: {{match: \"^/service/([^/]+)(/.*)$\", rewrite: \"\\\\2\"}}}}"
    )));
}

/// VAL-VS-14: a redirect sets something, not both `uri` and
/// `prefixRewrite`, uses `prefixRewrite` only under prefix URI matches, a
/// 3xx code and an http(s) scheme.
#[test]
fn val_vs_14_redirect() {
    for (route, path, msg) in [
        (
            "redirect: {uri: /a, prefixRewrite: /b}",
            "spec.http[0].redirect",
            "redirect may only specify one of uri or prefix_rewrite",
        ),
        (
            "match: [{uri: {exact: /a}}]\nredirect: {prefixRewrite: /b}",
            "spec.http[0].redirect.prefixRewrite",
            "redirect prefix_rewrite requires all URI matches to use prefix match type",
        ),
        (
            "redirect: {}",
            "spec.http[0].redirect",
            "redirect must specify URI, authority, scheme, or port",
        ),
        (
            "redirect: {uri: /a, redirectCode: 200}",
            "spec.http[0].redirect.redirectCode",
            "200 is not a valid redirect code, must be 3xx",
        ),
        (
            "redirect: {uri: /a, scheme: ftp}",
            "spec.http[0].redirect.scheme",
            "invalid redirect scheme, must be \"http\" or \"https\"",
        ),
    ] {
        let d = rejects(&http(route), "VAL-VS-14", path);
        assert_eq!(d.message, msg);
    }
    webhook_rejects(
        &http("redirect: {port: 70000}"),
        "VAL-VS-14",
        "spec.http[0].redirect.port",
    );
    accepts(&http(
        "match: [{uri: {prefix: /old}}, {headers: {x: {exact: y}}}]\nredirect: {prefixRewrite: /new, redirectCode: 308}",
    ));
    accepts(&http(
        "redirect: {authority: b.example.com, scheme: https, derivePort: FROM_REQUEST_PORT}",
    ));
}

/// VAL-VS-15: directResponse status in 200..=600 (Istio's check admits
/// 600); a body over 1 MiB is an error, over 100 KiB a warning.
#[test]
fn val_vs_15_direct_response() {
    for status in [199, 601] {
        let d = rejects(
            &http(&format!("directResponse: {{status: {status}}}")),
            "VAL-VS-15",
            "spec.http[0].directResponse.status",
        );
        assert_eq!(
            d.message,
            format!("HTTP status {status} is not in range 200-599")
        );
    }
    accepts(&http("directResponse: {status: 600}"));
    accepts(&http(
        "directResponse: {status: 200, body: {bytes: aGVsbG8=}}",
    ));
    let big = "a".repeat(1024 * 1024 + 1);
    rejects(
        &http(&format!(
            "directResponse: {{status: 200, body: {{string: {big}}}}}"
        )),
        "VAL-VS-15",
        "spec.http[0].directResponse.body",
    );
    let large = "a".repeat(100 * 1024 + 1);
    let d = warns(
        &http(&format!(
            "directResponse: {{status: 200, body: {{string: {large}}}}}"
        )),
        "VAL-VS-15",
        "spec.http[0].directResponse.body",
    );
    assert_eq!(
        d.message,
        "large direct_responses may impact control plane performance"
    );
}

/// VAL-VS-16: fault injection: an abort or a delay; percentages 0 or in
/// [0.0001, 100]; HTTP status 200..=600; gRPC status names; no http2Error
/// or exponentialDelay; an abort without an error type warns.
#[test]
fn val_vs_16_fault() {
    let f = |fault: &str| http(&format!("{ROUTE}\nfault: {fault}"));
    let d = rejects(&f("{}"), "VAL-VS-16", "spec.http[0].fault");
    assert_eq!(
        d.message,
        "HTTP fault injection must have an abort and/or a delay"
    );
    let d = webhook_rejects(
        &f("{abort: {httpStatus: 500, percentage: {value: 101}}}"),
        "VAL-VS-16",
        "spec.http[0].fault.abort.percentage",
    );
    assert_eq!(
        d.message,
        "percentage 101 is neither 0.0, nor in range [0.0001, 100.0]"
    );
    rejects(
        &f("{delay: {fixedDelay: 1s, percentage: {value: 0.00001}}}"),
        "VAL-VS-16",
        "spec.http[0].fault.delay.percentage",
    );
    rejects(
        &f("{abort: {httpStatus: 700}}"),
        "VAL-VS-16",
        "spec.http[0].fault.abort.httpStatus",
    );
    let d = rejects(
        &f("{abort: {grpcStatus: NOPE}}"),
        "VAL-VS-16",
        "spec.http[0].fault.abort.grpcStatus",
    );
    assert_eq!(
        d.message,
        "gRPC status \"NOPE\" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'"
    );
    rejects(
        &f("{abort: {http2Error: CANCEL}}"),
        "VAL-VS-16",
        "spec.http[0].fault.abort.http2Error",
    );
    rejects(
        &f("{delay: {exponentialDelay: 1s}}"),
        "VAL-VS-16",
        "spec.http[0].fault.delay.exponentialDelay",
    );
    let d = warns(
        &f("{abort: {percentage: {value: 10}}}"),
        "VAL-VS-16",
        "spec.http[0].fault.abort",
    );
    assert_eq!(d.message, "abort configured, but error type not set");
    accepts(&f(
        "{delay: {fixedDelay: 5s, percentage: {value: 10}}, abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.0001}}}",
    ));
    accepts(&f("{abort: {httpStatus: 600, percentage: {value: 0}}}"));
}

/// VAL-VS-17: retries: attempts not negative; with 0 attempts no
/// perTryTimeout, retryOn or retryRemoteLocalities; retryOn tokens are
/// Envoy policies or HTTP status codes, not trimmed.
#[test]
fn val_vs_17_retries() {
    let r = |retries: &str| http(&format!("{ROUTE}\nretries: {retries}"));
    let d = webhook_rejects(
        &r("{attempts: -1}"),
        "VAL-VS-17",
        "spec.http[0].retries.attempts",
    );
    assert_eq!(d.message, "attempts cannot be negative");
    let d = rejects(
        &r("{attempts: 0, perTryTimeout: 2s}"),
        "VAL-VS-17",
        "spec.http[0].retries",
    );
    assert_eq!(
        d.message,
        "http retry policy configured when attempts are set to 0 (disabled)"
    );
    rejects(
        &r("{retryRemoteLocalities: false}"),
        "VAL-VS-17",
        "spec.http[0].retries",
    );
    let d = rejects(
        &r("{attempts: 3, retryOn: \"5xx,bogus\"}"),
        "VAL-VS-17",
        "spec.http[0].retries.retryOn",
    );
    assert_eq!(d.message, "\"bogus\" is not a valid retryOn policy");
    rejects(
        &r("{attempts: 3, retryOn: \"5xx, reset\"}"),
        "VAL-VS-17",
        "spec.http[0].retries.retryOn",
    );
    rejects(
        &r("{attempts: 3, retryOn: \"599\"}"),
        "VAL-VS-17",
        "spec.http[0].retries.retryOn",
    );
    accepts(&r(
        "{attempts: 3, perTryTimeout: 2s, retryOn: \"5xx,503,connect-failure,reset-before-request,unavailable\"}",
    ));
    accepts(&r("{attempts: 0}"));
}

/// VAL-VS-18: mirror percentages within 0..100; the deprecated
/// `mirrorPercent` warns.
#[test]
fn val_vs_18_mirror_percentages() {
    let d = webhook_rejects(
        &http(&format!(
            "{ROUTE}\nmirror: {{host: m}}\nmirrorPercentage: {{value: 101}}"
        )),
        "VAL-VS-18",
        "spec.http[0].mirrorPercentage",
    );
    assert_eq!(
        d.message,
        "mirror_percentage must have a max value of 100 (it has 101.000000)"
    );
    let d = webhook_rejects(
        &http(&format!(
            "{ROUTE}\nmirrors: [{{destination: {{host: m}}, percentage: {{value: -1}}}}]"
        )),
        "VAL-VS-18",
        "spec.http[0].mirrors[0].percentage",
    );
    assert_eq!(
        d.message,
        "mirror percentage must have a min value of 0 (it has -1.000000)"
    );
    let d = warns(
        &http(&format!("{ROUTE}\nmirror: {{host: m}}\nmirrorPercent: 50")),
        "VAL-VS-18",
        "spec.http[0].mirrorPercent",
    );
    assert_eq!(
        d.message,
        "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead"
    );
    webhook_rejects(
        &http(&format!("{ROUTE}\nmirror: {{host: m}}\nmirrorPercent: 101")),
        "VAL-VS-18",
        "spec.http[0].mirrorPercent",
    );
    // Istio checks only the 0..100 range here (not validatePercentage).
    accepts(&http(&format!(
        "{ROUTE}\nmirror: {{host: m}}\nmirrorPercentage: {{value: 0.00001}}"
    )));
    accepts(&http(&format!(
        "{ROUTE}\nmirrors: [{{destination: {{host: m}}, percentage: {{value: 100}}}}]"
    )));
}

/// VAL-VS-19: CORS: origins with a value, supported methods, header names,
/// maxAge in whole seconds.
#[test]
fn val_vs_19_cors() {
    let c = |cors: &str| http(&format!("{ROUTE}\ncorsPolicy: {cors}"));
    let d = rejects(
        &c("{allowOrigins: [{exact: \"\"}]}"),
        "VAL-VS-19",
        "spec.http[0].corsPolicy.allowOrigins[0]",
    );
    assert_eq!(
        d.message,
        "'' is not a valid match type for CORS allow origins"
    );
    rejects(
        &c("{allowOrigins: [{}]}"),
        "VAL-VS-19",
        "spec.http[0].corsPolicy.allowOrigins[0]",
    );
    rejects(
        &c("{allowOrigins: [{regex: \"(\"}]}"),
        "VAL-VS-9",
        "spec.http[0].corsPolicy.allowOrigins[0].regex",
    );
    let d = rejects(
        &c("{allowMethods: [GET, FETCH]}"),
        "VAL-VS-19",
        "spec.http[0].corsPolicy.allowMethods[1]",
    );
    assert_eq!(d.message, "\"FETCH\" is not a supported HTTP method");
    rejects(
        &c("{allowHeaders: [\"bad header\"]}"),
        "VAL-VS-19",
        "spec.http[0].corsPolicy.allowHeaders[0]",
    );
    rejects(
        &c("{exposeHeaders: [\"\"]}"),
        "VAL-VS-19",
        "spec.http[0].corsPolicy.exposeHeaders[0]",
    );
    let d = rejects(
        &c("{maxAge: 1500ms}"),
        "VAL-VS-19",
        "spec.http[0].corsPolicy.maxAge",
    );
    assert_eq!(
        d.message,
        "max_age duration is accurate only to seconds precision"
    );
    accepts(&c(
        "{allowOrigins: [{exact: \"https://a.com\"}, {regex: \".*\\\\.a\\\\.com\"}], allowMethods: [GET, POST, \"*\"], allowHeaders: [\"*\", x-token], maxAge: 24h, allowCredentials: true}",
    ));
}

/// VAL-VS-20: match sourceLabels, sourceNamespace and gateway names are
/// well formed; a legacy `name.namespace` gateway name warns. As in Istio,
/// names after the first one without `/` are not checked, and `./gw` fails.
#[test]
fn val_vs_20_sources_and_gateways() {
    let m = |m: &str| http(&format!("match: [{m}]\n{ROUTE}"));
    let d = rejects(
        &m("{sourceLabels: {\"bad key!\": x}}"),
        "VAL-VS-20",
        "spec.http[0].match[0].sourceLabels[bad key!]",
    );
    assert_eq!(d.message, "invalid tag key: \"bad key!\"");
    rejects(
        &m("{sourceLabels: {app: \"-x\"}}"),
        "VAL-VS-20",
        "spec.http[0].match[0].sourceLabels[app]",
    );
    let d = rejects(
        &m("{sourceNamespace: bad_ns}"),
        "VAL-VS-20",
        "spec.http[0].match[0].sourceNamespace",
    );
    assert_eq!(d.message, "sourceNamespace match bad_ns is invalid");
    rejects(
        &m("{gateways: [ns/bad_gw]}"),
        "VAL-VS-20",
        "spec.http[0].match[0].gateways[0]",
    );
    let gws = |g: &str| {
        mk_vs(&format!(
            "hosts: [r.example.com]\ngateways: {g}\nhttp:\n- {ROUTE}"
        ))
    };
    let d = rejects(
        &gws("[istio-system/bad_gw]"),
        "VAL-VS-20",
        "spec.gateways[0]",
    );
    assert_eq!(d.message, "invalid value for gateway name: \"bad_gw\"");
    let d = rejects(&gws("[./gw]"), "VAL-VS-20", "spec.gateways[0]");
    assert_eq!(d.message, "invalid value for namespace: \".\"");
    rejects(&gws("[\"ns/\"]"), "VAL-VS-20", "spec.gateways[0]");
    let d = warns(
        &gws("[gw.istio-system.svc.cluster.local]"),
        "VAL-VS-20",
        "spec.gateways[0]",
    );
    assert_eq!(
        d.message,
        "using legacy gatewayName format \"gw.istio-system.svc.cluster.local\"; prefer the <namespace>/<name> format: \"istio-system/gw\""
    );
    accepts(&gws("[istio-system/Ingress-GW, mesh]"));
    accepts(&gws("[mesh, ns/bad_gw]"));
    accepts(&m(
        "{sourceLabels: {app: reviews, example.com/tier: Front_End.1}, sourceNamespace: Prod}",
    ));
}

/// VAL-VS-21: TLS routes: at least one match, each with SNI hosts that are
/// subsets of the VirtualService hosts (an IP warns), and a route.
#[test]
fn val_vs_21_tls_routes() {
    let tls = |t: &str| mk_vs(&format!("hosts: [\"*.example.com\"]\ntls:\n{t}"));
    let d = webhook_rejects(
        &tls("- route: [{destination: {host: a.example.com}}]"),
        "VAL-VS-21",
        "spec.tls[0]",
    );
    assert_eq!(
        d.message,
        "TLS route must have at least one match condition"
    );
    webhook_rejects(
        &tls("- match: [{port: 443}]\n  route: [{destination: {host: a.example.com}}]"),
        "VAL-VS-21",
        "spec.tls[0].match[0]",
    );
    let d = rejects(
        &tls(
            "- match: [{sniHosts: [a.other.com]}]\n  route: [{destination: {host: a.example.com}}]",
        ),
        "VAL-VS-21",
        "spec.tls[0].match[0].sniHosts[0]",
    );
    assert_eq!(
        d.message,
        "SNI host \"a.other.com\" is not a compatible subset of any of the virtual service hosts: [*.example.com]"
    );
    let d = rejects(
        &tls("- match: [{sniHosts: [a.example.com]}]"),
        "VAL-VS-21",
        "spec.tls[0]",
    );
    assert_eq!(d.message, "TLS route is required");
    let d = rejects(
        &tls(
            "- match: [{sniHosts: [a.example.com], destinationSubnets: [10.0.0.0/33]}]\n  route: [{destination: {host: a.example.com}}]",
        ),
        "VAL-VS-21",
        "spec.tls[0].match[0].destinationSubnets[0]",
    );
    assert_eq!(d.message, "10.0.0.0/33 is not a valid CIDR block");
    let d = warns(
        &mk_vs(
            "hosts: [\"*\"]\ngateways: [gw]\ntls:\n- match: [{sniHosts: [10.0.0.1]}]\n  route: [{destination: {host: a.example.com}}]",
        ),
        "VAL-VS-21",
        "spec.tls[0].match[0].sniHosts[0]",
    );
    assert_eq!(
        d.message,
        "using an IP address (\"10.0.0.1\") goes against SNI spec and most clients do not support this"
    );
    accepts(&tls(
        "- match: [{sniHosts: [a.example.com, \"*.b.example.com\"], port: 443, destinationSubnets: [10.0.0.0/8, 10.1.1.1]}]\n  route: [{destination: {host: a.example.com}}]",
    ));
}

/// VAL-VS-22: TCP routes have a route; their matches are well formed.
#[test]
fn val_vs_22_tcp_routes() {
    let tcp = |t: &str| mk_vs(&format!("hosts: [r]\ntcp:\n{t}"));
    let d = rejects(&tcp("- match: [{port: 3306}]"), "VAL-VS-22", "spec.tcp[0]");
    assert_eq!(d.message, "TCP route is required");
    let d = rejects(
        &tcp("- match: [{destinationSubnets: [not-an-ip]}]\n  route: [{destination: {host: r}}]"),
        "VAL-VS-22",
        "spec.tcp[0].match[0].destinationSubnets[0]",
    );
    assert_eq!(d.message, "not-an-ip is not a valid IP");
    accepts(&tcp(
        "- match: [{port: 3306, destinationSubnets: [10.0.0.0/16], sourceSubnet: whatever}]\n  route: [{destination: {host: r, port: {number: 3306}}}]",
    ));
}

/// VAL-VS-23 (warnings): rules after a match-less rule, repeated matches,
/// and prefix matches an earlier prefix covers are never used.
#[test]
fn val_vs_23_unreachable_rules() {
    let vs = |h: &str| mk_vs(&format!("hosts: [r]\nhttp:\n{h}"));
    let d = warns(
        &vs("- route: [{destination: {host: a}}]\n- route: [{destination: {host: b}}]"),
        "VAL-VS-23",
        "spec.http[1]",
    );
    assert_eq!(
        d.message,
        "virtualService rule #1 not used (only the last rule can have no matches)"
    );
    let d = warns(
        &vs(
            "- route: [{destination: {host: a}}]\n- name: late\n  match: [{uri: {prefix: /x}}]\n  route: [{destination: {host: b}}]",
        ),
        "VAL-VS-23",
        "spec.http[1]",
    );
    assert_eq!(
        d.message,
        "virtualService rule \"late\" not used (route without matches defined before)"
    );
    let dup = vs(
        "- name: first\n  match: [{uri: {exact: /a}}]\n  route: [{destination: {host: a}}]\n- match: [{name: again, uri: {exact: /a}}]\n  route: [{destination: {host: b}}]",
    );
    let d = warns(&dup, "VAL-VS-23", "spec.http[1].match[0]");
    assert_eq!(
        d.message,
        "virtualService rule #1 match \"again\" is not used (duplicate/overlapping match in rule \"first\")"
    );
    let d = warns(&dup, "VAL-VS-23", "spec.http[1]");
    assert_eq!(
        d.message,
        "virtualService rule #1 not used (all matches used by prior rules)"
    );
    let d = warns(
        &vs(
            "- match: [{uri: {prefix: /api}}]\n  route: [{destination: {host: a}}]\n- match: [{uri: {prefix: /api/v2}}]\n  route: [{destination: {host: b}}]",
        ),
        "VAL-VS-23",
        "spec.http[1].match[0]",
    );
    assert_eq!(
        d.message,
        "virtualService rule #1 match #0 of prefix /api/v2 is not used (duplicate/overlapping match in rule #0 of prefix /api on #0)"
    );
    warns(
        &mk_vs(
            "hosts: [r]\ntcp:\n- route: [{destination: {host: a}}]\n- route: [{destination: {host: b}}]",
        ),
        "VAL-VS-23",
        "spec.tcp[1]",
    );
    accepts(&vs(
        "- match: [{uri: {prefix: /api/v2}}]\n  route: [{destination: {host: b}}]\n- match: [{uri: {prefix: /api}}]\n  route: [{destination: {host: a}}]\n- route: [{destination: {host: c}}]",
    ));
    // Different conditions on the same prefix are not an overlap.
    accepts(&vs(
        "- match: [{uri: {prefix: /api}, headers: {x-canary: {exact: \"1\"}}}]\n  route: [{destination: {host: b}}]\n- match: [{uri: {prefix: /api/v2}}]\n  route: [{destination: {host: a}}]",
    ));
}

/// VAL-VS-24: exportTo: no duplicates (`.` and the own namespace are the
/// same), `*` alone, no `~` outside ServiceEntries, DNS labels otherwise.
#[test]
fn val_vs_24_export_to() {
    let e = |x: &str| mk_vs(&format!("hosts: [r]\nexportTo: {x}\nhttp:\n- {ROUTE}"));
    let d = rejects(&e("[a, a]"), "VAL-VS-24", "spec.exportTo[1]");
    assert_eq!(d.message, "duplicate entries in exportTo for entry a");
    let d = rejects(&e("[ns, .]"), "VAL-VS-24", "spec.exportTo[1]");
    assert_eq!(
        d.message,
        "duplicate entries in exportTo: . and current namespace ns"
    );
    let d = rejects(&e("[\"*\", a]"), "VAL-VS-24", "spec.exportTo");
    assert_eq!(
        d.message,
        "cannot have both public (*) and non-public exportTo values for a resource"
    );
    let d = rejects(&e("[\"~\"]"), "VAL-VS-24", "spec.exportTo[0]");
    assert_eq!(
        d.message,
        "exportTo ~ (none) is not allowed for Istio configuration objects"
    );
    let d = rejects(&e("[bad_ns]"), "VAL-VS-24", "spec.exportTo[0]");
    assert_eq!(
        d.message,
        "only .,*, or a valid DNS 1123 label is allowed as exportTo entry"
    );
    rejects(
        &mk_dr("host: r\nexportTo: [a, a]"),
        "VAL-VS-24",
        "spec.exportTo[1]",
    );
    accepts(&e("[., other, Upper-Case]"));
    accepts(&e("[\"*\"]"));
    accepts(&mk_se(
        "hosts: [a.example.com]\naddresses: [10.1.2.3]\nresolution: STATIC\nports: [{number: 80, name: http, protocol: HTTP}]\nendpoints: [{address: 10.0.0.1}]\nexportTo: [\"~\"]",
    ));
}
