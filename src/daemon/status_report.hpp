// The answer to the client protocol's `status` request (`drl status`): the node's state, read
// now from the counters and snapshots every part of the daemon keeps.
#pragma once

#include "wire/status_field.hpp"

namespace drl::daemon {

struct DaemonContext;

// Fields in the order docs/protocol.md (Op `status`) lists them: the node, config, store,
// connections and checks; then the HTTP endpoint's and Envoy's when configured; then the cluster
// ("single node", or its fields and peers); then overrides and adaptive factors, always last.
// Clients must not depend on the order, but the docs describe it: append, never reorder.
// Thread-safety: every socket worker's Service calls it on its own thread, concurrently.
wire::StatusFields status_report(const DaemonContext& context);

}  // namespace drl::daemon
