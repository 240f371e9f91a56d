#pragma once

// The file source (SPEC `sources[].file`): local directories, watched
// recursively, and single files, kept in step with inotify.
//
// Document name: the path below the watched directory ("sub/x.rules.yml"),
// or the base name for a configured single file; origin: the full path.
// Hidden names (".*") and editor droppings ("*~", "*.swp", "*.swx", "4913")
// are skipped. Symlinks to files are followed, symlinks to directories are
// not descended into. The kubelet's mounted-ConfigMap layout works: the
// visible keys are symlinks through "..data", and a swap of "..data" makes
// the source re-read every key of that directory.
//
// Writes are debounced: a path is read once its events have been quiet for a
// few tens of milliseconds (after IN_CLOSE_WRITE or IN_MOVED_TO; a file that
// was created or modified but not yet closed gets a longer grace), so
// write-temp-then-rename, `sed -i` and vim's backup dance report only the
// final content. Files over SourceContext::max_document_bytes are reported
// with Document::oversized_bytes set and no data, without being read.
//
// A configured path that does not exist (at start, or later because it was
// removed) is reported through OnError, naming it, and retried every second
// by the context clock; its documents are kept meanwhile. The first snapshot
// waits until every configured path exists. An inotify queue overflow makes
// the source rescan everything and report a fresh OnSnapshot("").
//
// Thread-safety: Start and Stop may be called from any thread; callbacks run
// on the source's one worker thread.

#include <memory>

#include "absl/status/statusor.h"
#include "informers/source.h"
#include "informers/source_config.h"

namespace promconf::file {

// InvalidArgument when `config.paths` is empty or holds an empty path.
// Relative paths are taken relative to the current directory.
absl::StatusOr<std::unique_ptr<Source>> NewFileSource(const SourceContext& context,
                                                      const FileSourceConfig& config);

}  // namespace promconf::file
