#include <doctest/doctest.h>

#include <map>
#include <string>

#include "config/config.hpp"
#include "http/request_mapping.hpp"

using namespace drl::http;

namespace {

const char* const kPolicies = R"(
[[policy]]
name = "api"
limit = 10
window = "1m"

[[policy]]
name = "edge"
limit = 10
window = "1m"
[policy.http]
key = ["header-first:X-Forwarded-For", "remote_addr"]
tier = "header:X-Tier"
endpoint = "header:X-Original-URI"
method = "header:X-Original-Method"
cost = "header:X-Cost"
)";

struct Request {
  std::string path = "/v1/check";
  std::string query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string remote = "192.0.2.9";

  std::variant<MappedCheck, MappingError> map() const {
    static const auto parsed = drl::config::parse_config(kPolicies, "test");
    REQUIRE(parsed.ok());
    HttpRequestView view;
    view.method = "GET";
    view.path = path;
    view.query = query;
    view.remote_addr = remote;
    view.header = [this](std::string_view name) -> std::optional<std::string_view> {
      std::string lower(name);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto it = headers.find(lower);
      if (it == headers.end()) return std::nullopt;
      return std::string_view(it->second);
    };
    return map_request(*parsed->policies, view, "/v1/check");
  }

  MappedCheck ok() const {
    const auto result = map();
    const auto* error = std::get_if<MappingError>(&result);
    REQUIRE_MESSAGE(error == nullptr, (error ? error->detail : ""));
    return std::get<MappedCheck>(result);
  }

  MappingError error() const {
    const auto result = map();
    REQUIRE(std::holds_alternative<MappingError>(result));
    return std::get<MappingError>(result);
  }
};

}  // namespace

TEST_CASE("http mapping: the policy comes from the path, or else from ?policy=") {
  Request by_path;
  by_path.path = "/v1/check/api";
  by_path.query = "key=alice";
  CHECK(by_path.ok().policy == "api");
  Request by_query;
  by_query.query = "policy=api&key=alice";
  CHECK(by_query.ok().policy == "api");
  Request none;
  none.query = "key=alice";
  CHECK(none.error().status == 400);
  Request unknown;
  unknown.path = "/v1/check/nope";
  unknown.query = "key=a";
  CHECK(unknown.error().status == 404);
}

TEST_CASE(
    "http mapping: by default key, tier, endpoint and cost come from the query, then X-Drl-*") {
  Request r;
  r.path = "/v1/check/api";
  r.query = "key=user%2042&tier=pro&endpoint=GET+%2Fitems&cost=3";
  const MappedCheck check = r.ok();
  CHECK(check.key == "user 42");
  CHECK(check.tier == "pro");
  CHECK(check.endpoint == "GET /items");
  CHECK(check.cost == 3);
  Request headers;
  headers.path = "/v1/check/api";
  headers.headers = {{"x-drl-key", "k9"}, {"x-drl-cost", "2"}};
  CHECK(headers.ok().key == "k9");
  CHECK(headers.ok().cost == 2);
}

TEST_CASE("http mapping: a policy's sources are tried in order; X-Forwarded-For gives its client") {
  Request r;
  r.path = "/v1/check/edge";
  r.headers = {{"x-forwarded-for", " 203.0.113.7 , 10.0.0.1"},
               {"x-original-uri", "/login?next=%2F"},
               {"x-original-method", "POST"},
               {"x-tier", "free"},
               {"x-cost", "5"}};
  const MappedCheck check = r.ok();
  CHECK(check.key == "203.0.113.7");
  CHECK(check.endpoint == "POST /login");
  CHECK(check.tier == "free");
  CHECK(check.cost == 5);
  Request direct;
  direct.path = "/v1/check/edge";
  CHECK(direct.ok().key == "192.0.2.9");  // no X-Forwarded-For: the peer address
  CHECK(direct.ok().endpoint.empty());
}

TEST_CASE("http mapping: bad requests get 400 with the reason") {
  Request no_key;
  no_key.path = "/v1/check/api";
  const MappingError missing = no_key.error();
  CHECK(missing.status == 400);
  CHECK(missing.detail.find("query:key, header:X-Drl-Key") != std::string::npos);
  Request bad_cost;
  bad_cost.path = "/v1/check/api";
  bad_cost.query = "key=a&cost=-1";
  CHECK(bad_cost.error().detail.find("cost '-1'") != std::string::npos);
  Request huge_cost;
  huge_cost.path = "/v1/check/api";
  huge_cost.query = "key=a&cost=99999999999";
  CHECK(huge_cost.error().status == 400);
  Request bad_status;
  bad_status.path = "/v1/check/api";
  bad_status.query = "key=a&deny_status=418";
  CHECK(bad_status.error().detail.find("deny_status") != std::string::npos);
}

TEST_CASE("http mapping: deny_status 403 is for proxies that pass only 401 and 403") {
  Request r;
  r.path = "/v1/check/api";
  r.query = "key=a&deny_status=403";
  CHECK(r.ok().deny_status == 403);
  r.query = "key=a";
  CHECK(r.ok().deny_status == 429);
}

TEST_CASE("http mapping: query values are percent-decoded, '+' is a space, the first one wins") {
  CHECK(query_value("a=1&b=x%20y", "b") == "x y");
  CHECK(query_value("a=1+2&a=3", "a") == "1 2");
  CHECK(query_value("flag&b=2", "flag") == "");
  CHECK_FALSE(query_value("a=1", "b").has_value());
  CHECK(query_value("k=%zz%4", "k") == "%zz%4");  // invalid escapes stay as they are
}
