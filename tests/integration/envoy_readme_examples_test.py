#!/usr/bin/python3
# envoyproxy/ratelimit's README examples 1 to 9, as an Envoy user reads them: each example's
# YAML file, as the README prints it, in the config_dir of one real drld, asked over gRPC what
# the README describes, and the answers it states (codes, limits, remaining where stated).
# Then what the README implies around them: an unknown domain and descriptors that match
# nothing (OK, nothing counted), hits_addend at request and descriptor level, a descriptor's
# limit override, the response headers (response_headers = "both"), and the metrics per domain
# and code.
#
# Where drl answers differently from envoyproxy/ratelimit on purpose, the case says so (docs:
# "What differs, on purpose" in the Envoy section): a denied request counts nowhere.
#
# Run by meson (suite integration, with the feature 'envoy'): exits 77 (skipped) without
# python3-grpcio. One case: envoy_readme_examples_test.py "example 7".
import os
import sys

from rls_harness import (DAY_MS, MINUTE_MS, SECOND_MS, UINT32_MAX, Drld, RlsError, TempDir,
                         case, check, check_equal, expect_no_limit, expect_status, headers_of,
                         in_one_window, metric, replace_file, reset_within, run_cases)

# The README's files, verbatim (its comments included).
README_FILES = {
    "example1.yaml": """\
domain: mongo_cps
descriptors:
  - key: database
    value: users
    rate_limit:
      unit: second
      requests_per_unit: 500

  - key: database
    value: default
    rate_limit:
      unit: second
      requests_per_unit: 500
""",
    "example2.yaml": """\
domain: messaging
descriptors:
  # Only allow 5 marketing messages a day
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 5

  # Only allow 100 messages a day to any unique phone number
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 100
""",
    "example3.yaml": """\
domain: edge_proxy_per_ip
descriptors:
  - key: remote_address
    rate_limit:
      unit: second
      requests_per_unit: 10

  # Black list IP
  - key: remote_address
    value: 50.0.0.5
    rate_limit:
      unit: second
      requests_per_unit: 0
""",
    # Example 4 shows two files of one domain; the first here, the second by a reload.
    "example4.yaml": """\
domain: example4
descriptors:
  - key: key
    value: value
    rate_limit:
      requests_per_unit: 300
      unit: second
""",
    "example5.yaml": """\
domain: internal
descriptors:
  - key: ldap
    rate_limit:
      unlimited: true

  - key: azure
    rate_limit:
      unit: minute
      requests_per_unit: 100
""",
    "example6.yaml": """\
domain: example6
descriptors:
  - key: service
    descriptors:
      - key: user
        value: user-a
        rate_limit:
          requests_per_unit: 10
          unit: second
        shadow_mode: true
      - key: user
        value: user-b
        rate_limit:
          requests_per_unit: 20
          unit: second
""",
    "example7.yaml": """\
domain: example7
descriptors:
  - key: key_1
    value: value_1
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          name: specific_limit
          requests_per_unit: 5
          unit: second
  - key: key_2
    value: value_2
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          replaces:
            - name: specific_limit
          requests_per_unit: 10
          unit: second
""",
    "example8.yaml": """\
domain: example8
descriptors:
  - key: key1
    detailed_metric: true
    rate_limit:
      unit: minute
      requests_per_unit: 10
  - key: key1
    value: value1
    rate_limit:
      unit: minute
      requests_per_unit: 20
""",
    "example9.yaml": """\
domain: example9
descriptors:
  - key: key1
    value: value*
    rate_limit:
      unit: minute
      requests_per_unit: 20
""",
}

EXAMPLE4_NESTED = """\
domain: example4
descriptors:
  - key: key
    value: value
    descriptors:
      - key: subkey
        rate_limit:
          requests_per_unit: 300
          unit: second
"""

# Files of the cases after the examples (not the README's).
OTHER_FILES = {
    "shared_prefix.yaml": """\
domain: shared_prefix
descriptors:
  - key: key1
    value: value*
    share_threshold: true
    rate_limit:
      unit: minute
      requests_per_unit: 3
""",
    "hits.yaml": """\
domain: hits
descriptors:
  - key: k
    rate_limit:
      unit: minute
      requests_per_unit: 10
""",
    "headers.yaml": """\
domain: headers
descriptors:
  - key: user
    rate_limit:
      unit: minute
      requests_per_unit: 10
  - key: ip
    rate_limit:
      unit: minute
      requests_per_unit: 3
""",
}


