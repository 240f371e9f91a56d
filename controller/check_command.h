#pragma once

// `promconf check FILE…`: the daemon's validator, offline, for teams' CI.
// Every file is a fragment (named by its suffix, as in a source) or a
// Kubernetes manifest holding ConfigMaps whose data keys are fragments. Each
// fragment is parsed and validated exactly as the daemon would for a source
// of the chosen type (trusted or not, namespaced or not, the config file's
// validation settings), and its verdict printed with line and reason.
// Exit status: 0 when every fragment is accepted, 1 when any is rejected or
// a file cannot be read, 2 on a usage error.

#include <string>
#include <vector>

namespace promconf {

// `args` are the words after "check". Output goes to stdout, usage errors to
// stderr.
int RunCheckCommand(const std::vector<std::string>& args);

}  // namespace promconf
