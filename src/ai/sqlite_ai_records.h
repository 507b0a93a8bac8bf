// AiRecords in an SQLite database of its own (<data_dir>/ai.sqlite), WAL with full fsync.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "ai/ai_records.h"

namespace strata::ai {

struct SqliteAiRecordsOptions {
  // Unix time in ms for registration times; empty: the system clock.
  std::function<int64_t()> now_ms;
};

// Opens (creating if needed) the database at `path`. kInvalidArgument for a file that is not
// an AI records database or has a newer schema; kUnavailable when it cannot be opened.
Result<std::unique_ptr<AiRecords>> OpenSqliteAiRecords(const std::string& path,
                                                       SqliteAiRecordsOptions options = {});

}  // namespace strata::ai