class Context:
    def __init__(self):
        self.dir = TempDir()
        self.config_dir = self.dir.file("ratelimit")
        os.mkdir(self.config_dir)
        for name, text in {**README_FILES, **OTHER_FILES}.items():
            with open(os.path.join(self.config_dir, name), "w") as stream:
                stream.write(text)
        self.drld = Drld(self.dir.path, self.config_dir, http=True, response_headers="both")

    def dump_logs(self):
        print("--- drld log ---\n" + self.drld.log())

    def close(self):
        self.drld.kill()
        self.dir.close()


def keys_created(drld):
    """Counters the store has made so far: those it holds plus those gone (a key that expires
    during a case must not look like one never made)."""
    status = drld.status()
    return status["keys_tracked"] + status["keys_expired"] + status["keys_evicted"]


def one(answer):
    check_equal(len(answer["statuses"]), 1, "statuses")
    return answer["statuses"][0]


@case("example 1: database=users and database=default each admit 500 a second, the 501st "
      "in the second is OVER_LIMIT; another database has no limit")
def example_1(c):
    drld = c.drld
    users = [("database", "users")]

    def body():
        for i in range(500):
            answer = drld.ask("mongo_cps", [users])
            check_equal(answer["overall_code"], "OK", "request %d" % (i + 1))
            expect_status(one(answer), "OK", (500, "SECOND"), 499 - i, "request %d" % (i + 1))
        over = drld.ask("mongo_cps", [users])
        check_equal(over["overall_code"], "OVER_LIMIT", "request 501")
        expect_status(one(over), "OVER_LIMIT", (500, "SECOND"), 0, "request 501")
        reset_within(one(over), SECOND_MS)
        # The other database has a limit of its own, its own count.
        default = drld.ask("mongo_cps", [[("database", "default")]])
        expect_status(one(default), "OK", (500, "SECOND"), 499, "database=default")
    in_one_window(SECOND_MS, body)
    expect_no_limit(drld.ask("mongo_cps", [[("database", "orders")]]), "database=orders")


@case("example 2: (marketing, number) gets 5 a day and (number) 100 a day; a request with "
      "both is the OR of the two; 10 such requests admit 5, and the 100 a day counted those 5")
def example_2(c):
    drld = c.drld
    marketing = [("message_type", "marketing"), ("to_number", "2061111111")]
    number = [("to_number", "2061111111")]

    def body():
        for i in range(5):
            answer = drld.ask("messaging", [marketing, number])
            check_equal(answer["overall_code"], "OK", "request %d" % (i + 1))
            expect_status(answer["statuses"][0], "OK", (5, "DAY"), 4 - i, "marketing")
            expect_status(answer["statuses"][1], "OK", (100, "DAY"), 99 - i, "number")
            reset_within(answer["statuses"][0], DAY_MS)
        for i in range(5, 10):
            answer = drld.ask("messaging", [marketing, number])
            check_equal(answer["overall_code"], "OVER_LIMIT", "request %d" % (i + 1))
            expect_status(answer["statuses"][0], "OVER_LIMIT", (5, "DAY"), 0, "marketing")
            # envoyproxy/ratelimit would count these too (94, 93, ...): drl counts a denied
            # request nowhere, so the 100 a day stays at 5 used.
            expect_status(answer["statuses"][1], "OK", (100, "DAY"), 95, "number")
        # Another number: its own 5 marketing messages.
        other = drld.ask("messaging", [[("message_type", "marketing"),
                                        ("to_number", "2062222222")]])
        expect_status(one(other), "OK", (5, "DAY"), 4, "marketing to 2062222222")
        # The number alone, on the count the five admitted requests left.
        alone = drld.ask("messaging", [number])
        expect_status(one(alone), "OK", (100, "DAY"), 94, "the number alone")
        # The top-level marketing entry alone is only a placeholder: no limit.
        expect_no_limit(drld.ask("messaging", [[("message_type", "marketing")]]),
                        "marketing alone")
    in_one_window(DAY_MS, body, room_ms=MINUTE_MS)


@case("example 3: every address gets 10 a second, each its own; 50.0.0.5 matches its "
      "value before the key and is always OVER_LIMIT (limit 0)")
def example_3(c):
    drld = c.drld

    def body():
        for i in range(10):
            answer = drld.ask("edge_proxy_per_ip", [[("remote_address", "50.0.0.1")]])
            expect_status(one(answer), "OK", (10, "SECOND"), 9 - i, "50.0.0.1 #%d" % (i + 1))
        over = drld.ask("edge_proxy_per_ip", [[("remote_address", "50.0.0.1")]])
        check_equal(over["overall_code"], "OVER_LIMIT", "50.0.0.1 #11")
        expect_status(one(over), "OVER_LIMIT", (10, "SECOND"), 0, "50.0.0.1 #11")
        other = drld.ask("edge_proxy_per_ip", [[("remote_address", "50.0.0.2")]])
        expect_status(one(other), "OK", (10, "SECOND"), 9, "50.0.0.2")
        for i in range(3):
            banned = drld.ask("edge_proxy_per_ip", [[("remote_address", "50.0.0.5")]])
            check_equal(banned["overall_code"], "OVER_LIMIT", "50.0.0.5")
            expect_status(one(banned), "OVER_LIMIT", (0, "SECOND"), 0, "50.0.0.5")
    in_one_window(SECOND_MS, body)


@case("example 4: a two-entry descriptor does not match a one-level rule, and matches once "
      "the rule is nested (the second file, put in force by drl reload)")
def example_4(c):
    drld = c.drld
    two = [("key", "value"), ("subkey", "subvalue")]
    one_entry = [("key", "value")]

    def first_file():
        expect_no_limit(drld.ask("example4", [two]), "two entries, flat rule")
        expect_status(one(drld.ask("example4", [one_entry])), "OK", (300, "SECOND"), 299,
                      "one entry, flat rule")
    in_one_window(SECOND_MS, first_file)

    path = os.path.join(c.config_dir, "example4.yaml")
    replace_file(path, EXAMPLE4_NESTED)
    code, out, err = drld.reload()
    check(code == 0, "drl reload: exit %d, %s%s" % (code, out, err))
    try:
        def second_file():
            expect_status(one(drld.ask("example4", [two])), "OK", (300, "SECOND"), 299,
                          "two entries, nested rule")
            expect_no_limit(drld.ask("example4", [one_entry]), "one entry, nested rule")
        in_one_window(SECOND_MS, second_file)
    finally:
        replace_file(path, README_FILES["example4.yaml"])
        drld.reload()


@case("example 5: ldap is unlimited (OK, limit_remaining 4294967295, never counted); azure "
      "gets 100 a minute")
def example_5(c):
    drld = c.drld
    before = keys_created(drld)
    for user in ("a", "b", "a"):
        answer = drld.ask("internal", [[("ldap", user)]])
        check_equal(answer["overall_code"], "OK", "ldap")
        expect_status(one(answer), "OK", None, UINT32_MAX, "ldap=" + user)
    check_equal(keys_created(drld), before, "counters made for unlimited descriptors")

    def body():
        for i in range(3):
            answer = drld.ask("internal", [[("azure", "tenant-1")]])
            expect_status(one(answer), "OK", (100, "MINUTE"), 99 - i, "azure #%d" % (i + 1))
    in_one_window(MINUTE_MS, body)


@case("example 6: user-a is in shadow mode (10 a second, never OVER_LIMIT, its breaches "
      "counted in the metrics); user-b gets 20 a second")
def example_6(c):
    drld = c.drld
    user_a = [("service", "auth-service"), ("user", "user-a")]
    user_b = [("service", "auth-service"), ("user", "user-b")]

    def body():
        before = drld.metrics()
        for i in range(15):
            answer = drld.ask("example6", [user_a])
            check_equal(answer["overall_code"], "OK", "user-a #%d" % (i + 1))
            expect_status(one(answer), "OK", (10, "SECOND"), max(0, 9 - i),
                          "user-a #%d" % (i + 1))
        after = drld.metrics()

        def delta(code):
            return (metric(after, "drl_envoy_descriptors_total", domain="example6", code=code) -
                    metric(before, "drl_envoy_descriptors_total", domain="example6", code=code))
        check_equal(delta("ok"), 10, "example6 descriptors ok")
        check_equal(delta("shadow_over_limit"), 5, "example6 descriptors shadow_over_limit")
        check_equal(delta("over_limit"), 0, "example6 descriptors over_limit")
        for i in range(20):
            expect_status(one(drld.ask("example6", [user_b])), "OK", (20, "SECOND"), 19 - i,
                          "user-b #%d" % (i + 1))
        over = drld.ask("example6", [user_b])
        check_equal(over["overall_code"], "OVER_LIMIT", "user-b #21")
        expect_status(one(over), "OVER_LIMIT", (20, "SECOND"), 0, "user-b #21")
    in_one_window(SECOND_MS, body)
    expect_no_limit(drld.ask("example6", [[("service", "auth-service"), ("user", "user-c")]]),
                    "user-c")


@case("example 7: (key_1, user) 5 a second, (key_2, user) 10 a second; a request with both "
      "gets 10 a second, and the replaced 5 a second is left uncounted")
def example_7(c):
    drld = c.drld
    first = [("key_1", "value_1"), ("user", "bkthomps")]
    second = [("key_2", "value_2"), ("user", "bkthomps")]

    def body():
        for i in range(10):
            answer = drld.ask("example7", [first, second])
            check_equal(answer["overall_code"], "OK", "both #%d" % (i + 1))
            # The replaced limit does not apply: no limit reported for its descriptor.
            expect_status(answer["statuses"][0], "OK", None, 0, "replaced (key_1, user)")
            expect_status(answer["statuses"][1], "OK", (10, "SECOND"), 9 - i, "(key_2, user)")
        over = drld.ask("example7", [first, second])
        check_equal(over["overall_code"], "OVER_LIMIT", "both #11")
        expect_status(over["statuses"][1], "OVER_LIMIT", (10, "SECOND"), 0, "(key_2, user) #11")
        # The 5 a second was not touched by the ten requests above.
        for i in range(5):
            expect_status(one(drld.ask("example7", [first])), "OK", (5, "SECOND"), 4 - i,
                          "(key_1, user) alone #%d" % (i + 1))
        over_first = drld.ask("example7", [first])
        expect_status(one(over_first), "OVER_LIMIT", (5, "SECOND"), 0, "(key_1, user) #6")
        # And (key_2, user) alone shares the 10 a second the combined requests used up.
        expect_status(one(drld.ask("example7", [second])), "OVER_LIMIT", (10, "SECOND"), 0,
                      "(key_2, user) alone")
    in_one_window(SECOND_MS, body)


@case("example 8: detailed_metric: key1's unlisted values get 10 a minute each and a "
      "metrics series each (key1_unspecified_value, key1_unspecified_value2); key1=value1 "
      "gets 20 a minute")
def example_8(c):
    drld = c.drld

    def body():
        before = drld.metrics()
        for i in range(10):
            expect_status(one(drld.ask("example8", [[("key1", "unspecified_value")]])), "OK",
                          (10, "MINUTE"), 9 - i, "unspecified_value #%d" % (i + 1))
        over = drld.ask("example8", [[("key1", "unspecified_value")]])
        expect_status(one(over), "OVER_LIMIT", (10, "MINUTE"), 0, "unspecified_value #11")
        expect_status(one(drld.ask("example8", [[("key1", "unspecified_value2")]])), "OK",
                      (10, "MINUTE"), 9, "unspecified_value2")
        expect_status(one(drld.ask("example8", [[("key1", "value1")]])), "OK", (20, "MINUTE"),
                      19, "value1")
        after = drld.metrics()

        def detailed(series, code):
            name = "drl_envoy_detailed_descriptors_total"
            return (metric(after, name, domain="example8", series=series, code=code) -
                    metric(before, name, domain="example8", series=series, code=code))
        check_equal(detailed("key1_unspecified_value", "ok"), 10, "series unspecified_value ok")
        check_equal(detailed("key1_unspecified_value", "over_limit"), 1,
                    "series unspecified_value over_limit")
        check_equal(detailed("key1_unspecified_value2", "ok"), 1, "series unspecified_value2 ok")
        # value1's rule has no detailed_metric: it is in the domain's totals only.
        series = {dict(labels).get("series") for (name, labels) in after
                  if name == "drl_envoy_detailed_descriptors_total"}
        check("key1_value1" not in series, "a detailed series for value1: %s" % sorted(series))
        domain_ok = (metric(after, "drl_envoy_descriptors_total", domain="example8", code="ok") -
                     metric(before, "drl_envoy_descriptors_total", domain="example8", code="ok"))
        check_equal(domain_ok, 12, "example8 descriptors ok")
    in_one_window(MINUTE_MS, body)


@case("example 9: value* matches every value with that prefix, each value counted on its own "
      "(20 a minute: the file's unit; the README's list says a second)")
def example_9(c):
    drld = c.drld

    def body():
        for i in range(20):
            expect_status(one(drld.ask("example9", [[("key1", "value_1")]])), "OK",
                          (20, "MINUTE"), 19 - i, "value_1 #%d" % (i + 1))
        over = drld.ask("example9", [[("key1", "value_1")]])
        expect_status(one(over), "OVER_LIMIT", (20, "MINUTE"), 0, "value_1 #21")
        expect_status(one(drld.ask("example9", [[("key1", "value_2")]])), "OK", (20, "MINUTE"),
                      19, "value_2")
        expect_status(one(drld.ask("example9", [[("key1", "value")]])), "OK", (20, "MINUTE"),
                      19, "value (the bare prefix)")
    in_one_window(MINUTE_MS, body)
    expect_no_limit(drld.ask("example9", [[("key1", "valu")]]), "valu")
    expect_no_limit(drld.ask("example9", [[("key1", "other")]]), "other")


@case("value* with share_threshold: every matching value shares one count")
def shared_prefix(c):
    drld = c.drld

    def body():
        for i, value in enumerate(("value_1", "value_2", "value_3")):
            expect_status(one(drld.ask("shared_prefix", [[("key1", value)]])), "OK",
                          (3, "MINUTE"), 2 - i, value)
        expect_status(one(drld.ask("shared_prefix", [[("key1", "value_4")]])), "OVER_LIMIT",
                      (3, "MINUTE"), 0, "value_4")
    in_one_window(MINUTE_MS, body)


@case("an unknown domain answers OK with no limit for every descriptor, counts nothing, and "
      "shows in the metrics as (unknown)")
def unknown_domain(c):
    drld = c.drld
    before_keys = keys_created(drld)
    before = drld.metrics()
    for _ in range(3):
        answer = drld.ask("no_such_domain", [[("database", "users")], [("k", "v"), ("k2", "v")]])
        expect_no_limit(answer, "unknown domain")
        check_equal(headers_of(answer), {}, "headers of an unknown domain")
    # Even a limit override: upstream looks the domain up first.
    expect_no_limit(drld.ask("no_such_domain", [{"entries": [("k", "v")], "limit": (1, "minute")}]),
                    "unknown domain, override")
    after = drld.metrics()
    check_equal(keys_created(drld), before_keys, "counters made")
    check_equal(metric(after, "drl_envoy_requests_total", domain="(unknown)", code="ok") -
                metric(before, "drl_envoy_requests_total", domain="(unknown)", code="ok"),
                4, "(unknown) requests ok")
    check_equal(metric(after, "drl_envoy_descriptors_total", domain="(unknown)", code="no_limit") -
                metric(before, "drl_envoy_descriptors_total", domain="(unknown)",
                       code="no_limit"), 7, "(unknown) descriptors no_limit")


@case("descriptors that match nothing answer OK with no limit and count nothing, next to one "
      "that is counted")
def no_match(c):
    drld = c.drld
    before_keys = keys_created(drld)
    before = drld.metrics()
    answer = drld.ask("hits", [[("other", "x")], [("k", "nomatch-1"), ("deeper", "x")],
                               [("K", "case-sensitive")]])
    expect_no_limit(answer, "no match")
    check_equal(keys_created(drld), before_keys, "counters made")

    def body():
        mixed = drld.ask("hits", [[("other", "x")], [("k", "nomatch-2")]])
        check_equal(mixed["overall_code"], "OK", "mixed")
        expect_status(mixed["statuses"][0], "OK", None, 0, "the unmatched one")
        expect_status(mixed["statuses"][1], "OK", (10, "MINUTE"), 9, "the matched one")
    in_one_window(MINUTE_MS, body)
    after = drld.metrics()
    check_equal(keys_created(drld), before_keys + 1, "counters made with the matched one")
    check_equal(metric(after, "drl_envoy_descriptors_total", domain="hits", code="no_limit") -
                metric(before, "drl_envoy_descriptors_total", domain="hits", code="no_limit"),
                4, "hits descriptors no_limit")


@case("hits_addend: the request's is every descriptor's cost (0 means 1); a descriptor's own "
      "wins (0 only looks); a cost above what is left is OVER_LIMIT and counts nothing")
def hits_addend(c):
    drld = c.drld

    def body():
        expect_status(one(drld.ask("hits", [[("k", "h-a")]], hits_addend=3)), "OK",
                      (10, "MINUTE"), 7, "request hits 3")
        expect_status(one(drld.ask("hits", [[("k", "h-a")]], hits_addend=0)), "OK",
                      (10, "MINUTE"), 6, "request hits 0 (means 1)")
        both = drld.ask("hits", [{"entries": [("k", "h-b")], "hits_addend": 5},
                                 {"entries": [("k", "h-c")]}], hits_addend=3)
        expect_status(both["statuses"][0], "OK", (10, "MINUTE"), 5, "descriptor hits 5")
        expect_status(both["statuses"][1], "OK", (10, "MINUTE"), 7, "request hits 3")
        for _ in range(2):
            look = drld.ask("hits", [{"entries": [("k", "h-b")], "hits_addend": 0}],
                            hits_addend=4)
            expect_status(one(look), "OK", (10, "MINUTE"), 5, "descriptor hits 0")
        too_many = drld.ask("hits", [[("k", "h-a")]], hits_addend=7)
        check_equal(too_many["overall_code"], "OVER_LIMIT", "hits 7 of 6 left")
        expect_status(one(too_many), "OVER_LIMIT", (10, "MINUTE"), 6, "hits 7 of 6 left")
        expect_status(one(drld.ask("hits", [[("k", "h-a")]], hits_addend=6)), "OK",
                      (10, "MINUTE"), 0, "hits 6 of 6 left")
    in_one_window(MINUTE_MS, body)


@case("a descriptor's limit override replaces the file's limit (and applies to a descriptor "
      "no rule matches, in a known domain), reported as current_limit")
def limit_override(c):
    drld = c.drld

    def body():
        for i in range(3):
            answer = drld.ask("hits", [{"entries": [("k", "o-a")], "limit": (3, "minute")}])
            expect_status(one(answer), "OK", (3, "MINUTE"), 2 - i, "override #%d" % (i + 1))
        over = drld.ask("hits", [{"entries": [("k", "o-a")], "limit": (3, "minute")}])
        expect_status(one(over), "OVER_LIMIT", (3, "MINUTE"), 0, "override #4")
        # The file's limit of the same entries counts apart (a policy of its own).
        expect_status(one(drld.ask("hits", [[("k", "o-a")]])), "OK", (10, "MINUTE"), 9,
                      "the file's limit of the same entries")
        unmatched = drld.ask("hits", [{"entries": [("nomatch", "x")], "limit": (2, "hour")}])
        expect_status(one(unmatched), "OK", (2, "HOUR"), 1, "override of an unmatched descriptor")
        blocked = drld.ask("hits", [{"entries": [("k", "o-b")], "limit": (0, "minute")}])
        expect_status(one(blocked), "OVER_LIMIT", (0, "MINUTE"), 0, "override 0")
    in_one_window(MINUTE_MS, body)


@case("response_headers = \"both\": RateLimit-Policy and RateLimit name every limit, "
      "X-RateLimit-* show the descriptor closest to its limit, and agree with the statuses")
def response_headers(c):
    drld = c.drld

    def body():
        answer = drld.ask("headers", [[("user", "alice")], [("ip", "10.0.0.1")]])
        expect_status(answer["statuses"][0], "OK", (10, "MINUTE"), 9, "user")
        expect_status(answer["statuses"][1], "OK", (3, "MINUTE"), 2, "ip")
        headers = headers_of(answer)
        check_equal(sorted(headers), ["RateLimit", "RateLimit-Policy", "X-RateLimit-Limit",
                                      "X-RateLimit-Remaining", "X-RateLimit-Reset"], "headers")
        check_equal(headers["RateLimit-Policy"],
                    '"envoy/headers/user";q=10;w=60, "envoy/headers/ip";q=3;w=60',
                    "RateLimit-Policy")
        reset_s = -(-answer["statuses"][1]["duration_until_reset_ms"] // 1000)
        check_equal(headers["RateLimit"],
                    '"envoy/headers/user";r=9;t=%d, "envoy/headers/ip";r=2;t=%d'
                    % (reset_s, reset_s), "RateLimit")
        check_equal(headers["X-RateLimit-Limit"], "3", "X-RateLimit-Limit")
        check_equal(headers["X-RateLimit-Remaining"], "2", "X-RateLimit-Remaining")
        check_equal(headers["X-RateLimit-Reset"], str(reset_s), "X-RateLimit-Reset")
        for _ in range(2):
            drld.ask("headers", [[("ip", "10.0.0.1")]])
        over = drld.ask("headers", [[("user", "alice")], [("ip", "10.0.0.1")]])
        check_equal(over["overall_code"], "OVER_LIMIT", "over")
        over_headers = headers_of(over)
        check_equal(over_headers["X-RateLimit-Limit"], "3", "X-RateLimit-Limit when over")
        check_equal(over_headers["X-RateLimit-Remaining"], "0", "X-RateLimit-Remaining when over")
        # Nothing counted: the user's limit still shows 9 left.
        check(over_headers["RateLimit"].startswith('"envoy/headers/user";r=9;'),
              "RateLimit when over: " + over_headers["RateLimit"])
    in_one_window(MINUTE_MS, body)


@case("the metrics count requests and descriptors per domain and code, and the limits in force")
def metrics_per_domain(c):
    drld = c.drld
    before = drld.metrics()
    drld.ask("edge_proxy_per_ip", [[("remote_address", "50.0.0.5")]])
    drld.ask("internal", [[("ldap", "x")], [("nothing", "x")]])
    after = drld.metrics()

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)
    check_equal(delta("drl_envoy_requests_total", domain="edge_proxy_per_ip", code="over_limit"),
                1, "edge_proxy_per_ip requests over_limit")
    check_equal(delta("drl_envoy_descriptors_total", domain="edge_proxy_per_ip",
                      code="over_limit"), 1, "edge_proxy_per_ip descriptors over_limit")
    check_equal(delta("drl_envoy_requests_total", domain="internal", code="ok"), 1,
                "internal requests ok")
    check_equal(delta("drl_envoy_descriptors_total", domain="internal", code="unlimited"), 1,
                "internal descriptors unlimited")
    check_equal(delta("drl_envoy_descriptors_total", domain="internal", code="no_limit"), 1,
                "internal descriptors no_limit")
    check_equal(delta("drl_envoy_calls_total", outcome="answered"), 2, "calls answered")
    # Limited descriptors of the files: 2 + 2 + 2 + 1 + 1 (azure) + 2 + 2 + 2 + 1, and the
    # shared prefix, hits and headers files' 1 + 1 + 2; ldap is unlimited, not limited.
    check_equal(metric(after, "drl_envoy_limits"), 19, "drl_envoy_limits")
    status = drld.status()
    check_equal(status["envoy_domains"], 12, "envoy_domains")
    check_equal(status["envoy_listen"], drld.target, "envoy_listen")


if __name__ == "__main__":
    sys.exit(run_cases(Context))
